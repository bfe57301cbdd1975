"""Devices of the user's home site: availability, last seen, battery and quarantine counts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from dashboard._access import Permission, StaffIdentity
from dashboard._deps import AuditDep, ConnDep, NowDep, PageLimit, PageOffset, not_found, permit
from dashboard._read_models import DeviceDetailPublic, DevicesPublic
from dashboard._read_store import device_detail, device_site, list_devices

router = APIRouter(prefix="/devices", tags=["devices"])

DeviceReader = Annotated[StaffIdentity, Depends(permit(Permission.VIEW_DEVICES))]


@router.get("")
def get_devices(
    conn: ConnDep,
    staff: DeviceReader,
    now: NowDep,
    site_id: Annotated[str | None, Query(max_length=64)] = None,
    offset: PageOffset = 0,
    limit: PageLimit = 100,
) -> DevicesPublic:
    """Devices of the user's home site(s) (`site_id` narrows it; another site gives none).
    `battery_pct` is null until ingest stores the battery the status message carries."""
    sites = sorted(staff.home_site_ids if site_id is None else staff.home_site_ids & {site_id})
    data, count = list_devices(conn, site_ids=sites, offset=offset, limit=limit, now=now)
    return DevicesPublic(data=data, count=count)


@router.get("/{device_id}")
def get_device(
    device_id: str, conn: ConnDep, staff: DeviceReader, access: AuditDep, now: NowDep
) -> DeviceDetailPublic:
    """One device, with its quarantined messages by reason and its recent availability events."""
    site_id = device_site(conn, device_id)
    if site_id is None or not staff.sees_home(site_id):
        raise not_found("device")
    access.subject(site_id=site_id)
    detail = device_detail(conn, device_id, now=now)
    if detail is None:
        raise not_found("device")
    if detail.resident_id is not None:
        access.subject(resident_id=detail.resident_id)
    return detail
