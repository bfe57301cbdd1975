"""Alert events (what the outbox holds) and subscriber filters: pure records and functions.

The payload shape is the public contract (docs/alert-contract.md); bump `EVENT_SCHEMA` when it
changes incompatibly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from analytics import Channel, Severity

EVENT_SCHEMA = "eldercare.alert-event/1"
DIGEST_SCHEMA = "eldercare.alert-digest/1"


class EventType(StrEnum):
    OPENED = "opened"
    WORSENED = "worsened"  # a repeat finding raised the severity of the unresolved alert
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"
    REMINDER = "reminder"
    RESOLVED = "resolved"


class Transport(StrEnum):
    MQTT = "mqtt"
    WEBHOOK = "webhook"
    SSE = "sse"  # pulled from the outbox by the live stream; no delivery rows


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertEvent:
    """One row of the outbox as receivers see it."""

    seq: int
    event_id: str
    event_type: EventType
    alert_id: int
    site_id: str
    resident_id: str
    kind: str
    channel: Channel
    severity: Severity
    payload: Mapping[str, Any]
    tx: int = 0  # the writing transaction's id; (tx, seq) is the outbox reading order


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriberFilter:
    """Which events a subscriber gets; None means "any"."""

    site_id: str | None = None
    min_severity: Severity = Severity.LOW
    kinds: frozenset[str] | None = None
    channels: frozenset[Channel] = frozenset({Channel.CLINICAL})

    def matches(self, event: AlertEvent) -> bool:
        return (
            (self.site_id is None or event.site_id == self.site_id)
            and event.severity.rank >= self.min_severity.rank
            and (self.kinds is None or event.kind in self.kinds)
            and event.channel in self.channels
        )


def audience(channel: Channel) -> str:
    """Who an event is for: data-quality events go to technicians, never to clinicians."""
    return "technician" if channel is Channel.DATA_QUALITY else "clinical"


def alert_topic(namespace: str, *, site_id: str, kind: str) -> str:
    """The MQTT alert topic. Deliberately outside ``{namespace}/v1/…``, which ingest subscribes
    to for devices, so alert messages can never be mistaken for device data."""
    return f"{namespace}/alerts/v1/{site_id}/{kind}"
