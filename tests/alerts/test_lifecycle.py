"""`alerts.apply_finding`: a finding opens an alert or updates the unresolved one."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from alerts import Alert, AlertState, AlertStateError, acknowledge, apply_finding, resolve
from analytics import Channel, Finding, Severity

T0 = datetime(2026, 11, 24, 2, 0, 0, tzinfo=UTC)


def finding(
    *,
    started: int = 0,
    detected: int = 120,
    severity: Severity = Severity.HIGH,
    kind: str = "tachycardia",
) -> Finding:
    return Finding(
        resident_id="r1",
        device_id="mat-1",
        kind=kind,
        severity=severity,
        channel=Channel.CLINICAL,
        started_at=T0 + timedelta(seconds=started),
        detected_at=T0 + timedelta(seconds=detected),
        detector="heart_rate_sustained",
        detector_version="1",
    )


def stored(alert: Alert, *, alert_id: int = 7, state: AlertState = AlertState.OPEN) -> Alert:
    return replace(alert, alert_id=alert_id, state=state)


def test_first_finding_opens_a_new_alert() -> None:
    alert = apply_finding(None, finding(started=10, detected=130))

    assert alert == Alert(
        alert_id=None,
        resident_id="r1",
        kind="tachycardia",
        channel=Channel.CLINICAL,
        severity=Severity.HIGH,
        state=AlertState.OPEN,
        started_at=T0 + timedelta(seconds=10),
        detected_at=T0 + timedelta(seconds=130),
        last_seen_at=T0 + timedelta(seconds=130),
        finding_count=1,
    )


def test_repeat_on_open_alert_updates_count_last_seen_and_keeps_id() -> None:
    current = stored(apply_finding(None, finding(started=10, detected=130)))

    updated = apply_finding(current, finding(started=400, detected=520))

    assert updated.alert_id == 7
    assert updated.state is AlertState.OPEN
    assert updated.finding_count == 2
    assert updated.last_seen_at == T0 + timedelta(seconds=520)
    assert updated.started_at == T0 + timedelta(seconds=10)
    assert updated.detected_at == T0 + timedelta(seconds=130)


def test_repeat_with_earlier_times_keeps_latest_last_seen_and_takes_earliest_start() -> None:
    current = stored(apply_finding(None, finding(started=300, detected=420)))

    updated = apply_finding(current, finding(started=100, detected=220))

    assert updated.last_seen_at == T0 + timedelta(seconds=420)
    assert updated.started_at == T0 + timedelta(seconds=100)


@pytest.mark.parametrize(
    ("first", "second", "worst"),
    [
        (Severity.MEDIUM, Severity.CRITICAL, Severity.CRITICAL),
        (Severity.CRITICAL, Severity.LOW, Severity.CRITICAL),
        (Severity.HIGH, Severity.HIGH, Severity.HIGH),
        (Severity.LOW, Severity.MEDIUM, Severity.MEDIUM),
    ],
)
def test_repeat_keeps_the_worst_severity(
    first: Severity, second: Severity, worst: Severity
) -> None:
    current = stored(apply_finding(None, finding(severity=first)))
    assert apply_finding(current, finding(severity=second, detected=200)).severity is worst


def test_repeat_on_acknowledged_alert_stays_acknowledged_and_updates() -> None:
    current = stored(apply_finding(None, finding()), state=AlertState.ACKNOWLEDGED)

    updated = apply_finding(current, finding(detected=600, severity=Severity.CRITICAL))

    assert updated.state is AlertState.ACKNOWLEDGED
    assert updated.alert_id == 7
    assert updated.finding_count == 2
    assert updated.last_seen_at == T0 + timedelta(seconds=600)
    assert updated.severity is Severity.CRITICAL


def test_finding_after_resolution_opens_a_new_alert() -> None:
    resolved = stored(
        apply_finding(None, finding(severity=Severity.CRITICAL)), state=AlertState.RESOLVED
    )
    resolved = replace(resolved, finding_count=5)

    new = apply_finding(resolved, finding(started=900, detected=1020, severity=Severity.LOW))

    assert new.alert_id is None
    assert new.state is AlertState.OPEN
    assert new.finding_count == 1
    assert new.severity is Severity.LOW
    assert new.started_at == T0 + timedelta(seconds=900)
    assert new.last_seen_at == T0 + timedelta(seconds=1020)


def test_finding_detected_before_staff_resolution_is_absorbed() -> None:
    resolved = replace(
        stored(apply_finding(None, finding())),
        state=AlertState.RESOLVED,
        resolved_at=T0 + timedelta(seconds=600),
        resolved_by="nurse-ana",
    )

    # The condition persisted: a finding detected before the resolution was still in flight.
    assert apply_finding(resolved, finding(started=300, detected=590)) is resolved
    assert apply_finding(resolved, finding(started=300, detected=600)) is resolved


def test_condition_persisting_after_staff_resolution_opens_a_linked_new_alert() -> None:
    resolved = replace(
        stored(apply_finding(None, finding()), alert_id=7),
        state=AlertState.RESOLVED,
        resolved_at=T0 + timedelta(seconds=600),
    )

    new = apply_finding(resolved, finding(started=0, detected=660))

    assert new.alert_id is None
    assert new.state is AlertState.OPEN
    assert new.previous_alert_id == 7
    assert new.finding_count == 1


def test_acknowledge_then_resolve_records_who_and_when() -> None:
    alert = stored(apply_finding(None, finding()))
    acked = acknowledge(alert, by="nurse-ana", at=T0 + timedelta(minutes=3))
    assert acked.state is AlertState.ACKNOWLEDGED
    assert (acked.acknowledged_by, acked.acknowledged_at) == (
        "nurse-ana",
        T0 + timedelta(minutes=3),
    )
    done = resolve(acked, by="dr-li", at=T0 + timedelta(minutes=9))
    assert done.state is AlertState.RESOLVED
    assert (done.resolved_by, done.acknowledged_by) == ("dr-li", "nurse-ana")


def test_an_open_alert_can_be_resolved_without_acknowledgement() -> None:
    alert = stored(apply_finding(None, finding()))
    assert resolve(alert, by="nurse-ana", at=T0).state is AlertState.RESOLVED


@pytest.mark.parametrize(
    ("state", "action"),
    [
        (AlertState.ACKNOWLEDGED, acknowledge),
        (AlertState.RESOLVED, acknowledge),
        (AlertState.RESOLVED, resolve),
    ],
)
def test_invalid_transitions_raise(state: AlertState, action: object) -> None:
    alert = stored(apply_finding(None, finding()), state=state)
    with pytest.raises(AlertStateError, match=f"it is {state}"):
        action(alert, by="x", at=T0)  # type: ignore[operator]
