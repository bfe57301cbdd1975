"""The FHIR `Task` state machine shared by consults and referrals: pure, clock-free."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from consults._errors import IllegalTransition


class TaskStatus(StrEnum):
    """FHIR R4 Task.status codes (hl7.org/fhir/R4/valueset-task-status.html) that we use.

    `draft` is a green-channel referral proposed by policy and waiting for staff to send it.
    """

    DRAFT = "draft"
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset({TaskStatus.REJECTED, TaskStatus.COMPLETED, TaskStatus.CANCELLED})

# requested -> accepted/rejected -> in-progress -> completed; anything open may be cancelled.
TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.DRAFT: frozenset({TaskStatus.REQUESTED, TaskStatus.CANCELLED}),
    TaskStatus.REQUESTED: frozenset(
        {TaskStatus.ACCEPTED, TaskStatus.REJECTED, TaskStatus.CANCELLED}
    ),
    TaskStatus.ACCEPTED: frozenset({TaskStatus.IN_PROGRESS, TaskStatus.CANCELLED}),
    TaskStatus.IN_PROGRESS: frozenset({TaskStatus.COMPLETED, TaskStatus.CANCELLED}),
    TaskStatus.REJECTED: frozenset(),
    TaskStatus.COMPLETED: frozenset(),
    TaskStatus.CANCELLED: frozenset(),
}


def allowed_moves(status: TaskStatus) -> frozenset[TaskStatus]:
    return TRANSITIONS[status]


@dataclass(frozen=True, slots=True, kw_only=True)
class Transition:
    """One audited status change: who moved what from where to where, when and why."""

    entity: str
    entity_id: str
    from_status: TaskStatus
    to_status: TaskStatus
    actor: str
    at: datetime
    reason: str | None = None


def transition(
    *,
    entity: str,
    entity_id: str,
    current: TaskStatus,
    target: TaskStatus,
    actor: str,
    at: datetime,
    reason: str | None = None,
) -> Transition:
    """The audited move `current` → `target`, or `IllegalTransition` naming the allowed moves."""
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(
            entity=entity,
            entity_id=entity_id,
            current=current,
            target=target,
            allowed=tuple(sorted(TRANSITIONS[current])),
        )
    if not actor.strip():
        raise ValueError("a transition needs an actor for the audit trail")
    return Transition(
        entity=entity,
        entity_id=entity_id,
        from_status=current,
        to_status=target,
        actor=actor,
        at=at,
        reason=reason,
    )
