"""Storage of per-resident detector settings: overrides with an audit record, and profiles."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

import psycopg

from analytics._base import BaseDetector
from analytics._profiles import DetectorOverride, detectors_for, validate_parameter

_CURRENT = (
    "SELECT value FROM detector_overrides WHERE resident_id = %s AND parameter = %s FOR UPDATE"
)
_UPSERT = """
INSERT INTO detector_overrides (resident_id, parameter, value, set_by, reason, set_at)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (resident_id, parameter)
DO UPDATE SET value = EXCLUDED.value, set_by = EXCLUDED.set_by, reason = EXCLUDED.reason,
              set_at = EXCLUDED.set_at
"""
_DELETE = "DELETE FROM detector_overrides WHERE resident_id = %s AND parameter = %s"
_AUDIT = """
INSERT INTO detector_override_audit
    (resident_id, parameter, action, old_value, new_value, changed_by, reason, changed_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
"""
_LIST = """
SELECT resident_id, parameter, value, set_by, reason, set_at FROM detector_overrides
WHERE resident_id = %s ORDER BY parameter
"""
_AUDIT_LIST = """
SELECT parameter, action, old_value, new_value, changed_by, reason, changed_at
FROM detector_override_audit WHERE resident_id = %s ORDER BY changed_at, audit_id
"""
# Per resident: the tier in force (consults may raise it until a date), then parameter settings
# by precedence: 1 = consults' advice in force (`resident_thresholds`, from a consult or a
# back-referral), 2 = a clinician's override here, which wins.
_PROFILES = """
SELECT r.resident_id,
       CASE WHEN r.risk_tier_until IS NOT NULL AND r.risk_tier_until <= now()
                 AND r.risk_tier_after IS NOT NULL
            THEN r.risk_tier_after ELSE r.risk_tier END,
       s.parameter, s.value
FROM residents r
LEFT JOIN (
    SELECT resident_id, parameter, value, 1 AS precedence FROM resident_thresholds
    WHERE valid_from <= now() AND (valid_until IS NULL OR valid_until > now())
    UNION ALL
    SELECT resident_id, parameter, value, 2 FROM detector_overrides
) s USING (resident_id)
ORDER BY r.resident_id, s.precedence, s.parameter
"""

log = logging.getLogger(__name__)

ProfileKey = tuple[str, tuple[tuple[str, float], ...]]


def set_detector_override(
    conn: psycopg.Connection,
    *,
    resident_id: str,
    parameter: str,
    value: float,
    clinician: str,
    reason: str,
    at: datetime,
) -> None:
    """Set one parameter for one resident, with its audit record, in one transaction."""
    validate_parameter(parameter, value)
    if not clinician.strip() or not reason.strip():
        raise ValueError("an override needs the clinician and a reason")
    with conn.transaction():
        row = conn.execute(_CURRENT, (resident_id, parameter)).fetchone()
        conn.execute(_UPSERT, (resident_id, parameter, value, clinician, reason, at))
        conn.execute(
            _AUDIT,
            (resident_id, parameter, "set", row[0] if row else None, value, clinician, reason, at),
        )


def clear_detector_override(
    conn: psycopg.Connection,
    *,
    resident_id: str,
    parameter: str,
    clinician: str,
    reason: str,
    at: datetime,
) -> bool:
    """Remove an override (back to the tier's value); False if there was none."""
    with conn.transaction():
        row = conn.execute(_CURRENT, (resident_id, parameter)).fetchone()
        if row is None:
            return False
        conn.execute(_DELETE, (resident_id, parameter))
        conn.execute(_AUDIT, (resident_id, parameter, "clear", row[0], None, clinician, reason, at))
    return True


def detector_overrides(conn: psycopg.Connection, *, resident_id: str) -> list[DetectorOverride]:
    return [
        DetectorOverride(resident_id=r, parameter=p, value=v, set_by=by, reason=why, set_at=at)
        for r, p, v, by, why, at in conn.execute(_LIST, (resident_id,)).fetchall()
    ]


def detector_override_audit(
    conn: psycopg.Connection, *, resident_id: str
) -> list[dict[str, object]]:
    names = ("parameter", "action", "old_value", "new_value", "changed_by", "reason", "changed_at")
    return [dict(zip(names, row, strict=True)) for row in conn.execute(_AUDIT_LIST, (resident_id,))]


def profile_keys(conn: psycopg.Connection) -> dict[str, ProfileKey]:
    """Per resident: risk tier in force and parameter settings, as a comparable key. A setting
    outside its detector's declared range is skipped with a warning, not applied."""
    keys: dict[str, tuple[str, dict[str, float]]] = {}
    for resident_id, tier, parameter, value in conn.execute(_PROFILES).fetchall():
        entry = keys.setdefault(resident_id, (tier, {}))
        if parameter is None:
            continue
        try:
            validate_parameter(parameter, value)
        except ValueError as exc:
            log.warning("setting for %s ignored: %s", resident_id, exc)
            continue
        entry[1][parameter] = value
    return {r: (tier, tuple(sorted(values.items()))) for r, (tier, values) in keys.items()}


def detectors_for_key(
    key: ProfileKey, base: Sequence[BaseDetector] | None = None
) -> tuple[BaseDetector, ...]:
    tier, overrides = key
    return detectors_for(tier, dict(overrides), base=tuple(base) if base is not None else None)
