"""Pure escalation: policies, their choice, the on-call rota and the per-alert state machine.

Time is always passed in (`at`, `now`); nothing here reads a clock, so tests drive it with a fake.

An alert opens at level 0 and pages the first step's role. While it stays *open* (not
acknowledged, not resolved) the current role is reminded every `reminder_every`, and after the
next step's `after` delay the alert escalates to that step's role. At the last step reminders go
on until someone answers. Acknowledging or resolving stops everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from alerts._lifecycle import AlertState
from analytics import Channel, Severity


class HandOff(StrEnum):
    """What a policy asks the consults stage to do with an alert (consults owns the workflow)."""

    NONE = "none"
    PROPOSE_CONSULT = "propose_consult"
    OPEN_CONSULT = "open_consult"
    PROPOSE_REFERRAL = "propose_referral"
    OPEN_GREEN_CHANNEL = "open_green_channel"


class RiskTier(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class ActionKind(StrEnum):
    PAGE = "page"  # the first step, when the alert opens
    REMIND = "reminder"
    ESCALATE = "escalated"


@dataclass(frozen=True, slots=True, kw_only=True)
class EscalationStep:
    role: str
    after: timedelta  # how long the previous step waits unanswered before this one; 0 for the first


@dataclass(frozen=True, slots=True, kw_only=True)
class EscalationPolicy:
    name: str
    steps: tuple[EscalationStep, ...]
    reminder_every: timedelta
    channel: Channel = Channel.CLINICAL
    risk_tiers: frozenset[RiskTier] = frozenset(RiskTier)
    min_severity: Severity = Severity.LOW
    hand_off: HandOff = HandOff.NONE
    priority: int = 0

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError(f"policy {self.name!r} has no steps")
        if self.reminder_every <= timedelta(0):
            raise ValueError(f"policy {self.name!r}: reminder_every must be positive")
        if any(step.after < timedelta(0) for step in self.steps):
            raise ValueError(f"policy {self.name!r}: step delays cannot be negative")

    def matches(self, *, channel: Channel, risk_tier: RiskTier, severity: Severity) -> bool:
        return (
            self.channel is channel
            and risk_tier in self.risk_tiers
            and severity.rank >= self.min_severity.rank
        )


_MIN = timedelta(minutes=1)
_CLINICAL_CHAIN = ("nurse_on_duty", "charge_nurse", "on_call_doctor", "alliance_hospital")


def _chain(*delays_min: float) -> tuple[EscalationStep, ...]:
    return tuple(
        EscalationStep(role=role, after=delay * _MIN)
        for role, delay in zip(_CLINICAL_CHAIN, delays_min, strict=False)
    )


# Built-in defaults for sites without their own rows in `escalation_policies`. The delays are
# operational defaults for a site to tune, not clinical thresholds; their ordering follows NEWS2's
# graded response (Royal College of Physicians, NEWS2, 2017: low → ward-based response, medium →
# urgent response by a clinician with acute-illness competences, high → emergency response), and
# a high-risk resident (the seeds' key-population tiering) gets the tighter chain one band earlier.
DEFAULT_POLICIES: tuple[EscalationPolicy, ...] = (
    EscalationPolicy(
        name="data-quality",
        channel=Channel.DATA_QUALITY,
        steps=(EscalationStep(role="technician", after=timedelta(0)),),
        reminder_every=30 * _MIN,
    ),
    EscalationPolicy(
        name="routine",
        steps=_chain(0, 15, 30),
        reminder_every=10 * _MIN,
    ),
    EscalationPolicy(
        name="urgent",
        steps=_chain(0, 5, 10, 20),
        reminder_every=3 * _MIN,
        min_severity=Severity.HIGH,
        hand_off=HandOff.PROPOSE_CONSULT,
        priority=10,
    ),
    EscalationPolicy(
        name="urgent-high-risk",
        steps=_chain(0, 5, 10, 20),
        reminder_every=3 * _MIN,
        risk_tiers=frozenset({RiskTier.HIGH}),
        min_severity=Severity.MEDIUM,
        hand_off=HandOff.PROPOSE_CONSULT,
        priority=10,
    ),
    EscalationPolicy(
        name="emergency",
        steps=_chain(0, 2, 5, 10),
        reminder_every=1 * _MIN,
        min_severity=Severity.CRITICAL,
        hand_off=HandOff.OPEN_CONSULT,
        priority=20,
    ),
    EscalationPolicy(
        name="emergency-high-risk",
        steps=_chain(0, 2, 5, 10),
        reminder_every=1 * _MIN,
        risk_tiers=frozenset({RiskTier.HIGH}),
        min_severity=Severity.CRITICAL,
        hand_off=HandOff.OPEN_GREEN_CHANNEL,
        priority=30,
    ),
)


def choose_policy(
    policies: Iterable[EscalationPolicy],
    *,
    channel: Channel,
    risk_tier: RiskTier,
    severity: Severity,
) -> EscalationPolicy:
    """The matching policy with the highest priority (then the strictest severity floor).

    A data-quality alert only ever matches data-quality policies, so it never reaches a clinician.
    Falls back to the built-in defaults when the site's own policies do not cover the case."""
    for pool in (tuple(policies), DEFAULT_POLICIES):
        matching = [
            p for p in pool if p.matches(channel=channel, risk_tier=risk_tier, severity=severity)
        ]
        if matching:
            return max(matching, key=lambda p: (p.priority, p.min_severity.rank))
    raise LookupError(f"no escalation policy for {channel}/{risk_tier}/{severity}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Shift:
    """One row of the on-call rota: `staff_id` holds `role` from `starts_at` until `ends_at`."""

    role: str
    staff_id: str
    starts_at: datetime
    ends_at: datetime


def on_call(rota: Iterable[Shift], *, role: str, at: datetime) -> tuple[str, ...]:
    """Who holds `role` at `at` (overlapping shifts during a hand-over give both), sorted."""
    return tuple(
        sorted({s.staff_id for s in rota if s.role == role and s.starts_at <= at < s.ends_at})
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class EscalationState:
    level: int
    level_started_at: datetime
    reminders: int  # sent at the current level
    next_at: datetime | None  # None: nothing more will happen (answered, or nothing scheduled)


@dataclass(frozen=True, slots=True, kw_only=True)
class EscalationAction:
    kind: ActionKind
    level: int
    role: str
    at: datetime  # when it was due (not when it was noticed)


def start_escalation(
    policy: EscalationPolicy, *, at: datetime
) -> tuple[EscalationState, EscalationAction]:
    """A new alert: level 0, page the first role now."""
    state = EscalationState(level=0, level_started_at=at, reminders=0, next_at=None)
    state = replace(state, next_at=_next_due(policy, state))
    return state, EscalationAction(kind=ActionKind.PAGE, level=0, role=policy.steps[0].role, at=at)


def _next_due(policy: EscalationPolicy, state: EscalationState) -> datetime:
    reminder = state.level_started_at + (state.reminders + 1) * policy.reminder_every
    if state.level + 1 < len(policy.steps):
        escalation = state.level_started_at + policy.steps[state.level + 1].after
        return min(reminder, escalation)
    return reminder


def advance_escalation(
    state: EscalationState,
    policy: EscalationPolicy,
    *,
    alert_state: AlertState,
    now: datetime,
    max_actions: int = 20,
) -> tuple[EscalationState, list[EscalationAction]]:
    """Everything due up to `now`, in order. Stops (next_at=None) once the alert is answered.

    After a long outage only the latest `max_actions` are returned, so a restart does not flood
    recipients with stale reminders; the state still ends where it should be at `now`."""
    if alert_state is not AlertState.OPEN:
        return replace(state, next_at=None), []
    actions: list[EscalationAction] = []
    while state.next_at is not None and state.next_at <= now:
        due = state.next_at
        is_escalation = (
            state.level + 1 < len(policy.steps)
            and state.level_started_at + policy.steps[state.level + 1].after <= due
        )
        if is_escalation:
            level = state.level + 1
            state = replace(state, level=level, level_started_at=due, reminders=0)
            actions.append(
                EscalationAction(
                    kind=ActionKind.ESCALATE, level=level, role=policy.steps[level].role, at=due
                )
            )
        else:
            state = replace(state, reminders=state.reminders + 1)
            actions.append(
                EscalationAction(
                    kind=ActionKind.REMIND,
                    level=state.level,
                    role=policy.steps[state.level].role,
                    at=due,
                )
            )
        state = replace(state, next_at=_next_due(policy, state))
    return state, actions[-max_actions:]


def escalate_now(
    state: EscalationState, policy: EscalationPolicy, *, at: datetime
) -> tuple[EscalationState, EscalationAction]:
    """A staff member escalates by hand to the next step (stays at the last step if there)."""
    level = min(state.level + 1, len(policy.steps) - 1)
    state = replace(state, level=level, level_started_at=at, reminders=0, next_at=None)
    state = replace(state, next_at=_next_due(policy, state))
    return state, EscalationAction(
        kind=ActionKind.ESCALATE, level=level, role=policy.steps[level].role, at=at
    )


def policies_by_name(policies: Sequence[EscalationPolicy]) -> dict[str, EscalationPolicy]:
    """The defaults overlaid with a site's own policies (a site's policy wins on a name clash)."""
    return {p.name: p for p in (*DEFAULT_POLICIES, *policies)}


def switch_policy(state: EscalationState, policy: EscalationPolicy) -> EscalationState:
    """Keep the level reached (within the new chain) and reschedule under `policy`; used when a
    worse finding moves an unanswered alert to a stricter policy."""
    level = min(state.level, len(policy.steps) - 1)
    state = replace(state, level=level)
    return replace(state, next_at=_next_due(policy, state))
