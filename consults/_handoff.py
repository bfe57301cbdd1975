"""Acting on the hand-offs alert escalation policies ask for (issue 6's hand-off to consults).

An alerts policy carries a `hand_off` (`propose_consult`, `open_consult`, `propose_referral`,
`open_green_channel`) in every event it writes to the alert outbox. The consults worker acts on
each (alert, hand-off) once: a proposal becomes a draft consult or referral that staff send or
cancel; an "open" one is sent at once. The consult keeps its `alert_id` and the referral its
`referral_alert_links` row, and `alert_hand_offs` records the outcome, so the link is kept both
ways. Data-quality alerts never hand off to clinicians.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import psycopg

from consults._consults import request_consult
from consults._deadlines import ConsultUrgency
from consults._errors import ConsultsError
from consults._network import ReferralPriority
from consults._referrals import request_referral

HAND_OFF_ACTOR = "policy:alert-hand-off"


class HandOff(StrEnum):
    """The values alert policies write (alerts' `HandOff`, less `none`)."""

    PROPOSE_CONSULT = "propose_consult"
    OPEN_CONSULT = "open_consult"
    PROPOSE_REFERRAL = "propose_referral"
    OPEN_GREEN_CHANNEL = "open_green_channel"


@dataclass(frozen=True, slots=True, kw_only=True)
class HandOffOutcome:
    alert_id: int
    hand_off: HandOff
    outcome: str
    consult_id: int | None = None
    referral_id: int | None = None


# Oldest first; each (alert, hand-off) once. Clinical alerts only.
_PENDING = """
SELECT DISTINCT ON (e.alert_id, e.payload->>'hand_off')
       e.alert_id, e.payload->>'hand_off', a.resident_id, a.kind, a.severity
FROM alert_events e JOIN alerts a USING (alert_id)
WHERE e.payload->>'hand_off' = ANY(%(kinds)s) AND a.channel = 'clinical'
  AND NOT EXISTS (SELECT 1 FROM alert_hand_offs h
                  WHERE h.alert_id = e.alert_id AND h.hand_off = e.payload->>'hand_off')
ORDER BY e.alert_id, e.payload->>'hand_off', e.seq
LIMIT %(limit)s
"""
_CLAIM = """
INSERT INTO alert_hand_offs (alert_id, hand_off, outcome, decided_at)
VALUES (%s, %s, 'claimed', %s) ON CONFLICT DO NOTHING RETURNING alert_id
"""
_RECORD = """
UPDATE alert_hand_offs SET outcome = %s, consult_id = %s, referral_id = %s
WHERE alert_id = %s AND hand_off = %s
"""


def apply_alert_hand_offs(
    conn: psycopg.Connection, *, now: datetime, limit: int = 100
) -> list[HandOffOutcome]:
    """Act once on every pending hand-off; several workers may run this together."""
    pending = conn.execute(_PENDING, {"kinds": [str(h) for h in HandOff], "limit": limit})
    outcomes = []
    for alert_id, hand_off, resident_id, kind, severity in pending.fetchall():
        wanted = HandOff(hand_off)
        with conn.transaction():
            if conn.execute(_CLAIM, (alert_id, wanted, now)).fetchone() is None:
                continue  # another worker took it
            try:
                with conn.transaction():
                    outcome = _act(conn, wanted, alert_id, resident_id, kind, severity, now)
            except ConsultsError as exc:
                outcome = HandOffOutcome(
                    alert_id=alert_id, hand_off=wanted, outcome=f"not possible: {exc}"
                )
            conn.execute(
                _RECORD,
                (outcome.outcome, outcome.consult_id, outcome.referral_id, alert_id, wanted),
            )
        outcomes.append(outcome)
    return outcomes


def _act(
    conn: psycopg.Connection,
    wanted: HandOff,
    alert_id: int,
    resident_id: str,
    kind: str,
    severity: str,
    now: datetime,
) -> HandOffOutcome:
    reason = f"{severity} {kind} alert {alert_id}: escalation policy asks to {wanted}"
    if wanted in (HandOff.PROPOSE_CONSULT, HandOff.OPEN_CONSULT):
        draft = wanted is HandOff.PROPOSE_CONSULT
        consult = request_consult(
            conn,
            resident_id=resident_id,
            question=f"Advice on {reason}.",
            urgency=ConsultUrgency.URGENT,
            requested_by=HAND_OFF_ACTOR,
            now=now,
            alert_id=alert_id,
            draft=draft,
        )
        return HandOffOutcome(
            alert_id=alert_id,
            hand_off=wanted,
            outcome="consult proposed" if draft else "consult requested",
            consult_id=consult.consult_id,
        )
    linked = conn.execute(
        "SELECT min(referral_id) FROM referral_alert_links WHERE alert_id = %s", (alert_id,)
    ).fetchone()
    if linked is not None and linked[0] is not None:
        # The green-channel policy (or staff) already referred this alert: never twice.
        return HandOffOutcome(
            alert_id=alert_id,
            hand_off=wanted,
            outcome="already referred",
            referral_id=linked[0],
        )
    draft = wanted is HandOff.PROPOSE_REFERRAL
    referral = request_referral(
        conn,
        resident_id=resident_id,
        priority=ReferralPriority.URGENT if draft else ReferralPriority.GREEN_CHANNEL,
        reason=reason,
        requested_by=HAND_OFF_ACTOR,
        now=now,
        alert_ids=[alert_id],
        draft=draft,
        proposed_by_policy=True,
    )
    return HandOffOutcome(
        alert_id=alert_id,
        hand_off=wanted,
        outcome="referral proposed" if draft else "green channel opened",
        referral_id=referral.referral_id,
    )
