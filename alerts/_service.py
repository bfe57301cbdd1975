"""The alerts worker: takes pending findings, applies the lifecycle, stores alerts."""

from __future__ import annotations

import logging
import threading
from typing import Any

import psycopg
from psycopg.rows import dict_row

from alerts._lifecycle import Alert, AlertState, apply_finding
from analytics import Channel, Finding, Severity
from eldercare.db import connect
from eldercare.errors import StorageError
from eldercare.settings import Settings

log = logging.getLogger(__name__)

# SKIP LOCKED lets several workers share the queue without taking the same finding twice.
_PENDING = """
SELECT f.finding_id, f.resident_id, f.device_id, f.kind, f.severity, f.channel, f.started_at,
       f.detected_at, f.evidence, f.detector, f.detector_version, r.site_id
FROM findings f JOIN residents r USING (resident_id)
WHERE f.processed_at IS NULL
ORDER BY f.finding_id
LIMIT %s
FOR UPDATE OF f SKIP LOCKED
"""
_OPEN_ALERT = """
SELECT alert_id, resident_id, kind, channel, severity, state, started_at, detected_at,
       last_seen_at, finding_count
FROM alerts WHERE resident_id = %s AND kind = %s AND state <> 'resolved'
FOR UPDATE
"""
_CREATE = """
INSERT INTO alerts (resident_id, site_id, kind, channel, severity, state, started_at, detected_at,
                    last_seen_at, finding_count)
VALUES (%(resident_id)s, %(site_id)s, %(kind)s, %(channel)s, %(severity)s, %(state)s,
        %(started_at)s, %(detected_at)s, %(last_seen_at)s, %(finding_count)s)
RETURNING alert_id
"""
_UPDATE = """
UPDATE alerts SET severity = %(severity)s, started_at = %(started_at)s,
                  last_seen_at = %(last_seen_at)s, finding_count = %(finding_count)s,
                  updated_at = now()
WHERE alert_id = %(alert_id)s
"""
_MARK = "UPDATE findings SET processed_at = now(), alert_id = %s WHERE finding_id = %s"


def process_pending(conn: psycopg.Connection, *, limit: int = 500) -> int:
    """Apply up to `limit` pending findings in one transaction; returns how many."""
    with conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        pending = cur.execute(_PENDING, (limit,)).fetchall()
        for row in pending:
            finding = Finding(
                resident_id=row["resident_id"],
                device_id=row["device_id"],
                kind=row["kind"],
                severity=Severity(row["severity"]),
                channel=Channel(row["channel"]),
                started_at=row["started_at"],
                detected_at=row["detected_at"],
                detector=row["detector"],
                detector_version=row["detector_version"],
                evidence=row["evidence"],
            )
            current_row = cur.execute(_OPEN_ALERT, (finding.resident_id, finding.kind)).fetchone()
            current = _alert_from_row(current_row) if current_row else None
            alert = apply_finding(current, finding)
            values = {
                "resident_id": alert.resident_id,
                "site_id": row["site_id"],
                "kind": alert.kind,
                "channel": alert.channel,
                "severity": alert.severity,
                "state": alert.state,
                "started_at": alert.started_at,
                "detected_at": alert.detected_at,
                "last_seen_at": alert.last_seen_at,
                "finding_count": alert.finding_count,
                "alert_id": alert.alert_id,
            }
            if alert.alert_id is None:
                alert_id = cur.execute(_CREATE, values).fetchone()["alert_id"]
            else:
                cur.execute(_UPDATE, values)
                alert_id = alert.alert_id
            cur.execute(_MARK, (alert_id, row["finding_id"]))
    return len(pending)


def _alert_from_row(row: dict[str, Any]) -> Alert:
    return Alert(
        alert_id=row["alert_id"],
        resident_id=row["resident_id"],
        kind=row["kind"],
        channel=Channel(row["channel"]),
        severity=Severity(row["severity"]),
        state=AlertState(row["state"]),
        started_at=row["started_at"],
        detected_at=row["detected_at"],
        last_seen_at=row["last_seen_at"],
        finding_count=row["finding_count"],
    )


class AlertService:
    def __init__(self, settings: Settings, *, poll_interval_s: float = 0.25) -> None:
        self._settings = settings
        self._poll_interval_s = poll_interval_s

    def run(self, stop: threading.Event) -> None:
        url = self._settings.database.url
        if url is None:
            raise StorageError("no database URL configured")
        conn: psycopg.Connection | None = None
        while not stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = connect(url)
                if process_pending(conn):
                    continue  # more may be waiting
            except (psycopg.OperationalError, StorageError) as exc:
                log.warning("alert worker failed, retrying: %s", exc)
                if conn is not None:
                    conn.close()
                conn = None
            stop.wait(self._poll_interval_s)
        if conn is not None:
            conn.close()
