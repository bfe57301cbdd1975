"""API response models: rows are never returned directly, only these public shapes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from alerts import AlertState
from analytics import Channel, Severity


class AlertPublic(BaseModel):
    alert_id: int
    resident_id: str
    site_id: str
    kind: str
    channel: Channel
    severity: Severity
    state: AlertState
    escalation_level: int
    started_at: datetime
    detected_at: datetime
    last_seen_at: datetime
    finding_count: int


class AlertsPublic(BaseModel):
    data: list[AlertPublic]
    count: int


class Health(BaseModel):
    status: str
    database: str
