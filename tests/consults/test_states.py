"""The FHIR Task state machine: legal paths, refused moves with a clear error."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consults import TRANSITIONS, IllegalTransition, TaskStatus, allowed_moves, transition

T = datetime(2026, 11, 24, tzinfo=UTC)


def move(current: TaskStatus, target: TaskStatus, actor: str = "dr-chen"):
    return transition(
        entity="referral", entity_id="7", current=current, target=target, actor=actor, at=T
    )


@pytest.mark.parametrize(
    "path",
    [
        ["requested", "accepted", "in-progress", "completed"],
        ["requested", "rejected"],
        ["requested", "cancelled"],
        ["requested", "accepted", "cancelled"],
        ["requested", "accepted", "in-progress", "cancelled"],
        ["draft", "requested", "accepted"],
        ["draft", "cancelled"],
    ],
)
def test_fhir_task_paths_are_allowed(path: list[str]) -> None:
    for current, target in zip(path, path[1:], strict=False):
        done = move(TaskStatus(current), TaskStatus(target))
        assert (done.from_status, done.to_status, done.actor, done.at) == (
            current,
            target,
            "dr-chen",
            T,
        )


def test_illegal_move_names_current_state_and_allowed_moves() -> None:
    with pytest.raises(IllegalTransition) as caught:
        move(TaskStatus.REQUESTED, TaskStatus.COMPLETED)
    message = str(caught.value)
    assert "referral 7 is 'requested'" in message
    assert "cannot move to 'completed'" in message
    assert "accepted, cancelled, rejected" in message
    assert caught.value.allowed == ("accepted", "cancelled", "rejected")


@pytest.mark.parametrize("final", ["completed", "rejected", "cancelled"])
def test_final_states_allow_nothing(final: str) -> None:
    assert allowed_moves(TaskStatus(final)) == frozenset()
    assert TaskStatus(final).is_final
    with pytest.raises(IllegalTransition, match="none \\(final state\\)"):
        move(TaskStatus(final), TaskStatus.IN_PROGRESS)


def test_a_transition_needs_an_actor() -> None:
    with pytest.raises(ValueError, match="actor"):
        move(TaskStatus.REQUESTED, TaskStatus.ACCEPTED, actor=" ")


@given(st.sampled_from(TaskStatus), st.sampled_from(TaskStatus))
def test_every_pair_is_either_in_the_table_or_refused(
    current: TaskStatus, target: TaskStatus
) -> None:
    if target in TRANSITIONS[current]:
        assert move(current, target).to_status is target
    else:
        with pytest.raises(IllegalTransition):
            move(current, target)
