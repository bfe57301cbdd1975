"""Availability: birth/last-will state changes and silence become data-quality events.

Events go to `data_quality_events` (every device, with or without a resident). Problems (offline,
silent) of a device assigned to a resident are also written to `findings` with channel
'data_quality', the technician channel alerts consumes; they are never clinical alerts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg.types.json import Jsonb

from devices import DEVICE_MODELS, DeviceModel

EventKind = Literal["online", "offline", "silent", "resumed"]

DETECTOR = "ingest.availability"
DETECTOR_VERSION = "1"
# A silent device misses several reports before we say so: one lost or late message is network
# jitter, not an outage. The floor covers firmware that batches seconds of samples per message.
MISSED_REPORTS = 3
MIN_SILENCE = timedelta(seconds=60)
_PROBLEMS: frozenset[str] = frozenset({"offline", "silent"})


@dataclass(frozen=True, slots=True)
class AvailabilityEvent:
    device_id: str
    kind: EventKind
    at: datetime
    detail: Mapping[str, Any] = field(default_factory=dict)


def silence_allowance(model: DeviceModel) -> timedelta:
    """How long a device of `model` may stay quiet before it counts as silent."""
    shortest = min(spec.report_interval_s for spec in model.metrics)
    return max(MIN_SILENCE, timedelta(seconds=MISSED_REPORTS * shortest))


_INSERT_EVENT = """
INSERT INTO data_quality_events (device_id, site_id, resident_id, kind, at, detail)
SELECT d.device_id, d.site_id, a.resident_id, %(kind)s, %(at)s, %(detail)s
FROM devices d
LEFT JOIN device_assignments a
  ON a.device_id = d.device_id AND a.assigned_from <= %(at)s
 AND (a.assigned_until IS NULL OR a.assigned_until > %(at)s)
WHERE d.device_id = %(device_id)s
RETURNING event_id
"""
_INSERT_FINDINGS = """
INSERT INTO findings (resident_id, device_id, kind, severity, channel, started_at, detected_at,
                      evidence, detector, detector_version)
SELECT resident_id, device_id, 'device_' || kind, 'medium', 'data_quality',
       coalesce((detail->>'since')::timestamptz, at), at,
       detail || jsonb_build_object('data_quality_event_id', event_id), %(detector)s, %(version)s
FROM data_quality_events
WHERE event_id = ANY(%(ids)s) AND resident_id IS NOT NULL AND kind = ANY(%(problems)s)
"""


def record_events(conn: psycopg.Connection, events: Sequence[AvailabilityEvent]) -> int:
    """Store events (in the caller's transaction); returns how many were stored."""
    ids: list[int] = []
    for event in events:
        row = conn.execute(
            _INSERT_EVENT,
            {
                "device_id": event.device_id,
                "kind": event.kind,
                "at": event.at,
                "detail": Jsonb(dict(event.detail)),
            },
        ).fetchone()
        if row is not None:
            ids.append(row[0])
    if ids:
        conn.execute(
            _INSERT_FINDINGS,
            {
                "ids": ids,
                "problems": sorted(_PROBLEMS),
                "detector": DETECTOR,
                "version": DETECTOR_VERSION,
            },
        )
    return len(ids)


_MARK_SILENT = """
UPDATE device_status s SET silent_since = s.last_seen_at
FROM devices d
WHERE d.device_id = s.device_id AND d.model = %(model)s
  AND s.silent_since IS NULL AND s.last_seen_at < %(cutoff)s
  AND s.state IS DISTINCT FROM 'offline'
RETURNING s.device_id, s.last_seen_at
"""


def sweep_silence(conn: psycopg.Connection, *, now: datetime) -> list[AvailabilityEvent]:
    """Mark devices quiet past their allowance as silent and record a 'silent' event for each.

    Safe with several ingest workers: a device is marked once (`silent_since IS NULL` is re-checked
    under the row lock), so only one worker records its event.
    """
    events: list[AvailabilityEvent] = []
    with conn.transaction():
        for key, model in sorted(DEVICE_MODELS.items()):
            allowance = silence_allowance(model)
            rows = conn.execute(_MARK_SILENT, {"model": key, "cutoff": now - allowance}).fetchall()
            events.extend(
                AvailabilityEvent(
                    device_id=device_id,
                    kind="silent",
                    at=now,
                    detail={
                        "since": last_seen.isoformat(),
                        "allowance_s": allowance.total_seconds(),
                    },
                )
                for device_id, last_seen in sorted(rows)
            )
        record_events(conn, events)
    return events
