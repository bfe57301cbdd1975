"""The resident analytics API: sleep summaries and audited detector overrides."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
from fastapi.testclient import TestClient

from analytics import sleep_summary, store_sleep_summary
from dashboard import create_app
from dashboard._access import Role
from eldercare.registry import Bedside, register_bedside, register_site
from eldercare.settings import Settings
from tests.analytics.test_sleep import NIGHT, schedule_night
from tests.utils.staff import staff_headers


def _resident(conn: psycopg.Connection) -> None:
    register_site(conn, site_id="api-home", name="API", tier="care_home")
    register_site(conn, site_id="api-other", name="Other", tier="care_home")
    register_bedside(
        conn,
        Bedside(
            site_id="api-home",
            resident_id="r1",
            display_name="R1",
            bed_id="b1",
            device_id="mat-1",
            device_model="smart_mattress",
        ),
        since=datetime(2026, 11, 1, tzinfo=UTC),
    )


def test_sleep_and_overrides(settings: Settings, conn: psycopg.Connection) -> None:
    _resident(conn)
    store_sleep_summary(
        conn, sleep_summary(schedule_night(step_s=30), resident_id="r1", night=NIGHT)
    )
    doctor = staff_headers(conn, Role.DOCTOR, site_id="api-home", username="dr-li")
    nurse = staff_headers(conn, Role.NURSE, site_id="api-home", username="nurse-wang")
    foreign = staff_headers(conn, Role.DOCTOR, site_id="api-other")
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/residents/r1/sleep").status_code == 401
        body = client.get("/api/residents/r1/sleep", headers=nurse).json()
        assert body["count"] == 1
        night = body["data"][0]
        assert night["night"] == NIGHT.isoformat()
        assert night["total_sleep_s"] == 29100
        # Another home's resident answers like one that does not exist.
        hidden = client.get("/api/residents/r1/sleep", headers=foreign)
        missing = client.get("/api/residents/nobody/sleep", headers=foreign)
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json() == missing.json()

        url = "/api/residents/r1/detector-overrides/night_bed_exit.max_out_s"
        change = {"value": 600, "reason": "falls"}
        assert client.put(url, headers=nurse, json=change).status_code == 403
        assert client.put(url, headers=foreign, json=change).status_code == 404
        put = client.put(url, headers=doctor, json=change)
        assert put.status_code == 200, put.text
        assert put.json()["data"][0]["set_by"] == "dr-li"
        assert put.json()["data"][0]["value"] == 600
        bad = client.put(
            "/api/residents/r1/detector-overrides/heart_rate_sustained.high_bpm",
            headers=doctor,
            json={"value": 90, "reason": "x"},
        )
        assert bad.status_code == 422 and "not in" in bad.text
        assert client.delete(url, headers=nurse, params={"reason": "x"}).status_code == 403
        other_doctor = staff_headers(conn, Role.DOCTOR, site_id="api-home", username="dr-zhou")
        deleted = client.delete(url, headers=other_doctor, params={"reason": "reviewed"})
        assert deleted.status_code == 200 and deleted.json()["count"] == 0
        audit = client.get("/api/residents/r1/detector-overrides/audit", headers=nurse).json()
        assert [(a["action"], a["changed_by"]) for a in audit["data"]] == [
            ("set", "dr-li"),
            ("clear", "dr-zhou"),
        ]
        assert (
            client.get("/api/residents/r1/detector-overrides", headers=foreign).status_code == 404
        )
