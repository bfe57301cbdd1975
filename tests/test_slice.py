"""The end-to-end slice on real services: simulated mattress → MQTT → ingest → readings →
heart-rate detector → alert → GET /api/alerts."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import psycopg
from fastapi.testclient import TestClient

from analytics import SustainedHeartRate
from dashboard import Role, create_app
from eldercare.settings import Settings
from simulators import Episode, WardPublisher
from tests.utils.pipeline import pipeline
from tests.utils.staff import staff_headers
from tests.utils.ward import registered_ward


def test_simulated_tachycardia_becomes_one_alert_in_the_api(
    settings: Settings, conn: psycopg.Connection
) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    onset = timedelta(seconds=60)
    beds = registered_ward(
        conn,
        site_id="slice-home",
        residents=2,
        since=start - timedelta(days=1),
        episodes={0: (Episode(kind="tachycardia", onset_s=60, duration_s=240),)},
    )
    with pipeline(settings):
        publisher = WardPublisher(beds, settings.mqtt, start=start, speed=60.0)
        publisher.connect()
        try:
            publisher.run(duration_s=330)  # 5.5 device-minutes, about 5.5 s of wall time
        finally:
            publisher.close()
        expected_readings = 2 * 330 * 5  # 2 mattresses, 1 Hz, 5 metrics
        deadline = time.monotonic() + 60
        stored = 0
        while stored < expected_readings and time.monotonic() < deadline:
            # The broker hands messages over as ingest acknowledges them; under load the
            # last ones arrive after the publisher has finished.
            stored = conn.execute("SELECT count(*) FROM readings").fetchone()[0]  # type: ignore[index]
            time.sleep(0.2)
        with TestClient(create_app(settings)) as client:
            headers = staff_headers(conn, Role.NURSE, site_id="slice-home")
            deadline = time.monotonic() + 30
            body: dict = {"count": 0}
            while time.monotonic() < deadline and body["count"] == 0:
                # Data-quality alerts (e.g. devices going offline when the simulation
                # stops) are a separate channel: the slice is about the clinical one.
                response = client.get(
                    "/api/alerts", params={"channel": "clinical"}, headers=headers
                )
                assert response.status_code == 200
                body = response.json()
                time.sleep(0.2)
            assert client.get("/api/alerts").status_code == 401

    assert stored == expected_readings
    assert conn.execute("SELECT count(*) FROM readings").fetchone() == (expected_readings,)
    assert body["count"] == 1, body
    alert = body["data"][0]
    assert alert["resident_id"] == beds[0].bedside.resident_id
    assert alert["site_id"] == "slice-home"
    assert alert["kind"] == "tachycardia"
    assert alert["severity"] == "high"
    assert alert["channel"] == "clinical"
    assert alert["state"] == "open"
    started = datetime.fromisoformat(alert["started_at"])
    detected = datetime.fromisoformat(alert["detected_at"])
    # The rate ramps from baseline to ~142 /min over 15 s and crosses 131 /min late in the ramp.
    assert start + onset <= started <= start + onset + timedelta(seconds=15)
    # Held for the detector's minimum (medium tier), detected at the first sample completing it.
    hold = timedelta(seconds=SustainedHeartRate().min_duration_s)
    assert hold <= detected - started <= hold + timedelta(seconds=1)
    assert set(alert) >= {"alert_id", "last_seen_at", "finding_count", "escalation_level"}
