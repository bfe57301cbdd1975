"""Staff accounts (site admins for their site, network admins for their alliance) and the
access audit: who read or changed which resident's record, when."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from psycopg.rows import dict_row
from pydantic import BaseModel, Field

from dashboard._access import Permission, Role, StaffIdentity
from dashboard._deps import ConnDep, NowDep, PageLimit, PageOffset, not_found, permit
from dashboard._staff_store import (
    StaffAccount,
    StaffError,
    create_staff,
    get_staff,
    list_staff,
    update_staff,
)

router = APIRouter(tags=["staff"])

StaffManager = Annotated[StaffIdentity, Depends(permit(Permission.MANAGE_STAFF))]
Auditor = Annotated[StaffIdentity, Depends(permit(Permission.VIEW_ACCESS_AUDIT))]
Locale = Annotated[str, Field(pattern=r"^(zh-CN|en)$")]


class StaffAccountPublic(BaseModel):
    user_id: int
    username: str
    display_name: str
    role: Role
    site_id: str | None
    alliance_id: str | None
    locale: str
    active: bool
    created_at: datetime


class StaffAccountsPublic(BaseModel):
    data: list[StaffAccountPublic]
    count: int


class StaffCreate(BaseModel):
    username: str = Field(min_length=3, max_length=64)
    display_name: str = Field(min_length=1, max_length=128)
    role: Role
    password: str = Field(min_length=12, max_length=256)
    site_id: str | None = Field(default=None, max_length=64)
    alliance_id: str | None = Field(default=None, max_length=64)
    locale: Locale = "zh-CN"


class StaffUpdate(BaseModel):
    active: bool | None = None
    password: str | None = Field(default=None, min_length=12, max_length=256)
    locale: Locale | None = None


class AccessAuditEntry(BaseModel):
    audit_id: int
    at: datetime
    user_id: int | None
    username: str | None
    role: str | None
    action: str
    method: str
    route: str
    path: str
    resident_id: str | None
    site_id: str | None
    status: int


class AccessAuditPublic(BaseModel):
    data: list[AccessAuditEntry]
    count: int


def _manages(
    manager: StaffIdentity, account_site: str | None, account_alliance: str | None
) -> bool:
    return account_site in manager.administered_site_ids or (
        account_alliance is not None and account_alliance == manager.alliance_id
    )


def _public(account: StaffAccount) -> StaffAccountPublic:
    return StaffAccountPublic.model_validate(account, from_attributes=True)


@router.get("/staff")
def list_staff_route(
    manager: StaffManager,
    conn: ConnDep,
    offset: PageOffset = 0,
    limit: PageLimit = 100,
) -> StaffAccountsPublic:
    """Accounts this manager looks after: their site's, or their alliance's."""
    accounts, count = list_staff(
        conn,
        site_ids=manager.administered_site_ids,
        alliance_id=manager.alliance_id,
        offset=offset,
        limit=limit,
    )
    return StaffAccountsPublic(data=[_public(a) for a in accounts], count=count)


@router.post("/staff", status_code=status.HTTP_201_CREATED)
def create_staff_route(
    body: StaffCreate, manager: StaffManager, conn: ConnDep, now: NowDep
) -> StaffAccountPublic:
    """Add an account at a site (or alliance) this manager looks after, with a role they may
    grant."""
    if not manager.may_grant(body.role):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"you may not create {body.role} accounts")
    if not _manages(manager, body.site_id, body.alliance_id):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "you may only add accounts at sites you administer"
        )
    try:
        account = create_staff(
            conn,
            username=body.username,
            display_name=body.display_name,
            role=body.role,
            password=body.password,
            now=now,
            site_id=body.site_id,
            alliance_id=body.alliance_id,
            locale=body.locale,
        )
    except StaffError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    return _public(account)


@router.patch("/staff/{user_id}")
def update_staff_route(
    user_id: int, body: StaffUpdate, manager: StaffManager, conn: ConnDep, now: NowDep
) -> StaffAccountPublic:
    """Deactivate or reactivate an account, reset its password or change its language;
    deactivation and password resets end its sessions."""
    account = get_staff(conn, user_id)
    if account is None or not _manages(manager, account.site_id, account.alliance_id):
        raise not_found("staff account")
    if account.user_id == manager.user_id and body.active is False:
        raise HTTPException(status.HTTP_409_CONFLICT, "you cannot deactivate your own account")
    try:
        account = update_staff(
            conn, user_id, now=now, active=body.active, password=body.password, locale=body.locale
        )
    except StaffError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    return _public(account)


@router.get("/access-audit")
def access_audit(
    auditor: Auditor,
    conn: ConnDep,
    resident_id: Annotated[str | None, Query(max_length=64)] = None,
    user_id: int | None = None,
    offset: PageOffset = 0,
    limit: PageLimit = 100,
) -> AccessAuditPublic:
    """Reads and changes at the auditor's sites (or by their staff), newest first."""
    sites = sorted(auditor.administered_site_ids)
    where = (
        "WHERE (a.site_id = ANY(%(sites)s) OR u.site_id = ANY(%(sites)s)"
        " OR (u.alliance_id IS NOT NULL AND u.alliance_id = %(alliance)s))"
        " AND (%(resident)s::text IS NULL OR a.resident_id = %(resident)s)"
        " AND (%(user)s::bigint IS NULL OR a.user_id = %(user)s)"
    )
    params = {
        "sites": sites,
        "alliance": auditor.alliance_id,
        "resident": resident_id,
        "user": user_id,
        "offset": offset,
        "limit": limit,
    }
    source = "FROM access_audit a LEFT JOIN staff_users u USING (user_id)"
    (count,) = conn.execute(f"SELECT count(*) {source} {where}", params).fetchone()  # type: ignore[misc]
    rows = (
        conn.cursor(row_factory=dict_row)
        .execute(
            "SELECT a.audit_id, a.at, a.user_id, a.username, a.role, a.action, a.method,"
            f" a.route, a.path, a.resident_id, a.site_id, a.status {source} {where}"
            " ORDER BY a.audit_id DESC OFFSET %(offset)s LIMIT %(limit)s",
            params,
        )
        .fetchall()
    )
    return AccessAuditPublic(data=[AccessAuditEntry(**r) for r in rows], count=count)
