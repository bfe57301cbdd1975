"""API shapes for alert actions, audit, outbox events and subscribers (boundary models)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from alerts import EventType, HandOff, RiskTier, Transport
from analytics import Channel, Severity
from dashboard._models import AlertPublic


class StaffAction(BaseModel):
    """Why the logged-in staff member acts. Who acts is the session's user, never the body: a
    body naming an ``actor`` is refused (422) rather than silently ignored."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=2000)


class AuditEntryPublic(BaseModel):
    audit_id: int
    alert_id: int
    action: str
    actor: str
    note: str | None
    at: datetime
    escalation_level: int


class AuditEntriesPublic(BaseModel):
    data: list[AuditEntryPublic]
    count: int


class AlertDetailPublic(AlertPublic):
    policy: str | None
    next_escalation_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    previous_alert_id: int | None
    audit: list[AuditEntryPublic]


class AlertEventPublic(BaseModel):
    seq: int
    event_id: str
    event_type: EventType
    alert_id: int
    occurred_at: datetime
    payload: dict[str, Any]


class AlertEventsPublic(BaseModel):
    data: list[AlertEventPublic]
    count: int


class SubscriberBase(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    transport: Transport
    url: HttpUrl | None = None
    site_id: str | None = Field(
        default=None, max_length=64, description="The site it belongs to (default: yours)."
    )
    min_severity: Severity = Severity.LOW
    kinds: list[str] | None = None
    channels: list[Channel] = Field(default=[Channel.CLINICAL], min_length=1)
    max_per_minute: int | None = Field(default=None, gt=0)
    active: bool = True


class SubscriberCreate(SubscriberBase):
    secret: str | None = Field(
        default=None, min_length=16, max_length=256, description="Webhook HMAC key (write-only)."
    )


class SubscriberUpdate(BaseModel):
    """A subscriber stays at the site it was made for: `site_id` cannot change (422)."""

    model_config = ConfigDict(extra="forbid")

    url: HttpUrl | None = None
    secret: str | None = Field(default=None, min_length=16, max_length=256)
    min_severity: Severity | None = None
    kinds: list[str] | None = None
    channels: list[Channel] | None = Field(default=None, min_length=1)
    max_per_minute: int | None = Field(default=None, gt=0)
    active: bool | None = None


class SubscriberPublic(SubscriberBase):
    """Never includes the secret."""

    subscriber_id: int
    created_at: datetime


class SubscribersPublic(BaseModel):
    data: list[SubscriberPublic]
    count: int


class DeliveryPublic(BaseModel):
    delivery_id: int
    event_id: str
    subscriber_id: int
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    digest_size: int | None
    delivered_at: datetime | None
    created_at: datetime


class DeliveriesPublic(BaseModel):
    data: list[DeliveryPublic]
    count: int


class EscalationStepModel(BaseModel):
    role: str = Field(min_length=1, max_length=64)
    after_s: int = Field(ge=0, description="Seconds the previous step waits unanswered.")


class EscalationPolicyBase(BaseModel):
    channel: Channel = Channel.CLINICAL
    risk_tiers: list[RiskTier] = Field(default=list(RiskTier), min_length=1)
    min_severity: Severity = Severity.LOW
    steps: list[EscalationStepModel] = Field(min_length=1)
    reminder_every_s: int = Field(gt=0)
    hand_off: HandOff = HandOff.NONE
    priority: int = 0


class EscalationPolicyPut(EscalationPolicyBase):
    pass


class EscalationPolicyPublic(EscalationPolicyBase):
    site_id: str | None  # None: a built-in default
    name: str


class EscalationPoliciesPublic(BaseModel):
    data: list[EscalationPolicyPublic]
    count: int


class ShiftCreate(BaseModel):
    site_id: str = Field(min_length=1, max_length=64)
    role: str = Field(min_length=1, max_length=64)
    staff_id: str = Field(min_length=1, max_length=128)
    starts_at: datetime
    ends_at: datetime


class ShiftPublic(ShiftCreate):
    shift_id: int


class ShiftsPublic(BaseModel):
    data: list[ShiftPublic]
    count: int


class OnCallPublic(BaseModel):
    site_id: str
    role: str
    at: datetime
    staff_ids: list[str]
