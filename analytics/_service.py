"""The streaming analytics service: follows committed readings, runs detectors, stores findings.

Readings are read by writing transaction (`readings.tx`): every transaction older than the
snapshot's xmin has finished, so reading ``cursor <= tx < xmin`` never skips a row that commits
late, which a sequence or timestamp cursor can. Findings and the new cursor commit together.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Sequence

import psycopg

from analytics._profiles_store import ProfileKey, detectors_for_key, profile_keys
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


def resident_partition(resident_id: str, partitions: int) -> int:
    """The partition a resident belongs to: stable across processes, versions and restarts
    (Python's own hash() is salted per process)."""
    digest = hashlib.sha256(resident_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % partitions


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


_DEFAULT_PROFILE: ProfileKey = ("medium", ())


class AnalyticsService:
    """Feeds committed readings to a `StreamRunner`.

    `reorder_s` is the runner's per-resident reorder window (commit order is not device-time
    order); findings therefore appear up to that much device time after their definition is met.
    Per-resident settings (risk tier, clinician overrides) are re-read every `profile_refresh_s`;
    a resident whose settings changed restarts its detector state.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        detectors: Sequence[Detector] | None = None,
        consumer: str | None = None,
        reorder_s: float = 15.0,
        profile_refresh_s: float = 30.0,
    ) -> None:
        self._settings = settings
        self._detectors = tuple(detectors) if detectors is not None else default_detectors()
        # Partition k of n keeps state for its own residents only, under its own cursor; every
        # partition reads all committed readings, so none can miss a row.
        partition = settings.analytics.partition
        self._partition = tuple(int(p) for p in partition.split("/")) if partition else None
        default_consumer = (
            f"analytics-{self._partition[0]}-of-{self._partition[1]}"
            if self._partition
            else "analytics"
        )
        self._consumer = consumer or default_consumer
        self._owned: dict[str, bool] = {}
        self._reorder_s = reorder_s
        self._profile_refresh_s = profile_refresh_s
        self._runner = self._new_runner()
        self.findings_emitted = 0

    def _new_runner(self) -> StreamRunner:
        self._profiles: dict[str, ProfileKey] = {}
        self._profiles_read_at: float | None = None
        return StreamRunner(self._detectors, reorder_s=self._reorder_s)

    def _refresh_profiles(self, conn: psycopg.Connection) -> None:
        now = time.monotonic()
        if self._profiles_read_at is not None and (
            now - self._profiles_read_at < self._profile_refresh_s
        ):
            return
        self._profiles_read_at = now
        for resident_id, key in profile_keys(conn).items():
            if key == self._profiles.get(resident_id, _DEFAULT_PROFILE):
                continue
            try:
                detectors = detectors_for_key(key, self._detectors)  # type: ignore[arg-type]
            except ValueError as exc:
                log.warning("settings of %s not applied: %s", resident_id, exc)
                continue
            self._runner.set_profile(resident_id, detectors)
            self._profiles[resident_id] = key

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
                self._refresh_profiles(conn)
                rows = conn.execute(_NEW_READINGS, (position, horizon)).fetchall()
                samples = [
                    ResidentSample(ts=ts, resident_id=res, device_id=dev, metric=Metric(m), value=v)
                    for ts, res, dev, m, v in rows
                    if self._owns(res)
                ]
                findings = self._runner.feed(samples)
                insert_findings(conn, findings)
                conn.execute(_MOVE_CURSOR, (horizon, self._consumer))
        except psycopg.Error:
            # The cursor did not move, so these readings come again: start from clean state.
            self._runner = self._new_runner()
            raise
        self.findings_emitted += len(findings)
        return findings

    def _owns(self, resident_id: str) -> bool:
        if self._partition is None:
            return True
        owned = self._owned.get(resident_id)
        if owned is None:  # every reading row asks: hash each resident once
            k, n = self._partition
            owned = self._owned[resident_id] = resident_partition(resident_id, n) == k
        return owned

    def flush(self, conn: psycopg.Connection) -> list[Finding]:
        """Run the detectors on every sample still in the reorder window and store the findings
        (on shutdown: the readings behind the cursor would not come again)."""
        findings = self._runner.flush()
        with conn.transaction():
            insert_findings(conn, findings)
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
            try:
                self.flush(conn)
            except psycopg.Error as exc:
                log.warning("analytics could not store its last findings: %s", exc)
            conn.close()
