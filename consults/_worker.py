"""The consults worker: green-channel policy over critical alerts, acceptance-deadline escalation,
temporary risk tiers and the follow-up schedule. `eldercare consults` runs it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from consults._errors import ConsultsError
from consults._followup import ensure_follow_ups, expire_risk_tiers
from consults._handoff import HandOffOutcome, apply_alert_hand_offs
from consults._network import ReferralPriority
from consults._policy import AlertFacts, GreenChannelPolicy, PolicyDecision, decide
from consults._referrals import Escalation, escalate_overdue, request_referral
from consults._risk import RiskTier
from eldercare.db import connect
from eldercare.errors import StorageError
from eldercare.settings import Settings

log = logging.getLogger(__name__)

WORKER_ACTOR = "consults-worker"
POLICY_ACTOR = "policy:green-channel"

# Works whatever the alerts stage adds around its table: unresolved critical alerts on which the
# policy has not decided yet and that no referral links to already.
_CANDIDATES = """
SELECT a.alert_id, a.resident_id, a.kind, a.channel, a.severity, r.risk_tier
FROM alerts a JOIN residents r USING (resident_id)
WHERE a.severity = 'critical' AND a.state <> 'resolved'
  AND NOT EXISTS (SELECT 1 FROM consult_policy_decisions d WHERE d.alert_id = a.alert_id)
  AND NOT EXISTS (SELECT 1 FROM referral_alert_links l WHERE l.alert_id = a.alert_id)
ORDER BY a.alert_id
LIMIT %s
"""
# Claiming the decision row first keeps two workers from deciding on one alert, without locking
# the alerts rows the alerts worker updates.
_CLAIM = """
INSERT INTO consult_policy_decisions (alert_id, decision, reason, decided_at)
VALUES (%s, %s, %s, %s) ON CONFLICT (alert_id) DO NOTHING RETURNING alert_id
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyOutcome:
    alert_id: int
    decision: PolicyDecision
    reason: str
    referral_id: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TickResult:
    hand_offs: tuple[HandOffOutcome, ...]
    policy: tuple[PolicyOutcome, ...]
    escalations: tuple[Escalation, ...]
    risk_tiers_expired: int
    follow_ups_created: int


def apply_green_channel_policy(
    conn: psycopg.Connection,
    *,
    now: datetime,
    policy: GreenChannelPolicy | None = None,
    limit: int = 100,
) -> list[PolicyOutcome]:
    """Decide once on each critical alert: propose (draft) or open a green-channel referral
    linked to the alert, or record why not."""
    policy = policy or GreenChannelPolicy()
    outcomes = []
    for alert_id, resident_id, kind, channel, severity, tier in conn.execute(
        _CANDIDATES, (limit,)
    ).fetchall():
        facts = AlertFacts(
            alert_id=alert_id,
            kind=kind,
            channel=channel,
            severity=severity,
            risk_tier=RiskTier(tier),
        )
        decision, reason = decide(policy, facts)
        with conn.transaction():
            if conn.execute(_CLAIM, (alert_id, decision, reason, now)).fetchone() is None:
                continue  # another worker decided
            referral_id = None
            if decision is not PolicyDecision.NONE:
                try:
                    with conn.transaction():
                        referral = request_referral(
                            conn,
                            resident_id=resident_id,
                            priority=ReferralPriority.GREEN_CHANNEL,
                            reason=f"critical {kind} alert {alert_id}: {reason}",
                            requested_by=POLICY_ACTOR,
                            now=now,
                            alert_ids=[alert_id],
                            draft=decision is PolicyDecision.PROPOSE,
                            proposed_by_policy=True,
                        )
                    referral_id = referral.referral_id
                except ConsultsError as exc:
                    decision, reason = PolicyDecision.NONE, f"no referral possible: {exc}"
            conn.execute(
                "UPDATE consult_policy_decisions SET decision = %s, reason = %s,"
                " referral_id = %s WHERE alert_id = %s",
                (decision, reason, referral_id, alert_id),
            )
        outcomes.append(
            PolicyOutcome(
                alert_id=alert_id, decision=decision, reason=reason, referral_id=referral_id
            )
        )
    return outcomes


def run_once(
    conn: psycopg.Connection,
    *,
    now: datetime,
    policy: GreenChannelPolicy | None = None,
    follow_ups: bool = True,
) -> TickResult:
    """One pass of every duty, in the order that matters: what alert policies asked for first
    (their referral then stands, and the green-channel policy does not add a second), then new
    critical alerts."""
    hand_offs = apply_alert_hand_offs(conn, now=now)
    outcomes = apply_green_channel_policy(conn, now=now, policy=policy)
    escalations = escalate_overdue(conn, now=now, actor=WORKER_ACTOR)
    expired = expire_risk_tiers(conn, now=now, actor=WORKER_ACTOR)
    created = ensure_follow_ups(conn, now=now, actor=WORKER_ACTOR) if follow_ups else 0
    return TickResult(
        hand_offs=tuple(hand_offs),
        policy=tuple(outcomes),
        escalations=tuple(escalations),
        risk_tiers_expired=len(expired),
        follow_ups_created=created,
    )


class ConsultsWorker:
    """Runs `run_once` every `poll_interval_s` (follow-ups every `follow_up_interval_s`)."""

    def __init__(
        self,
        settings: Settings,
        *,
        policy: GreenChannelPolicy | None = None,
        poll_interval_s: float = 1.0,
        follow_up_interval_s: float = 60.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._policy = policy or GreenChannelPolicy()
        self._poll_interval_s = poll_interval_s
        self._follow_up_interval_s = follow_up_interval_s
        self._clock = clock

    def run(self, stop: threading.Event) -> None:
        url = self._settings.database.url
        if url is None:
            raise StorageError("no database URL configured")
        conn: psycopg.Connection | None = None
        last_follow_up: datetime | None = None
        while not stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = connect(url, autocommit=True)
                now = self._clock()
                due = (
                    last_follow_up is None
                    or (now - last_follow_up).total_seconds() >= self._follow_up_interval_s
                )
                result = run_once(conn, now=now, policy=self._policy, follow_ups=due)
                if due:
                    last_follow_up = now
                for outcome in result.policy:
                    log.info(
                        "alert %s: %s (%s)", outcome.alert_id, outcome.decision, outcome.reason
                    )
                for esc in result.escalations:
                    log.warning(
                        "referral %s missed its acceptance deadline at %s; now with %s",
                        esc.referral_id,
                        esc.from_site_id,
                        esc.to_site_id or "the alliance's on-call coordinator",
                    )
            except (psycopg.Error, StorageError) as exc:
                # A lost connection or a refused statement (deadlock, serialization) is retried
                # on a fresh connection; the next pass sees the same pending work.
                log.warning("consults worker failed, retrying: %s", exc)
                if conn is not None:
                    conn.close()
                conn = None
            stop.wait(self._poll_interval_s)
        if conn is not None:
            conn.close()
