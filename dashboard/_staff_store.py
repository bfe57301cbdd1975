"""Staff accounts, sessions and the access audit in SQL. Passwords are argon2id hashes
(argon2-cffi); session tokens are random and stored only as their SHA-256."""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from psycopg.rows import dict_row

from consults import sites_visible_to
from dashboard._access import Permission, Role, StaffIdentity, home_sites

# argon2-cffi's defaults are RFC 9106's second recommended option (argon2id, t=3, 64 MiB).
_HASHER = PasswordHasher()

# After this many wrong passwords in a row the account locks for LOCKOUT (OWASP Authentication
# Cheat Sheet, "Account Lockout"); a correct password afterwards resets the count.
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 12  # NIST SP 800-63B §5.1.1.2 asks for at least 8; we ask for 12


class StaffError(Exception):
    """A refused account operation; the message says what to fix."""


class LoginRefused(StaffError):
    pass


@dataclass(frozen=True, slots=True)
class StaffAccount:
    user_id: int
    username: str
    display_name: str
    role: Role
    site_id: str | None
    alliance_id: str | None
    locale: str
    active: bool
    created_at: datetime


_ACCOUNT_COLUMNS = (
    "user_id, username, display_name, role, site_id, alliance_id, locale, active, created_at"
)


def _account(row: dict[str, object]) -> StaffAccount:
    return StaffAccount(**{**row, "role": Role(str(row["role"]))})  # type: ignore[arg-type]


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffError(f"password too short: use at least {MIN_PASSWORD_LENGTH} characters")


def create_staff(
    conn: psycopg.Connection,
    *,
    username: str,
    display_name: str,
    role: Role,
    password: str,
    now: datetime,
    site_id: str | None = None,
    alliance_id: str | None = None,
    locale: str = "zh-CN",
) -> StaffAccount:
    """Add a staff account; a network admin belongs to an alliance, everyone else to a site."""
    check_password_strength(password)
    if role is Role.NETWORK_ADMIN and (alliance_id is None or site_id is not None):
        raise StaffError("a network admin belongs to an alliance: give alliance_id, not site_id")
    if role is not Role.NETWORK_ADMIN and (site_id is None or alliance_id is not None):
        raise StaffError(f"a {role} belongs to a site: give site_id, not alliance_id")
    try:
        row = (
            conn.cursor(row_factory=dict_row)
            .execute(
                "INSERT INTO staff_users (username, display_name, role, site_id, alliance_id,"
                " password_hash, locale, created_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                f" RETURNING {_ACCOUNT_COLUMNS}",
                (
                    username,
                    display_name,
                    role,
                    site_id,
                    alliance_id,
                    _HASHER.hash(password),
                    locale,
                    now,
                    now,
                ),
            )
            .fetchone()
        )
    except psycopg.errors.UniqueViolation as exc:
        raise StaffError(f"username {username!r} is taken") from exc
    except psycopg.errors.ForeignKeyViolation as exc:
        raise StaffError(f"unknown site {site_id!r} or alliance {alliance_id!r}") from exc
    except psycopg.errors.CheckViolation as exc:
        raise StaffError(
            "username: 3-64 characters of a-z, 0-9, '.', '_' or '-', starting with a-z or 0-9"
        ) from exc
    assert row is not None
    return _account(row)


def list_staff(
    conn: psycopg.Connection,
    *,
    site_ids: frozenset[str],
    alliance_id: str | None,
    offset: int = 0,
    limit: int | None = None,
) -> tuple[list[StaffAccount], int]:
    """One page of the accounts at `site_ids` or of `alliance_id`, by username, and the total."""
    where = " WHERE site_id = ANY(%s) OR (alliance_id IS NOT NULL AND alliance_id = %s)"
    params = (list(site_ids), alliance_id)
    (count,) = conn.execute(f"SELECT count(*) FROM staff_users{where}", params).fetchone()  # type: ignore[misc]
    rows = (
        conn.cursor(row_factory=dict_row)
        .execute(
            f"SELECT {_ACCOUNT_COLUMNS} FROM staff_users{where}"
            " ORDER BY username OFFSET %s LIMIT %s",
            (*params, offset, limit),
        )
        .fetchall()
    )
    return [_account(r) for r in rows], int(count)


def get_staff(conn: psycopg.Connection, user_id: int) -> StaffAccount | None:
    row = (
        conn.cursor(row_factory=dict_row)
        .execute(f"SELECT {_ACCOUNT_COLUMNS} FROM staff_users WHERE user_id = %s", (user_id,))
        .fetchone()
    )
    return _account(row) if row else None


def update_staff(
    conn: psycopg.Connection,
    user_id: int,
    *,
    now: datetime,
    active: bool | None = None,
    password: str | None = None,
    locale: str | None = None,
) -> StaffAccount:
    """Deactivate/reactivate, reset a password or change the language; deactivating or resetting
    the password ends the account's sessions."""
    if password is not None:
        check_password_strength(password)
    with conn.transaction():
        row = (
            conn.cursor(row_factory=dict_row)
            .execute(
                "UPDATE staff_users SET active = coalesce(%s, active),"
                " password_hash = coalesce(%s, password_hash), locale = coalesce(%s, locale),"
                " failed_logins = CASE WHEN %s::text IS NULL THEN failed_logins ELSE 0 END,"
                " locked_until = CASE WHEN %s::text IS NULL THEN locked_until END,"
                f" updated_at = %s WHERE user_id = %s RETURNING {_ACCOUNT_COLUMNS}",
                (
                    active,
                    _HASHER.hash(password) if password else None,
                    locale,
                    password,
                    password,
                    now,
                    user_id,
                ),
            )
            .fetchone()
        )
        if row is None:
            raise StaffError(f"no staff account {user_id}")
        if active is False or password is not None:
            conn.execute(
                "UPDATE staff_sessions SET revoked_at = %s"
                " WHERE user_id = %s AND revoked_at IS NULL",
                (now, user_id),
            )
    return _account(row)


def authenticate(
    conn: psycopg.Connection, username: str, password: str, *, now: datetime
) -> StaffAccount:
    """The account for a username and password, or LoginRefused with one message for every
    failure, so a caller cannot tell which usernames exist."""
    refused = LoginRefused("wrong username or password, or the account is locked or inactive")
    with conn.transaction():
        row = conn.execute(
            "SELECT user_id, password_hash, active, locked_until FROM staff_users"
            " WHERE username = %s FOR UPDATE",
            (username,),
        ).fetchone()
        if row is None:
            _verify(_dummy_hash(), password)
            raise refused
        user_id, password_hash, active, locked_until = row
        if not active or (locked_until is not None and locked_until > now):
            _verify(_dummy_hash(), password)
            raise refused
        if not _verify(password_hash, password):
            conn.execute(
                "UPDATE staff_users SET failed_logins = failed_logins + 1,"
                " locked_until = CASE WHEN failed_logins + 1 >= %s THEN %s END"
                " WHERE user_id = %s",
                (MAX_FAILED_LOGINS, now + LOCKOUT, user_id),
            )
        else:
            rehash = _HASHER.hash(password) if _HASHER.check_needs_rehash(password_hash) else None
            conn.execute(
                "UPDATE staff_users SET failed_logins = 0, locked_until = NULL,"
                " password_hash = coalesce(%s, password_hash) WHERE user_id = %s",
                (rehash, user_id),
            )
            account = get_staff(conn, user_id)
            assert account is not None
            return account
    raise refused


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when the username is unknown, so both answers take as long."""
    return _HASHER.hash(secrets.token_hex(16))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def open_session(
    conn: psycopg.Connection, user_id: int, *, now: datetime, lifetime: timedelta
) -> tuple[str, datetime]:
    """A new session token (shown once) and when it expires."""
    token = secrets.token_urlsafe(32)
    expires_at = now + lifetime
    conn.execute(
        "INSERT INTO staff_sessions (token_hash, user_id, created_at, expires_at)"
        " VALUES (%s, %s, %s, %s)",
        (_token_hash(token), user_id, now, expires_at),
    )
    return token, expires_at


def close_session(conn: psycopg.Connection, token: str, *, now: datetime) -> None:
    conn.execute(
        "UPDATE staff_sessions SET revoked_at = %s WHERE token_hash = %s AND revoked_at IS NULL",
        (now, _token_hash(token)),
    )


def identity_for_token(
    conn: psycopg.Connection, token: str, *, now: datetime
) -> StaffIdentity | None:
    """The identity behind a live session token, with the sites it may see, or None."""
    row = (
        conn.cursor(row_factory=dict_row)
        .execute(
            f"SELECT {', '.join('u.' + c for c in _ACCOUNT_COLUMNS.split(', '))}"
            " FROM staff_sessions s JOIN staff_users u USING (user_id)"
            " WHERE s.token_hash = %s AND s.revoked_at IS NULL AND s.expires_at > %s AND u.active",
            (_token_hash(token), now),
        )
        .fetchone()
    )
    return identity_of(conn, _account(row)) if row else None


def identity_of(conn: psycopg.Connection, account: StaffAccount) -> StaffIdentity:
    if account.role is Role.NETWORK_ADMIN:
        rows = conn.execute(
            "SELECT site_id FROM alliance_members WHERE alliance_id = %s", (account.alliance_id,)
        ).fetchall()
        case_sites = frozenset(site for (site,) in rows)
    else:
        assert account.site_id is not None
        case_sites = _case_sites(conn, account.site_id)
    return StaffIdentity(
        user_id=account.user_id,
        username=account.username,
        display_name=account.display_name,
        role=account.role,
        site_id=account.site_id,
        alliance_id=account.alliance_id,
        locale=account.locale,
        home_site_ids=home_sites(account.role, account.site_id),
        case_site_ids=case_sites,
    )


# Sites that receive consults and referrals from the alliance's members; their staff see every
# member's cases (issue 7: "a hospital's staff see the consults and referrals of their alliance's
# member sites"). Care homes and home beds see only their own cases: care homes are tenants.
_RECEIVING_TIERS = ("community_health_centre", "tertiary_hospital")


def _case_sites(conn: psycopg.Connection, site_id: str) -> frozenset[str]:
    row = conn.execute("SELECT tier FROM sites WHERE site_id = %s", (site_id,)).fetchone()
    if row is not None and row[0] in _RECEIVING_TIERS:
        return sites_visible_to(conn, site_id)
    return frozenset({site_id})


def resident_site_for(
    conn: psycopg.Connection, identity: StaffIdentity, resident_id: str
) -> str | None:
    """The resident's site when the identity may read the resident's record, else None.

    Home staff read their own site's residents; a receiving site (specialist or doctor with
    ANSWER_CASES) reads a resident while a consult or referral of theirs is addressed to it."""
    row = conn.execute(
        "SELECT r.site_id,"
        " EXISTS (SELECT 1 FROM consults c WHERE c.resident_id = r.resident_id"
        "         AND c.target_site_id = %(site)s)"
        " OR EXISTS (SELECT 1 FROM referrals f WHERE f.resident_id = r.resident_id"
        "         AND (f.to_site_id = %(site)s OR %(site)s = ANY(f.tried_site_ids)))"
        " FROM residents r WHERE r.resident_id = %(resident)s",
        {"site": identity.site_id, "resident": resident_id},
    ).fetchone()
    if row is None:
        return None
    site_id, addressed_to_viewer = row
    if identity.can(Permission.VIEW_WARD) and identity.sees_home(site_id):
        return str(site_id)
    if (
        identity.can(Permission.ANSWER_CASES)
        and identity.site_id is not None
        and addressed_to_viewer
    ):
        return str(site_id)
    return None


def record_access(
    conn: psycopg.Connection,
    *,
    at: datetime,
    identity: StaffIdentity | None,
    action: str,
    method: str,
    route: str,
    path: str,
    status: int,
    resident_id: str | None = None,
    site_id: str | None = None,
    username: str | None = None,
) -> None:
    conn.execute(
        "INSERT INTO access_audit (at, user_id, username, role, action, method, route, path,"
        " resident_id, site_id, status) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            at,
            identity.user_id if identity else None,
            identity.username if identity else username,
            identity.role if identity else None,
            action,
            method,
            route,
            path,
            resident_id,
            site_id,
            status,
        ),
    )
