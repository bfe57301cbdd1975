"""Database access: connections and the migration runner.

Migrations are ``eldercare/migrations/NNNN_name.sql`` files applied in version order; the applied
versions are recorded in ``schema_migrations`` so running the runner again is a no-op. A
version may come in two variants, ``NNNN_name.timescale.sql`` and ``NNNN_name.plain.sql``;
the runner picks the Timescale one only when the ``timescaledb`` extension is available (see
`choose_backend`).

A file whose first line is ``-- eldercare:no-transaction`` runs statement by statement outside a
transaction (statements end with ``;`` at the end of a line); every other file runs in one
transaction together with its version record.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import psycopg
from psycopg_pool import ConnectionPool

from eldercare.errors import ConfigError, MigrationError, StorageError
from eldercare.settings import DatabaseSettings

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
NO_TRANSACTION_MARK = "-- eldercare:no-transaction"
_FILE_NAME = re.compile(
    r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)(?:\.(?P<variant>plain|timescale))?\.sql$"
)
_STATEMENT_END = re.compile(r";[ \t]*\r?$", re.MULTILINE)
# Any constant works; it only has to be the same for every eldercare process.
_MIGRATION_LOCK_KEY = 0x0E1DE5CA


class Backend(StrEnum):
    PLAIN = "plain"
    TIMESCALE = "timescale"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    variant: Backend | None
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def in_transaction(self) -> bool:
        return not self.sql.startswith(NO_TRANSACTION_MARK)

    def statements(self) -> list[str]:
        """The file split into statements (used for files run outside a transaction)."""
        parts = (part.strip() for part in _STATEMENT_END.split(self.sql))
        return [part for part in parts if _has_code(part)]


def _has_code(sql: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in sql.splitlines())


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """All migration files in a folder, sorted by version then variant."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(
                f"{path.name}: migration files are named NNNN_name[.plain|.timescale].sql"
            )
        variant = match["variant"]
        found.append(
            Migration(
                version=int(match["version"]),
                name=match["name"],
                variant=Backend(variant) if variant else None,
                path=path,
            )
        )
    return found


def plan(
    migrations: Iterable[Migration], *, applied: Mapping[int, str], backend: Backend
) -> list[Migration]:
    """The migrations still to apply, in order, choosing each version's variant for `backend`."""
    by_version: dict[int, list[Migration]] = {}
    for migration in migrations:
        by_version.setdefault(migration.version, []).append(migration)
    todo = []
    for version in sorted(by_version):
        candidates = by_version[version]
        common = [m for m in candidates if m.variant is None]
        variants = {m.variant: m for m in candidates if m.variant is not None}
        if common and variants or len(common) > 1:
            raise MigrationError(f"version {version:04d}: one common file or one file per backend")
        if variants and set(variants) != set(Backend):
            raise MigrationError(f"version {version:04d}: needs both .plain.sql and .timescale.sql")
        if version in applied:
            continue
        todo.append(common[0] if common else variants[backend])
    return todo


def choose_backend(*, mode: str, timescale_available: bool, applied_variants: set[str]) -> Backend:
    """Timescale when wanted and available; a database keeps the backend it was created with."""
    if applied_variants:
        if len(applied_variants) > 1:
            raise MigrationError(f"database mixes backends {sorted(applied_variants)}")
        recorded = Backend(next(iter(applied_variants)))
        if mode == "on" and recorded is Backend.PLAIN:
            raise ConfigError(
                "this database was created without TimescaleDB; converting it is not automatic"
            )
        return recorded
    if mode == "on" and not timescale_available:
        raise ConfigError(
            "ELDERCARE_DATABASE_TIMESCALE=on but the timescaledb extension is missing"
        )
    if mode == "off":
        return Backend.PLAIN
    return Backend.TIMESCALE if timescale_available else Backend.PLAIN


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection:
    try:
        return psycopg.connect(url, autocommit=autocommit)
    except psycopg.OperationalError as exc:
        raise StorageError(f"cannot connect to PostgreSQL: {exc}".strip()) from exc


def create_pool(settings: DatabaseSettings, *, name: str) -> ConnectionPool:
    """A connection pool, not yet opened (open it in the owner's start-up)."""
    if settings.url is None:
        raise ConfigError("no database URL configured (embedded database not started)")
    return ConnectionPool(
        settings.url,
        min_size=settings.pool_min,
        max_size=settings.pool_max,
        name=name,
        open=False,
    )


def timescale_available(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
    ).fetchone()
    return row is not None


def current_backend(conn: psycopg.Connection) -> Backend:
    """The backend the schema was built for (plain when nothing is recorded yet)."""
    row = conn.execute(
        "SELECT variant FROM schema_migrations WHERE variant IS NOT NULL LIMIT 1"
    ).fetchone()
    return Backend(row[0]) if row else Backend.PLAIN


def migrate(url: str, *, mode: str = "auto", directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply pending migrations; returns what was applied (empty when up to date)."""
    migrations = discover(directory)
    with connect(url, autocommit=True) as conn:
        conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version     integer PRIMARY KEY,
                   name        text NOT NULL,
                   variant     text,
                   applied_at  timestamptz NOT NULL DEFAULT now())"""
        )
        # Several processes may start together (eldercare up); one migrates, the others wait.
        conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK_KEY,))
        try:
            rows = conn.execute("SELECT version, name, variant FROM schema_migrations").fetchall()
            applied = {version: name for version, name, _ in rows}
            backend = choose_backend(
                mode=mode,
                timescale_available=timescale_available(conn),
                applied_variants={variant for _, _, variant in rows if variant},
            )
            todo = plan(migrations, applied=applied, backend=backend)
            for migration in todo:
                _apply(conn, migration)
            return todo
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK_KEY,))


def _apply(conn: psycopg.Connection, migration: Migration) -> None:
    log.info("applying migration %s", migration.path.name)
    record = "INSERT INTO schema_migrations (version, name, variant) VALUES (%s, %s, %s)"
    values = (migration.version, migration.name, migration.variant)
    try:
        if migration.in_transaction:
            with conn.transaction():
                conn.execute(migration.sql.encode())
                conn.execute(record, values)
        else:
            for statement in migration.statements():
                conn.execute(statement.encode())
            conn.execute(record, values)
    except psycopg.Error as exc:
        raise MigrationError(f"{migration.path.name}: {exc}".strip()) from exc
