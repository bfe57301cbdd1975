"""Per-resident settings: risk tiers, clinician overrides with an audit trail, applied live."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from analytics import (
    TIER_PARAMETERS,
    AnalyticsService,
    clear_detector_override,
    detector_override_audit,
    detector_overrides,
    detectors_for,
    resolve_parameters,
    set_detector_override,
    validate_parameter,
)
from eldercare.registry import Bedside, register_bedside, register_site
from eldercare.settings import Settings
from tests.analytics.support import poll_until_caught_up

WHEN = datetime(2026, 11, 24, 9, tzinfo=UTC)


def _by_name(tier: str, overrides: dict[str, float] | None = None) -> dict[str, object]:
    return {d.name: d for d in detectors_for(tier, overrides)}


def test_medium_is_the_default_and_high_tightens_durations_only() -> None:
    medium, high = _by_name("medium"), _by_name("high")
    assert medium["heart_rate_sustained"].min_duration_s == 60.0  # type: ignore[attr-defined]
    assert high["heart_rate_sustained"].min_duration_s == 60.0  # type: ignore[attr-defined]
    assert high["spo2_sustained"].min_duration_s == 30.0  # type: ignore[attr-defined]
    assert high["heart_rate_sustained"].high_bpm == 131.0  # type: ignore[attr-defined]
    for key, value in TIER_PARAMETERS["high"].items():
        detector, _, name = key.partition(".")
        default = getattr(medium[detector], name)
        assert value <= default, key  # never looser than medium


def test_tier_holds_are_ordered_high_medium_low() -> None:
    tiers = {tier: _by_name(tier) for tier in ("low", "medium", "high")}
    for detector in ("heart_rate_sustained", "respiration_rate_sustained", "spo2_sustained"):
        low, medium, high = (
            tiers[t][detector].min_duration_s  # type: ignore[attr-defined]
            for t in ("low", "medium", "high")
        )
        assert high <= medium < low, detector


def test_overrides_win_over_the_tier_and_are_validated() -> None:
    assert (
        resolve_parameters("high", {"heart_rate_sustained.min_duration_s": 90.0})[
            "heart_rate_sustained.min_duration_s"
        ]
        == 90.0
    )
    tuned = _by_name("low", {"night_bed_exit.max_out_s": 300.0})
    assert tuned["night_bed_exit"].max_out_s == 300.0  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="not in"):
        validate_parameter("heart_rate_sustained.high_bpm", 400.0)
    with pytest.raises(ValueError, match="unknown detector"):
        validate_parameter("nope.x", 1.0)
    with pytest.raises(ValueError, match="no parameter"):
        validate_parameter("heart_rate_sustained.nope", 1.0)
    with pytest.raises(ValueError, match="unknown risk tier"):
        detectors_for("extreme")


def _resident(conn: psycopg.Connection, *, tier: str = "medium") -> None:
    register_site(conn, site_id="p-home", name="P", tier="care_home")
    register_bedside(
        conn,
        Bedside(
            site_id="p-home",
            resident_id="r1",
            display_name="R1",
            bed_id="b1",
            device_id="mat-1",
            device_model="smart_mattress",
            risk_tier=tier,
        ),
        since=WHEN - timedelta(days=1),
    )


def test_override_is_audited_on_set_change_and_clear(conn: psycopg.Connection) -> None:
    _resident(conn)
    key = "night_bed_exit.max_out_s"
    set_detector_override(
        conn,
        resident_id="r1",
        parameter=key,
        value=600.0,
        clinician="dr-li",
        reason="falls history",
        at=WHEN,
    )
    set_detector_override(
        conn,
        resident_id="r1",
        parameter=key,
        value=300.0,
        clinician="dr-li",
        reason="fell last week",
        at=WHEN + timedelta(days=1),
    )
    (current,) = detector_overrides(conn, resident_id="r1")
    assert (current.value, current.set_by, current.reason) == (300.0, "dr-li", "fell last week")
    assert clear_detector_override(
        conn,
        resident_id="r1",
        parameter=key,
        clinician="nurse-wang",
        reason="review",
        at=WHEN + timedelta(days=2),
    )
    assert detector_overrides(conn, resident_id="r1") == []
    audit = detector_override_audit(conn, resident_id="r1")
    assert [(a["action"], a["old_value"], a["new_value"], a["changed_by"]) for a in audit] == [
        ("set", None, 600.0, "dr-li"),
        ("set", 600.0, 300.0, "dr-li"),
        ("clear", 300.0, None, "nurse-wang"),
    ]


def test_invalid_override_is_refused_and_leaves_no_trace(conn: psycopg.Connection) -> None:
    _resident(conn)
    with pytest.raises(ValueError):
        set_detector_override(
            conn,
            resident_id="r1",
            parameter="heart_rate_sustained.high_bpm",
            value=90.0,
            clinician="dr-li",
            reason="x",
            at=WHEN,
        )
    with pytest.raises(ValueError, match="clinician and a reason"):
        set_detector_override(
            conn,
            resident_id="r1",
            parameter="heart_rate_sustained.high_bpm",
            value=140.0,
            clinician="dr-li",
            reason=" ",
            at=WHEN,
        )
    assert detector_override_audit(conn, resident_id="r1") == []


def _insert_heart_rate(conn: psycopg.Connection, bpm: float, seconds: int) -> None:
    with conn.transaction():
        conn.cursor().executemany(
            "INSERT INTO readings (ts, device_id, metric, value, received_at)"
            " VALUES (%s, 'mat-1', 'heart_rate', %s, %s)",
            [(WHEN + timedelta(seconds=s), bpm, WHEN) for s in range(seconds)],
        )


def test_service_applies_tier_and_overrides(settings: Settings, conn: psycopg.Connection) -> None:
    _resident(conn, tier="high")
    set_detector_override(
        conn,
        resident_id="r1",
        parameter="heart_rate_sustained.min_duration_s",
        value=30.0,
        clinician="dr-li",
        reason="post-op",
        at=WHEN,
    )
    _insert_heart_rate(conn, 140.0, 100)
    service = AnalyticsService(settings, reorder_s=0, profile_refresh_s=0)
    with psycopg.connect(settings.database.url or "") as reader:  # type: ignore[arg-type]
        findings = poll_until_caught_up(service, reader) + service.flush(reader)
    (tachycardia,) = [f for f in findings if f.kind == "tachycardia"]
    assert tachycardia.detected_at == WHEN + timedelta(seconds=30)


def test_consult_advice_applies_and_a_clinician_override_wins(
    settings: Settings, conn: psycopg.Connection
) -> None:
    """Consults store advice in `resident_thresholds` (time-bounded); the service applies the
    advice in force, and an analytics override of the same parameter takes precedence."""
    _resident(conn)
    advice = (
        "INSERT INTO resident_thresholds (resident_id, parameter, value, valid_from, valid_until,"
        " source) VALUES ('r1', %s, %s, now() - interval '1 day', NULL, 'consult')"
    )
    conn.execute(advice, ("heart_rate_sustained.min_duration_s", 20.0))
    conn.execute(advice, ("heart_rate_sustained.high_bpm", 999.0))  # out of range: ignored
    _insert_heart_rate(conn, 140.0, 100)
    service = AnalyticsService(settings, reorder_s=0, profile_refresh_s=0)
    with psycopg.connect(settings.database.url or "") as reader:  # type: ignore[arg-type]
        findings = poll_until_caught_up(service, reader) + service.flush(reader)
    (tachycardia,) = [f for f in findings if f.kind == "tachycardia"]
    assert tachycardia.detected_at == WHEN + timedelta(seconds=20)

    set_detector_override(
        conn,
        resident_id="r1",
        parameter="heart_rate_sustained.min_duration_s",
        value=45.0,
        clinician="dr-li",
        reason="fewer pages",
        at=WHEN,
    )
    conn.execute("DELETE FROM readings")
    later = WHEN + timedelta(hours=1)
    with conn.transaction():
        conn.cursor().executemany(
            "INSERT INTO readings (ts, device_id, metric, value, received_at)"
            " VALUES (%s, 'mat-1', 'heart_rate', 140, %s)",
            [(later + timedelta(seconds=s), later) for s in range(100)],
        )
    with psycopg.connect(settings.database.url or "") as reader:  # type: ignore[arg-type]
        findings = poll_until_caught_up(service, reader) + service.flush(reader)
    (tachycardia,) = [f for f in findings if f.kind == "tachycardia"]
    assert tachycardia.detected_at == later + timedelta(seconds=45)
