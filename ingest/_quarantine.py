"""Listing and replaying quarantined messages after a fix (a device registered, a decoder fixed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

from devices import Topics
from eldercare.db import Backend, current_backend
from ingest._decode import decode
from ingest._records import RawMessage, Rejected
from ingest._writer import load_device_sites, write_batch


@dataclass(frozen=True, slots=True)
class QuarantinedMessage:
    quarantine_id: int
    topic: str
    payload: bytes
    reason: str
    received_at: datetime
    replayed_at: datetime | None


@dataclass(frozen=True, slots=True)
class ReplayOutcome:
    quarantine_id: int
    replayed: bool
    reason: str  # why it is still rejected, or what it became


_LIST = """
SELECT quarantine_id, topic, payload, reason, received_at, replayed_at
FROM quarantine
WHERE (%(all)s OR replayed_at IS NULL)
  AND (%(contains)s::text IS NULL OR reason ILIKE '%%' || %(contains)s || '%%')
ORDER BY quarantine_id DESC
LIMIT %(limit)s
"""


def list_quarantine(
    conn: psycopg.Connection,
    *,
    limit: int = 50,
    include_replayed: bool = False,
    reason_contains: str | None = None,
) -> list[QuarantinedMessage]:
    """Quarantined messages, newest first (not yet replayed unless `include_replayed`)."""
    rows = conn.execute(
        _LIST, {"all": include_replayed, "contains": reason_contains, "limit": limit}
    ).fetchall()
    return [
        QuarantinedMessage(
            quarantine_id=row[0],
            topic=row[1],
            payload=bytes(row[2]),
            reason=row[3],
            received_at=row[4],
            replayed_at=row[5],
        )
        for row in rows
    ]


def replay_quarantine(
    conn: psycopg.Connection,
    *,
    namespace: str,
    now: datetime,
    ids: list[int] | None = None,
    limit: int = 10_000,
) -> list[ReplayOutcome]:
    """Decode and check quarantined messages again; store those that now pass.

    A message that passes is written exactly as ingest would (idempotent, so replaying twice adds
    nothing) and marked `replayed_at = now`; one that still fails stays in quarantine unchanged and
    its current reason is reported. Each message is its own transaction.
    """
    topics = Topics(namespace)
    backend: Backend = current_backend(conn)
    device_sites = load_device_sites(conn)
    conn.commit()
    if ids is None:
        selected = conn.execute(
            "SELECT quarantine_id, topic, payload, received_at FROM quarantine "
            "WHERE replayed_at IS NULL ORDER BY quarantine_id LIMIT %s",
            (limit,),
        ).fetchall()
    else:
        selected = conn.execute(
            "SELECT quarantine_id, topic, payload, received_at FROM quarantine "
            "WHERE replayed_at IS NULL AND quarantine_id = ANY(%s) ORDER BY quarantine_id",
            (ids,),
        ).fetchall()
    conn.commit()
    outcomes = []
    for quarantine_id, topic, payload, received_at in selected:
        raw = RawMessage(topic=topic, payload=bytes(payload), qos=0, mid=0, received_at=received_at)
        item = decode(raw, topics)
        if not isinstance(item, Rejected):
            site = device_sites.get(item.device_id)
            if site is None:
                item = Rejected(raw, f"unknown device {item.device_id!r}")
            elif site != item.site_id:
                item = Rejected(raw, f"device {item.device_id!r} belongs to site {site!r}")
        if isinstance(item, Rejected):
            outcomes.append(ReplayOutcome(quarantine_id, replayed=False, reason=item.reason))
            continue
        with conn.transaction():
            result = write_batch(conn, [item], device_sites=device_sites, backend=backend)
            conn.execute(
                "UPDATE quarantine SET replayed_at = %s WHERE quarantine_id = %s",
                (now, quarantine_id),
            )
        what = (
            f"{result.readings_stored} reading(s) stored, "
            f"{result.readings_offered - result.readings_stored} already present"
            if result.statuses == 0
            else "status applied"
        )
        outcomes.append(ReplayOutcome(quarantine_id, replayed=True, reason=what))
    conn.commit()
    return outcomes
