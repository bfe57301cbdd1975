-- What the consults stage did with each hand-off an alert escalation policy asked for (issue 6:
-- propose or open a consult, propose a referral, open the green channel). One row per alert and
-- hand-off: the claim that makes the worker act once, and the alert -> consult/referral link.

CREATE TABLE alert_hand_offs (
    alert_id     bigint      NOT NULL REFERENCES alerts,
    hand_off     text        NOT NULL CHECK (hand_off IN ('propose_consult', 'open_consult',
                                                          'propose_referral',
                                                          'open_green_channel')),
    consult_id   bigint      REFERENCES consults,
    referral_id  bigint      REFERENCES referrals,
    outcome      text        NOT NULL,
    decided_at   timestamptz NOT NULL,
    PRIMARY KEY (alert_id, hand_off)
);

CREATE INDEX consults_alert_idx ON consults (alert_id) WHERE alert_id IS NOT NULL;
