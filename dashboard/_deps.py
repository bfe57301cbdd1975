"""Request dependencies as typed aliases: handlers take these as ordinary parameters.

Authentication: a session token from `POST /api/auth/login`, sent as ``Authorization: Bearer``
(API clients) or in the HttpOnly session cookie (the web UI, and EventSource, which cannot set
headers). A cookie-authenticated change must also carry ``X-Requested-With`` — a header a
cross-site form cannot send — so the cookie alone never authorises a change (CSRF).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import psycopg
from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool

from dashboard._access import Permission, StaffIdentity
from dashboard._staff_store import identity_for_token, resident_site_for
from eldercare.settings import Settings

SESSION_COOKIE = "eldercare_session"
CSRF_HEADER = "X-Requested-With"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_conn(request: Request) -> Iterator[psycopg.Connection]:
    pool: ConnectionPool = request.app.state.pool
    with pool.connection() as conn:
        yield conn


def get_now() -> datetime:
    """The request's clock (tests override this dependency with a fake clock)."""
    return datetime.now(UTC)


SettingsDep = Annotated[Settings, Depends(get_settings)]
# "function" scope: the transaction commits before the response is sent, so a client that
# reads right after a change (log in, then GET /me) sees it.
ConnDep = Annotated[psycopg.Connection, Depends(get_conn, scope="function")]
NowDep = Annotated[datetime, Depends(get_now)]


@dataclass(slots=True)
class AccessRecord:
    """What the audit middleware writes for this request; handlers name the record they read
    or changed (resident, site) so the audit can be searched by resident."""

    identity: StaffIdentity | None = None
    resident_id: str | None = None
    site_id: str | None = None

    def subject(self, *, resident_id: str | None = None, site_id: str | None = None) -> None:
        self.resident_id = resident_id or self.resident_id
        self.site_id = site_id or self.site_id


def get_access_record(request: Request) -> AccessRecord:
    record: AccessRecord | None = getattr(request.state, "access", None)
    if record is None:
        record = AccessRecord()
        request.state.access = record
    return record


AuditDep = Annotated[AccessRecord, Depends(get_access_record)]

_bearer = HTTPBearer(auto_error=False, description="Session token from POST /api/auth/login.")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False)


def session_token(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> str:
    if bearer is not None:
        return bearer.credentials
    if cookie:
        if request.method not in _SAFE_METHODS and not request.headers.get(CSRF_HEADER):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"a change made with the session cookie must send the {CSRF_HEADER} header",
            )
        return cookie
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "not logged in: POST /api/auth/login, then send 'Authorization: Bearer <token>'",
        headers={"WWW-Authenticate": "Bearer"},
    )


def current_staff(
    token: Annotated[str, Depends(session_token)],
    conn: ConnDep,
    now: NowDep,
    access: AuditDep,
) -> StaffIdentity:
    identity = identity_for_token(conn, token, now=now)
    if identity is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "session expired or ended: log in again",
            headers={"WWW-Authenticate": "Bearer"},
        )
    access.identity = identity
    return identity


StaffDep = Annotated[StaffIdentity, Depends(current_staff)]


def permit(permission: Permission) -> Callable[[StaffIdentity], StaffIdentity]:
    """A dependency giving the logged-in staff member when their role holds `permission`."""

    def check(staff: StaffDep) -> StaffIdentity:
        if not staff.can(permission):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"your role ({staff.role}) may not {permission.value.replace('_', ' ')}",
            )
        return staff

    check.__name__ = f"permit_{permission.value}"
    return check


Authenticated = Depends(current_staff)
# The home site's ward: residents, alerts and the overview.
WardReader = Annotated[StaffIdentity, Depends(permit(Permission.VIEW_WARD))]
# A page of a list: every list endpoint answers `{data, count}` for `offset`/`limit`.
PageOffset = Annotated[int, Query(ge=0)]
PageLimit = Annotated[int, Query(ge=1, le=500)]
# One resident's record: the permission admits the clinical roles; `require_resident` then admits
# the resident's home-site staff, or a site a consult or referral of theirs is addressed to.
RecordReader = Annotated[StaffIdentity, Depends(permit(Permission.READ_RECORDS))]


def not_found(what: str) -> HTTPException:
    """The answer for a record outside the user's sites: the same as for one that does not
    exist, so other care homes' record ids cannot be probed."""
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no {what} you can see with that id")


def require_resident(
    conn: psycopg.Connection, staff: StaffIdentity, access: AccessRecord, resident_id: str
) -> str:
    """The resident's site when `staff` may read their record (and note the read for the
    audit); 404 otherwise."""
    access.subject(resident_id=resident_id)
    site_id = resident_site_for(conn, staff, resident_id)
    if site_id is None:
        raise not_found("resident")
    access.subject(site_id=site_id)
    return site_id
