"""The dashboard's read model: public shapes of the ward, resident, chart and device pages, and
the pure rules that build them from rows (no I/O here; the SQL is in `_read_store`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel

from alerts import AlertState
from analytics import Channel, Severity
from devices import DEVICE_MODELS, UNITS, Metric

# Vitals shown on a bed tile, read from the latest per-minute rollup of each device.
TILE_METRICS: tuple[Metric, ...] = (
    Metric.BED_PRESENCE,
    Metric.HEART_RATE,
    Metric.RESPIRATION_RATE,
    Metric.SPO2,
)
# Metrics a resident's chart plots (whichever of them the resident's devices measure).
CHART_METRICS: tuple[Metric, ...] = (
    Metric.HEART_RATE,
    Metric.RESPIRATION_RATE,
    Metric.SPO2,
    Metric.SYSTOLIC_BP,
    Metric.DIASTOLIC_BP,
    Metric.BED_PRESENCE,
    Metric.MOVEMENT,
)
# How far back a tile looks for the latest value of a continuous vital; older values are not
# shown at all (a day-old heart rate is not a "current" value; the tile shows the device silent).
VITALS_LOOKBACK = timedelta(hours=24)
# Cuffs read intermittently (every 15-60 min, devices.BP_CUFF); a reading older than a week is no
# longer the resident's "last BP" for the ward (NEWS2 uses its own, shorter bp_max_age_s).
BP_LOOKBACK = timedelta(days=7)
# The dashboard contract: a device with no data for more than 2 minutes is shown as a data-quality
# problem. Devices that report less often (BP cuffs: hourly) are silent only after their own
# longest report interval (devices catalogue `report_interval_s`).
SILENT_AFTER = timedelta(minutes=2)
# A bed-presence minute counts as "in bed" when the resident was in bed for at least half of it.
PRESENCE_IN_BED_MEAN = 0.5
NEWS2_KIND = "news2_aggregate"
SILENT_KIND = "device_silent"

_SEVERITY_RANK = {
    s: i for i, s in enumerate((Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL))
}


class ChartWindow(StrEnum):
    DAY = "24h"
    WEEK = "7d"


WINDOW_LENGTH: dict[ChartWindow, timedelta] = {
    ChartWindow.DAY: timedelta(hours=24),
    ChartWindow.WEEK: timedelta(days=7),
}
# 24 h at the rollup's own 1-minute resolution (1,440 points); 7 days in 10-minute buckets (1,008
# points), about what a chart a screen wide can show.
WINDOW_BUCKET_S: dict[ChartWindow, int] = {ChartWindow.DAY: 60, ChartWindow.WEEK: 600}


# ---------------------------------------------------------------------------------------------
# Public shapes


class SitePublic(BaseModel):
    site_id: str
    name: str
    tier: str


class VitalValue(BaseModel):
    value: float
    unit: str
    at: datetime


class BloodPressure(BaseModel):
    systolic: float
    diastolic: float
    unit: str
    at: datetime


class ClinicalState(BaseModel):
    alert_id: int
    kind: str
    severity: Severity
    state: AlertState
    started_at: datetime


class DataQualityState(BaseModel):
    alert_id: int | None
    kind: str
    since: datetime


class TileDevice(BaseModel):
    device_id: str
    model: str
    last_seen_at: datetime | None
    battery_pct: float | None


class BedTile(BaseModel):
    bed_id: str
    bed_label: str
    resident_id: str | None
    resident_name: str | None
    risk_tier: str | None
    presence: Literal["in_bed", "out_of_bed"] | None
    presence_at: datetime | None
    heart_rate: VitalValue | None
    respiration_rate: VitalValue | None
    spo2: VitalValue | None
    last_bp: BloodPressure | None
    clinical: ClinicalState | None
    data_quality: DataQualityState | None
    devices: list[TileDevice]


class WardOverview(BaseModel):
    site_id: str
    site_name: str
    generated_at: datetime
    beds: list[BedTile]


class ResidentListItem(BaseModel):
    resident_id: str
    display_name: str
    site_id: str
    bed_label: str | None
    risk_tier: str


class ResidentsPublic(BaseModel):
    data: list[ResidentListItem]
    count: int


class News2Public(BaseModel):
    """The latest NEWS2 finding. `complete` is False whenever a parameter is missing: the score
    is then a lower bound and must be shown as partial, with `missing`."""

    score: int
    complete: bool
    missing: list[str]
    parameters: dict[str, int]
    at: datetime


class ChartSeries(BaseModel):
    metric: str
    unit: str
    points: list[tuple[datetime, float, float, float]]  # [ts, mean, min, max]


class ChartAlert(BaseModel):
    alert_id: int
    kind: str
    channel: Channel
    severity: Severity
    state: AlertState
    started_at: datetime
    resolved_at: datetime | None


class ChartFinding(BaseModel):
    kind: str
    severity: Severity
    start: datetime
    detected_at: datetime


class ChartPublic(BaseModel):
    resident_id: str
    window: ChartWindow
    start: datetime
    end: datetime
    bucket_seconds: int
    series: list[ChartSeries]
    alerts: list[ChartAlert]
    findings: list[ChartFinding]


class NoteCreate(BaseModel):
    body: str


class NotePublic(BaseModel):
    note_id: int
    resident_id: str
    author: str
    body: str
    created_at: datetime


class NotesPublic(BaseModel):
    data: list[NotePublic]
    count: int


DeviceState = Literal["online", "offline", "silent", "never_seen"]


class DevicePublic(BaseModel):
    device_id: str
    model: str
    site_id: str
    resident_id: str | None
    bed_label: str | None
    state: DeviceState
    last_seen_at: datetime | None
    battery_pct: float | None
    quarantined_24h: int
    quarantined_total: int
    open_data_quality: list[str]


class DevicesPublic(BaseModel):
    data: list[DevicePublic]
    count: int


class DeviceStatusEvent(BaseModel):
    kind: str
    at: datetime
    detail: dict[str, Any]


class DeviceDetailPublic(DevicePublic):
    quarantine_by_reason: dict[str, int]
    recent_status: list[DeviceStatusEvent]


# ---------------------------------------------------------------------------------------------
# Pure rules


def effective_risk_tier(
    tier: str, *, until: datetime | None, after: str | None, now: datetime
) -> str:
    """The tier in force at `now`: a temporary tier (after a back-referral) returns to `after`
    once `until` has passed — the rule of consults' `effective_tier`, applied to stored rows."""
    if until is not None and after is not None and now >= until:
        return after
    return tier


def silent_after(model: str) -> timedelta:
    """How long a device of `model` may send nothing before the ward shows it as silent."""
    spec = DEVICE_MODELS.get(model)
    if spec is None:
        return SILENT_AFTER
    longest = max(m.report_interval_s for m in spec.metrics)
    return max(SILENT_AFTER, timedelta(seconds=longest))


def device_state(
    *,
    model: str,
    last_seen_at: datetime | None,
    silent_since: datetime | None,
    now: datetime,
    reported: str | None = None,
) -> DeviceState:
    """`reported` is the device's own status (its last will says "offline" when it drops off)."""
    if last_seen_at is None:
        return "never_seen"
    if reported == "offline":
        return "offline"
    if silent_since is not None or now - last_seen_at > silent_after(model):
        return "silent"
    return "online"


def battery_percent(charge: float | None) -> int | None:
    """Contract v1 reports charge as 0..1; staff read percent."""
    return None if charge is None else round(charge * 100)


def severity_rank(severity: str) -> int:
    return _SEVERITY_RANK[Severity(severity)]


def most_severe(alerts: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The alert that matters most: highest severity, then the longest-running."""
    best: Mapping[str, Any] | None = None
    for alert in alerts:
        if best is None or (severity_rank(alert["severity"]), -alert["started_at"].timestamp()) > (
            severity_rank(best["severity"]),
            -best["started_at"].timestamp(),
        ):
            best = alert
    return best


def news2_from_finding(evidence: Mapping[str, Any], detected_at: datetime) -> News2Public:
    """Surface a NEWS2 finding without ever presenting a partial score as complete: the score is
    complete only when the finding says so AND names no missing parameter."""
    missing = [str(m) for m in evidence.get("missing", [])]
    complete = bool(evidence.get("complete")) and not missing and not evidence.get("partial")
    return News2Public(
        score=int(evidence["score"]),
        complete=complete,
        missing=missing,
        parameters={str(k): int(v) for k, v in evidence.get("parameter_scores", {}).items()},
        at=detected_at,
    )


@dataclass(frozen=True, slots=True)
class Latest:
    """The latest per-minute value of one device's metric."""

    device_id: str
    metric: str
    bucket: datetime
    mean: float


@dataclass(frozen=True, slots=True)
class LatestBp:
    device_id: str
    bucket: datetime
    systolic: float
    diastolic: float


def _newest(values: Iterable[Latest]) -> Latest | None:
    return max(values, key=lambda v: v.bucket, default=None)


def _vital(values: Sequence[Latest], metric: Metric) -> VitalValue | None:
    latest = _newest(v for v in values if v.metric == metric)
    if latest is None:
        return None
    return VitalValue(value=round(latest.mean, 1), unit=str(UNITS[metric]), at=latest.bucket)


def build_tiles(
    *,
    bed_rows: Sequence[Mapping[str, Any]],
    latest: Sequence[Latest],
    bps: Sequence[LatestBp],
    open_alerts: Sequence[Mapping[str, Any]],
    now: datetime,
) -> list[BedTile]:
    """One tile per bed, in the order of `bed_rows` (by bed label). `bed_rows` has one row per
    (bed, currently assigned device); a bed without a device has one row with NULL device."""
    by_device: dict[str, list[Latest]] = {}
    for value in latest:
        by_device.setdefault(value.device_id, []).append(value)
    bp_by_device = {bp.device_id: bp for bp in bps}
    alerts_by_resident: dict[str, list[Mapping[str, Any]]] = {}
    for alert in open_alerts:
        alerts_by_resident.setdefault(alert["resident_id"], []).append(alert)

    beds: dict[str, list[Mapping[str, Any]]] = {}
    for row in bed_rows:
        beds.setdefault(row["bed_id"], []).append(row)

    tiles = []
    for bed_id, rows in beds.items():
        first = rows[0]
        device_rows = [r for r in rows if r["device_id"] is not None]
        values = [v for r in device_rows for v in by_device.get(r["device_id"], ())]
        presence = _newest(v for v in values if v.metric == Metric.BED_PRESENCE)
        bp = max(
            (bp_by_device[r["device_id"]] for r in device_rows if r["device_id"] in bp_by_device),
            key=lambda b: b.bucket,
            default=None,
        )
        resident_id = first["resident_id"]
        resident_alerts = alerts_by_resident.get(resident_id, []) if resident_id else []
        clinical = most_severe(a for a in resident_alerts if a["channel"] == Channel.CLINICAL)
        tiles.append(
            BedTile(
                bed_id=bed_id,
                bed_label=first["label"],
                resident_id=resident_id,
                resident_name=first["display_name"],
                risk_tier=(
                    effective_risk_tier(
                        first["risk_tier"],
                        until=first["risk_tier_until"],
                        after=first["risk_tier_after"],
                        now=now,
                    )
                    if resident_id
                    else None
                ),
                presence=(
                    None
                    if presence is None
                    else "in_bed"
                    if presence.mean >= PRESENCE_IN_BED_MEAN
                    else "out_of_bed"
                ),
                presence_at=presence.bucket if presence else None,
                heart_rate=_vital(values, Metric.HEART_RATE),
                respiration_rate=_vital(values, Metric.RESPIRATION_RATE),
                spo2=_vital(values, Metric.SPO2),
                last_bp=(
                    None
                    if bp is None
                    else BloodPressure(
                        systolic=round(bp.systolic),
                        diastolic=round(bp.diastolic),
                        unit=str(UNITS[Metric.SYSTOLIC_BP]),
                        at=bp.bucket,
                    )
                ),
                clinical=ClinicalState.model_validate(clinical) if clinical else None,
                data_quality=_data_quality(resident_alerts, device_rows, now),
                devices=[
                    TileDevice(
                        device_id=r["device_id"],
                        model=r["model"],
                        last_seen_at=r["last_seen_at"],
                        battery_pct=battery_percent(r["battery"]),
                    )
                    for r in device_rows
                ],
            )
        )
    return tiles


def _data_quality(
    alerts: Sequence[Mapping[str, Any]], device_rows: Sequence[Mapping[str, Any]], now: datetime
) -> DataQualityState | None:
    """An open data-quality alert (the oldest), else a device silent past its interval. Kept
    apart from the clinical state: a silent mattress is not a sick resident."""
    open_dq = [a for a in alerts if a["channel"] == Channel.DATA_QUALITY]
    if open_dq:
        oldest = min(open_dq, key=lambda a: a["started_at"])
        return DataQualityState(
            alert_id=oldest["alert_id"], kind=oldest["kind"], since=oldest["started_at"]
        )
    silent = [
        r
        for r in device_rows
        if r["last_seen_at"] is not None
        and device_state(
            model=r["model"],
            last_seen_at=r["last_seen_at"],
            silent_since=r["silent_since"],
            now=now,
            reported=r["reported_state"],
        )
        in ("silent", "offline")
    ]
    if not silent:
        return None
    since = min(r["silent_since"] or r["last_seen_at"] for r in silent)
    return DataQualityState(alert_id=None, kind=SILENT_KIND, since=since)


def series_json(rows: Iterable[Sequence[Any]]) -> str:
    """The chart's `series` array as JSON text, from (metric, points JSON text) rows, in the
    order of CHART_METRICS."""
    order = {str(m): i for i, m in enumerate(CHART_METRICS)}
    parts = [
        f'{{"metric":{json.dumps(metric)},"unit":{json.dumps(str(UNITS[Metric(metric)]))},'
        f'"points":{points}}}'
        for metric, points in sorted(rows, key=lambda row: order[row[0]])
    ]
    return f"[{','.join(parts)}]"


def chart_json(head: ChartPublic, series: str) -> str:
    """`head` (a chart with no series) serialised with the prepared `series` JSON spliced in."""
    body = head.model_dump(mode="json", exclude={"series"})
    text = json.dumps(body, separators=(",", ":"))
    return f'{text[:-1]},"series":{series}}}'
