"""The consults audit trail: one append-only row per change."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from consults._snapshot import jsonable
from consults._states import Transition

_INSERT = """
INSERT INTO consults_audit (entity, entity_id, action, from_status, to_status, actor, at, detail)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    audit_id: int
    entity: str
    entity_id: str
    action: str
    from_status: str | None
    to_status: str | None
    actor: str
    at: datetime
    detail: dict[str, Any]


def record(
    conn: psycopg.Connection,
    *,
    entity: str,
    entity_id: str | int,
    action: str,
    actor: str,
    at: datetime,
    from_status: str | None = None,
    to_status: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    if not actor.strip():
        raise ValueError("every change needs an actor for the audit trail")
    conn.execute(
        _INSERT,
        (
            entity,
            str(entity_id),
            action,
            from_status,
            to_status,
            actor,
            at,
            Jsonb(jsonable(dict(detail or {}))),
        ),
    )


def record_transition(conn: psycopg.Connection, move: Transition, **detail: Any) -> None:
    record(
        conn,
        entity=move.entity,
        entity_id=move.entity_id,
        action="status",
        actor=move.actor,
        at=move.at,
        from_status=move.from_status,
        to_status=move.to_status,
        detail={"reason": move.reason, **detail} if move.reason else detail,
    )


def audit_trail(
    conn: psycopg.Connection,
    entity: str,
    entity_id: str | int,
    *,
    offset: int = 0,
    limit: int | None = None,
) -> list[AuditEntry]:
    """The recorded changes of one consult, referral, resident or follow-up, oldest first."""
    cur = conn.cursor(row_factory=class_row(AuditEntry))
    return cur.execute(
        "SELECT audit_id, entity, entity_id, action, from_status, to_status, actor, at, detail"
        " FROM consults_audit WHERE entity = %s AND entity_id = %s ORDER BY audit_id"
        " OFFSET %s LIMIT %s",
        (entity, str(entity_id), offset, limit),
    ).fetchall()


def audit_count(conn: psycopg.Connection, entity: str, entity_id: str | int) -> int:
    row = conn.execute(
        "SELECT count(*) FROM consults_audit WHERE entity = %s AND entity_id = %s",
        (entity, str(entity_id)),
    ).fetchone()
    return int(row[0]) if row else 0
