"""Nightly sleep summary against a known sleep schedule, and its storage."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from analytics import (
    ResidentSample,
    SleepSummary,
    sleep_summaries,
    sleep_summary,
    summarize_night,
)
from devices import Metric, SleepState
from eldercare.registry import Bedside, register_bedside, register_site

NIGHT = date(2026, 11, 23)


def hm(h: int, m: int = 0, *, night: date = NIGHT) -> datetime:
    day = night if h >= 12 else night + timedelta(days=1)
    return datetime(day.year, day.month, day.day, h, m, tzinfo=UTC)


def schedule_night(
    night: date = NIGHT, *, resident: str = "r1", device: str = "mat-1", step_s: int = 5
) -> list[ResidentSample]:
    """In bed 21:30; asleep 22:00; bathroom 02:00-02:10; awake in bed 03:30-03:45; asleep until
    06:30; up at 07:00. Asleep: HR 58, RR 13; awake: HR 70, RR 16."""

    def at(h: int, m: int = 0) -> datetime:
        return hm(h, m, night=night)

    out_of_bed = [(at(20), at(21, 30)), (at(2), at(2, 10)), (at(7), at(10))]
    awake = [*out_of_bed, (at(21, 30), at(22)), (at(3, 30), at(3, 45)), (at(6, 30), at(7))]
    samples = []
    t = at(20)
    while t < at(10):
        in_bed = not any(a <= t < b for a, b in out_of_bed)
        asleep = not any(a <= t < b for a, b in awake)

        def add(metric: Metric, value: float, ts: datetime = t) -> None:
            samples.append(
                ResidentSample(
                    ts=ts, resident_id=resident, device_id=device, metric=metric, value=value
                )
            )

        add(Metric.BED_PRESENCE, float(in_bed))
        add(Metric.MOVEMENT, 0.02 if asleep else 0.4)
        if in_bed:
            add(Metric.HEART_RATE, 58.0 if asleep else 70.0)
            add(Metric.RESPIRATION_RATE, 13.0 if asleep else 16.0)
        if t.second == 0 or t.second == 30:
            add(Metric.SLEEP_STATE, float(SleepState.LIGHT if asleep else SleepState.AWAKE))
        t += timedelta(seconds=step_s)
    return samples


def test_summary_matches_the_known_schedule() -> None:
    summary = sleep_summary(schedule_night(), resident_id="r1", night=NIGHT)
    assert summary.bed_entry == hm(21, 30)
    assert summary.sleep_onset == hm(22)
    assert summary.wake_time == hm(6, 30)
    assert summary.final_exit == hm(7)
    assert summary.time_in_bed_s == 9.5 * 3600 - 600
    assert summary.total_sleep_s == 8.5 * 3600 - 600 - 900
    assert summary.sleep_efficiency == pytest.approx(29100 / 33600, abs=0.001)
    assert summary.sleep_latency_s == 1800
    assert summary.awakenings == 2
    assert summary.bed_exits == 1
    assert summary.hr_asleep_mean == 58.0 and summary.rr_asleep_mean == 13.0
    assert summary.sleep_source == "sleep_state"


def test_without_sleep_staging_movement_is_the_fallback() -> None:
    samples = [s for s in schedule_night() if s.metric is not Metric.SLEEP_STATE]
    summary = sleep_summary(samples, resident_id="r1", night=NIGHT)
    assert summary.sleep_source == "movement"
    assert summary.sleep_onset == hm(22) and summary.wake_time == hm(6, 30)


def test_samples_of_other_residents_and_outside_the_window_are_ignored() -> None:
    noise = schedule_night(resident="r2") + schedule_night(NIGHT - timedelta(days=1))
    summary = sleep_summary(schedule_night() + noise, resident_id="r1", night=NIGHT)
    assert summary.total_sleep_s == 29100


def test_json_round_trip() -> None:
    summary = sleep_summary(schedule_night(), resident_id="r1", night=NIGHT)
    assert SleepSummary.from_json(summary.to_json()) == summary


def test_nights_are_stored_and_compared_with_the_residents_recent_nights(
    conn: psycopg.Connection,
) -> None:
    register_site(conn, site_id="sleep-home", name="Sleep", tier="care_home")
    register_bedside(
        conn,
        Bedside(
            site_id="sleep-home",
            resident_id="r1",
            display_name="R1",
            bed_id="b1",
            device_id="mat-1",
            device_model="smart_mattress",
        ),
        since=hm(12, night=NIGHT - timedelta(days=5)),
    )
    nights = [NIGHT - timedelta(days=2), NIGHT - timedelta(days=1), NIGHT]
    received = datetime(2026, 11, 25, tzinfo=UTC)
    with conn.cursor().copy(
        "COPY readings (ts, device_id, metric, value, received_at) FROM STDIN"
    ) as copy:
        for night in nights:
            for s in schedule_night(night, step_s=10):
                copy.write_row((s.ts, s.device_id, str(s.metric), s.value, received))
    for night in nights:
        last = summarize_night(conn, resident_id="r1", night=night)
    assert last.total_sleep_s == 29100
    compared = last.compared_with["total_sleep_s"]
    assert compared == {"value": 29100.0, "median": 29100.0, "delta": 0.0, "nights": 2}
    stored = sleep_summaries(conn, resident_id="r1")
    assert [s.night for s in stored] == list(reversed(nights))
    assert stored[0] == last


def test_summary_follows_the_simulators_sleep_schedule() -> None:
    """The simulator plans each night from the resident's profile (bedtime and wake hour, with
    a night-to-night jitter of about 20 min): the summary must recover it."""
    from devices import Stream
    from simulators import ScenarioConfig, build_scenario

    config = ScenarioConfig(
        start=datetime(2026, 11, 23, 12, tzinfo=UTC),
        duration_s=86400,
        seed=4,
        residents=1,
        devices=("smart_mattress",),
    )
    scenario = build_scenario(config)
    profile = scenario.residents[0].profile
    samples = [
        ResidentSample(
            ts=s.device_ts, resident_id=m.resident_id, device_id=m.device_id, metric=k, value=v
        )
        for m in scenario.messages
        if m.stream is not Stream.STATUS
        for s in m.samples
        for k, v in s.values
    ]
    summary = sleep_summary(samples, resident_id=profile.resident_id, night=NIGHT)

    def hours(ts: datetime | None) -> float:
        assert ts is not None
        return (ts - datetime(2026, 11, 23, tzinfo=UTC)).total_seconds() / 3600

    assert abs(hours(summary.bed_entry) - profile.bedtime_h) < 1.25
    assert abs(hours(summary.final_exit) - 24 - profile.wake_h) < 1.25
    assert summary.sleep_onset is not None and summary.wake_time is not None
    assert summary.bed_entry <= summary.sleep_onset < summary.wake_time <= summary.final_exit
    span = (summary.final_exit - summary.bed_entry).total_seconds()  # type: ignore[operator]
    assert span - 3600 <= summary.time_in_bed_s <= span
    assert 0.6 <= (summary.sleep_efficiency or 0) <= 1.0
    assert summary.hr_asleep_mean is not None
    assert abs(summary.hr_asleep_mean - profile.heart_rate) < 15
    assert summary.coverage > 0.9
