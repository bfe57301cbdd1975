"""The streaming analytics service: follows committed readings, runs detectors, stores findings.

Readings are read by writing transaction (`readings.tx`): every transaction older than the
snapshot's xmin has finished, so reading ``cursor <= tx < xmin`` never skips a row that commits
late, which a sequence or timestamp cursor can. Findings and the new cursor commit together.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence

import psycopg

from analytics._runner import Detector, StreamRunner, default_detectors
from analytics._types import Finding, ResidentSample
from devices import Metric
from eldercare.db import connect
from eldercare.errors import StorageError
from eldercare.settings import Settings

log = logging.getLogger(__name__)

_HORIZON = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text"
_CURSOR = "SELECT position::text FROM stream_cursors WHERE consumer = %s FOR UPDATE"
_NEW_CURSOR = "INSERT INTO stream_cursors (consumer, position) VALUES (%s, %s::xid8)"
_MOVE_CURSOR = (
    "UPDATE stream_cursors SET position = %s::xid8, updated_at = now() WHERE consumer = %s"
)
# The resident is the one the device was assigned to at the reading's own timestamp.
_NEW_READINGS = """
SELECT r.ts, a.resident_id, r.device_id, r.metric, r.value
FROM readings r
JOIN device_assignments a
  ON a.device_id = r.device_id
 AND r.ts >= a.assigned_from AND (a.assigned_until IS NULL OR r.ts < a.assigned_until)
WHERE r.tx >= %s::xid8 AND r.tx < %s::xid8
"""
_INSERT_FINDING = """
INSERT INTO findings (resident_id, device_id, kind, severity, channel, started_at, detected_at,
                      evidence, detector, detector_version)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""


def insert_findings(conn: psycopg.Connection, findings: Sequence[Finding]) -> None:
    conn.cursor().executemany(
        _INSERT_FINDING,
        [
            (
                f.resident_id,
                f.device_id,
                f.kind,
                f.severity,
                f.channel,
                f.started_at,
                f.detected_at,
                json.dumps(dict(f.evidence)),
                f.detector,
                f.detector_version,
            )
            for f in findings
        ],
    )


class AnalyticsService:
    def __init__(
        self,
        settings: Settings,
        *,
        detectors: Sequence[Detector] | None = None,
        consumer: str = "analytics",
    ) -> None:
        self._settings = settings
        self._detectors = tuple(detectors) if detectors is not None else default_detectors()
        self._consumer = consumer
        self._runner = StreamRunner(self._detectors)
        self.findings_emitted = 0

    def poll_once(self, conn: psycopg.Connection) -> list[Finding]:
        """Process readings committed since the last poll; returns the findings stored."""
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        try:
            with conn.transaction():
                (horizon,) = conn.execute(_HORIZON).fetchone()  # type: ignore[misc]
                row = conn.execute(_CURSOR, (self._consumer,)).fetchone()
                if row is None:
                    # First start reads from the beginning: whatever order the services start
                    # in, no reading stored before this consumer existed is skipped.
                    conn.execute(_NEW_CURSOR, (self._consumer, "0"))
                    position = "0"
                else:
                    position = row[0]
                rows = conn.execute(_NEW_READINGS, (position, horizon)).fetchall()
                samples = [
                    ResidentSample(ts=ts, resident_id=res, device_id=dev, metric=Metric(m), value=v)
                    for ts, res, dev, m, v in rows
                ]
                findings = self._runner.feed(samples)
                insert_findings(conn, findings)
                conn.execute(_MOVE_CURSOR, (horizon, self._consumer))
        except psycopg.Error:
            # The cursor did not move, so these readings come again: start from clean state.
            self._runner = StreamRunner(self._detectors)
            raise
        self.findings_emitted += len(findings)
        return findings

    def run(self, stop: threading.Event) -> None:
        url = self._settings.database.url
        if url is None:
            raise StorageError("no database URL configured")
        conn: psycopg.Connection | None = None
        while not stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = connect(url)
                self.poll_once(conn)
            except (psycopg.OperationalError, StorageError) as exc:
                log.warning("analytics poll failed, retrying: %s", exc)
                if conn is not None:
                    conn.close()
                conn = None
            stop.wait(self._settings.analytics.poll_interval_s)
        if conn is not None:
            conn.close()
