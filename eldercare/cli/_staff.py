"""`eldercare staff …`: staff accounts for the dashboard (the first site admin, password resets)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from eldercare.cli._app import _database_url, _settings, app
from eldercare.errors import ConfigError

staff_app = typer.Typer(
    help="Dashboard staff accounts: add, list, reset a password.", no_args_is_help=True
)
app.add_typer(staff_app, name="staff")

_PASSWORD_STDIN = typer.Option(
    "--password-stdin", help="Read the password from standard input instead of prompting."
)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return typer.get_text_stream("stdin").readline().rstrip("\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@staff_app.command("add")
def staff_add(
    username: Annotated[str, typer.Option(help="Login name: a-z, 0-9, '.', '_' or '-'.")],
    role: Annotated[
        str,
        typer.Option(help="nurse, charge_nurse, doctor, site_admin, specialist or network_admin."),
    ],
    display_name: Annotated[str, typer.Option(help="Name shown to colleagues.")],
    site: Annotated[
        str | None, typer.Option(help="The account's site (all roles but network_admin).")
    ] = None,
    alliance: Annotated[str | None, typer.Option(help="The network admin's alliance.")] = None,
    locale: Annotated[str, typer.Option(help="zh-CN or en.")] = "zh-CN",
    password_stdin: Annotated[bool, _PASSWORD_STDIN] = False,
) -> None:
    """Add a staff account (the first site admin of a site is made here; later ones in the UI)."""
    from dashboard import Role, StaffError, create_staff
    from eldercare.db import connect

    try:
        staff_role = Role(role)
    except ValueError as exc:
        raise ConfigError(f"unknown role {role!r}: use one of {', '.join(Role)}") from exc
    if locale not in ("zh-CN", "en"):
        raise ConfigError("--locale: use zh-CN or en")
    with connect(_database_url(_settings()), autocommit=True) as conn:
        try:
            account = create_staff(
                conn,
                username=username,
                display_name=display_name,
                role=staff_role,
                password=_password(password_stdin),
                now=datetime.now(UTC),
                site_id=site,
                alliance_id=alliance,
                locale=locale,
            )
        except StaffError as exc:
            raise ConfigError(str(exc)) from exc
    typer.echo(
        f"added {account.username} ({account.role}, {account.site_id or account.alliance_id})"
    )


@staff_app.command("list")
def staff_list(
    site: Annotated[str | None, typer.Option(help="Only this site's accounts.")] = None,
) -> None:
    """Staff accounts: username, role, site or alliance, active."""
    from eldercare.db import connect

    with connect(_database_url(_settings()), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT username, role, coalesce(site_id, alliance_id), active FROM staff_users"
            " WHERE %s::text IS NULL OR site_id = %s ORDER BY username",
            (site, site),
        ).fetchall()
    for username, role, where, active in rows:
        typer.echo(f"{username}\t{role}\t{where}\t{'active' if active else 'inactive'}")


@staff_app.command("reset-password")
def staff_reset_password(
    username: Annotated[str, typer.Argument(help="The account's login name.")],
    password_stdin: Annotated[bool, _PASSWORD_STDIN] = False,
) -> None:
    """Set a new password (ends the account's sessions and unlocks it)."""
    from dashboard import StaffError, update_staff
    from eldercare.db import connect

    with connect(_database_url(_settings()), autocommit=True) as conn:
        row = conn.execute(
            "SELECT user_id FROM staff_users WHERE username = %s", (username,)
        ).fetchone()
        if row is None:
            raise ConfigError(f"no staff account {username!r}")
        try:
            update_staff(conn, row[0], now=datetime.now(UTC), password=_password(password_stdin))
        except StaffError as exc:
            raise ConfigError(str(exc)) from exc
    typer.echo(f"password of {username} reset; their sessions have ended")
