"""Login, logout and who am I. The token is returned once and also set as an HttpOnly cookie."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from dashboard._access import Permission, Role, StaffIdentity
from dashboard._deps import (
    SESSION_COOKIE,
    ConnDep,
    NowDep,
    SettingsDep,
    StaffDep,
    session_token,
)
from dashboard._staff_store import (
    LoginRefused,
    authenticate,
    close_session,
    identity_of,
    open_session,
    record_access,
)

router = APIRouter(prefix="/auth", tags=["auth"])


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class StaffPublic(BaseModel):
    user_id: int
    username: str
    display_name: str
    role: Role
    site_id: str | None
    alliance_id: str | None
    locale: str
    permissions: list[Permission]
    home_site_ids: list[str]
    case_site_ids: list[str]

    @classmethod
    def of(cls, staff: StaffIdentity) -> StaffPublic:
        return cls(
            user_id=staff.user_id,
            username=staff.username,
            display_name=staff.display_name,
            role=staff.role,
            site_id=staff.site_id,
            alliance_id=staff.alliance_id,
            locale=staff.locale,
            permissions=sorted(staff.permissions),
            home_site_ids=sorted(staff.home_site_ids),
            case_site_ids=sorted(staff.case_site_ids),
        )


class Session(BaseModel):
    token: str
    expires_at: datetime
    staff: StaffPublic


@router.post(
    "/login",
    responses={401: {"description": "Wrong username or password, or account locked"}},
)
def login(
    body: Login,
    request: Request,
    response: Response,
    conn: ConnDep,
    now: NowDep,
    settings: SettingsDep,
) -> Session:
    """Start a session: the token works as a bearer token and is also set as a cookie."""
    try:
        account = authenticate(conn, body.username, body.password, now=now)
    except LoginRefused as exc:
        record_access(
            conn,
            at=now,
            identity=None,
            username=body.username,
            action="login_failed",
            method="POST",
            route="/api/auth/login",
            path=request.url.path,
            status=401,
        )
        conn.commit()  # keep the failure count and its audit row: the error below rolls back
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from exc
    lifetime = timedelta(hours=settings.api.session_hours)
    token, expires_at = open_session(conn, account.user_id, now=now, lifetime=lifetime)
    identity = identity_of(conn, account)
    record_access(
        conn,
        at=now,
        identity=identity,
        action="login",
        method="POST",
        route="/api/auth/login",
        path=request.url.path,
        status=200,
    )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(lifetime.total_seconds()),
        httponly=True,
        secure=settings.api.secure_cookies or settings.api.ssl_certfile is not None,
        samesite="strict",
        path="/",
    )
    return Session(token=token, expires_at=expires_at, staff=StaffPublic.of(identity))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(
    staff: StaffDep,
    token: Annotated[str, Depends(session_token)],
    response: Response,
    conn: ConnDep,
    now: NowDep,
) -> None:
    """End this session (the token stops working at once)."""
    close_session(conn, token, now=now)
    response.delete_cookie(SESSION_COOKIE, path="/")


@router.get("/me")
def me(staff: StaffDep) -> StaffPublic:
    """The logged-in staff member, their permissions and the sites they may see."""
    return StaffPublic.of(staff)
