"""The TimescaleDB variant of migration 0003, checked without a database.

TimescaleDB cannot be installed here, so these tests parse the file with pglast (PostgreSQL's own
parser) and inspect the syntax trees: every statement parses, the hypertable, compression, policies
and continuous aggregate are there with the documented argument names, and `readings_1m` has the
columns (and types) of the plain table from 0003_timeseries.plain.sql. They also check that the
runner picks the right variant for each backend.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pglast
import pytest
from pglast import ast
from pglast.enums import AlterTableType, ObjectType

from eldercare.db import (
    MIGRATIONS_DIR,
    NO_TRANSACTION_MARK,
    Backend,
    Migration,
    choose_backend,
    discover,
    plan,
)

TIMESCALE_FILE = MIGRATIONS_DIR / "0003_timeseries.timescale.sql"
PLAIN_FILE = MIGRATIONS_DIR / "0003_timeseries.plain.sql"
READINGS_FILE = MIGRATIONS_DIR / "0002_readings.sql"

# Parameter names of the TimescaleDB functions used, as declared in TimescaleDB's SQL API (and its
# API reference pages). Only the leading parameters whose position is certain may be positional.
SIGNATURES: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "create_hypertable": (
        ("relation", "dimension"),
        frozenset({"create_default_indexes", "if_not_exists", "migrate_data"}),
    ),
    "by_range": (
        ("column_name", "partition_interval"),
        frozenset({"partition_func", "partition_origin"}),
    ),
    "add_compression_policy": (
        ("hypertable", "compress_after"),
        frozenset(
            {
                "if_not_exists",
                "schedule_interval",
                "initial_start",
                "timezone",
                "compress_created_before",
                "hypercore_use_access_method",
            }
        ),
    ),
    "add_columnstore_policy": (
        ("hypertable", "after"),
        frozenset(
            {
                "if_not_exists",
                "schedule_interval",
                "initial_start",
                "timezone",
                "created_before",
                "hypercore_use_access_method",
            }
        ),
    ),
    "add_retention_policy": (
        ("relation", "drop_after"),
        frozenset(
            {
                "if_not_exists",
                "schedule_interval",
                "initial_start",
                "timezone",
                "drop_created_before",
            }
        ),
    ),
    "add_continuous_aggregate_policy": (
        ("continuous_aggregate", "start_offset", "end_offset", "schedule_interval"),
        frozenset(
            {
                "if_not_exists",
                "initial_start",
                "timezone",
                "include_tiered_data",
                "buckets_per_batch",
                "max_batches_per_execution",
                "refresh_newest_first",
            }
        ),
    ),
}


# --- helpers ---------------------------------------------------------------------------------


def _split(sql: str) -> list[str]:
    """Statement texts, found by PostgreSQL's scanner only, so a statement that does not parse is
    still isolated and can be named in the failure."""
    return list(pglast.split(sql, with_parser=False))


def _parse_one(text: str) -> ast.Node:
    (raw,) = pglast.parse_sql(text)
    return raw.stmt


@dataclass(frozen=True)
class Call:
    name: str
    args: dict[str, ast.Node]  # bound by parameter name
    via_call: bool  # CALL procedure(...) rather than SELECT function(...)


def _bind(func: ast.FuncCall, *, via_call: bool = False) -> Call:
    """A call of one of the SIGNATURES functions, its arguments keyed by parameter name; fails on
    a parameter name those functions do not have."""
    name = func.funcname[-1].sval
    positional_names, keyword_names = SIGNATURES[name]
    bound: dict[str, ast.Node] = {}
    positional = [a for a in func.args or () if not isinstance(a, ast.NamedArgExpr)]
    named = [a for a in func.args or () if isinstance(a, ast.NamedArgExpr)]
    assert len(positional) <= len(positional_names), (
        f"{name}: pass arguments after {', '.join(positional_names)} by name"
    )
    bound.update(zip(positional_names, positional, strict=False))
    for arg in named:
        assert arg.name in positional_names or arg.name in keyword_names, (
            f"{name}: no parameter named {arg.name!r}"
        )
        assert arg.name not in bound, f"{name}: {arg.name} given twice"
        bound[arg.name] = arg.arg
    return Call(name, bound, via_call)


def _call(stmt: ast.Node) -> Call | None:
    """`SELECT f(...)` (no FROM) or `CALL p(...)` of a known TimescaleDB API, bound by name."""
    if isinstance(stmt, ast.CallStmt):
        func = stmt.funccall
        via_call = True
    elif (
        isinstance(stmt, ast.SelectStmt)
        and stmt.fromClause is None
        and stmt.targetList is not None
        and len(stmt.targetList) == 1
        and isinstance(stmt.targetList[0].val, ast.FuncCall)
    ):
        func = stmt.targetList[0].val
        via_call = False
    else:
        return None
    if func.funcname[-1].sval not in SIGNATURES:
        return None
    return _bind(func, via_call=via_call)


def _calls(statements: list[ast.Node], name: str) -> list[Call]:
    return [c for c in map(_call, statements) if c is not None and c.name == name]


def _string(node: ast.Node) -> str:
    assert isinstance(node, ast.A_Const) and isinstance(node.val, ast.String), node
    return node.val.sval


def _boolean(node: ast.Node) -> bool:
    assert isinstance(node, ast.A_Const) and isinstance(node.val, ast.Boolean), node
    return node.val.boolval


def _type_name(type_name: ast.TypeName) -> str:
    name = type_name.names[-1].sval
    return {"integer": "int4", "int": "int4", "bigint": "int8"}.get(name, name)


_UNIT = {
    "second": 1,
    "seconds": 1,
    "minute": 60,
    "minutes": 60,
    "hour": 3600,
    "hours": 3600,
    "day": 86400,
    "days": 86400,
    "week": 604800,
    "weeks": 604800,
}


def _interval(node: ast.Node) -> timedelta:
    """An `INTERVAL '...'` literal (typed, not a bare string or number), as a timedelta."""
    assert isinstance(node, ast.TypeCast) and _type_name(node.typeName) == "interval", node
    parts = _string(node.arg).lower().split()
    assert len(parts) % 2 == 0, parts
    seconds = sum(int(n) * _UNIT[unit] for n, unit in zip(parts[::2], parts[1::2], strict=True))
    return timedelta(seconds=seconds)


def _reloptions(defs: tuple[ast.DefElem, ...]) -> dict[str, str | None]:
    """The `timescaledb.x = 'y'` options of a WITH/SET list as {'x': 'y'}; a bare option maps to
    None. Options outside the timescaledb namespace are left out."""
    options: dict[str, str | None] = {}
    for d in defs:
        if d.defnamespace != "timescaledb":
            continue
        if d.arg is None:
            options[d.defname] = None
        elif isinstance(d.arg, ast.String):  # also what `= false` or `= true` parse to
            options[d.defname] = d.arg.sval
        elif isinstance(d.arg, ast.Integer):
            options[d.defname] = str(d.arg.ival)
        else:
            raise AssertionError(f"unexpected value for timescaledb.{d.defname}: {d.arg}")
    return options


def _is_true(value: str | None) -> bool:
    return value is None or value.lower() in {"true", "on", "1"}


def _columns(path: Path, table: str) -> dict[str, str]:
    """Column name -> normalized type of `CREATE TABLE table` in a migration file."""
    for text in _split(path.read_text(encoding="utf-8")):
        stmt = _parse_one(text)
        if isinstance(stmt, ast.CreateStmt) and stmt.relation.relname == table:
            return {
                e.colname: _type_name(e.typeName)
                for e in stmt.tableElts
                if isinstance(e, ast.ColumnDef)
            }
    raise AssertionError(f"{path.name} does not create {table}")


def _timescale_migration() -> Migration:
    (migration,) = [m for m in discover() if m.path == TIMESCALE_FILE]
    return migration


@pytest.fixture(scope="module")
def statements() -> list[ast.Node]:
    return [_parse_one(text) for text in _split(TIMESCALE_FILE.read_text(encoding="utf-8"))]


@pytest.fixture(scope="module")
def continuous_aggregate(statements: list[ast.Node]) -> ast.CreateTableAsStmt:
    found = [
        s
        for s in statements
        if isinstance(s, ast.CreateTableAsStmt)
        and s.objtype == ObjectType.OBJECT_MATVIEW
        and s.into.rel.relname == "readings_1m"
    ]
    assert len(found) == 1, "expected one CREATE MATERIALIZED VIEW readings_1m"
    return found[0]


# --- the file parses -------------------------------------------------------------------------


def test_every_statement_parses() -> None:
    texts = _split(TIMESCALE_FILE.read_text(encoding="utf-8"))
    assert texts, "no statements found"
    for text in texts:
        try:
            parsed = pglast.parse_sql(text)
        except pglast.parser.ParseError as exc:
            pytest.fail(f"statement does not parse ({exc}):\n{text}")
        assert len(parsed) == 1, f"scanner and parser disagree on:\n{text}"


# --- the required pieces ---------------------------------------------------------------------


def test_creates_the_extension_first(statements: list[ast.Node]) -> None:
    first = statements[0]
    assert isinstance(first, ast.CreateExtensionStmt)
    assert first.extname == "timescaledb"
    assert first.if_not_exists


def test_readings_becomes_a_hypertable_on_ts_in_one_day_chunks(statements: list[ast.Node]) -> None:
    (call,) = _calls(statements, "create_hypertable")
    assert not call.via_call
    assert _string(call.args["relation"]) == "readings"
    dimension = call.args["dimension"]
    assert isinstance(dimension, ast.FuncCall), "use the by_range() dimension builder (2.13+ API)"
    by_range = _bind(dimension)
    assert by_range.name == "by_range"
    assert _string(by_range.args["column_name"]) == "ts"
    assert _interval(by_range.args["partition_interval"]) == timedelta(days=1)
    # 0002 already holds readings_ts_idx (ts DESC); a pre-existing database may hold rows.
    assert _boolean(call.args["create_default_indexes"]) is False
    assert _boolean(call.args["migrate_data"]) is True
    # Everything else works on the hypertable, so it is created right after the extension.
    second = _call(statements[1])
    assert second is not None and second.name == "create_hypertable"


def test_compression_is_segmented_by_device_and_metric_newest_first(
    statements: list[ast.Node],
) -> None:
    settings = [
        _reloptions(cmd.def_)
        for s in statements
        if isinstance(s, ast.AlterTableStmt) and s.relation.relname == "readings"
        for cmd in s.cmds
        if cmd.subtype == AlterTableType.AT_SetRelOptions
    ]
    assert len(settings) == 1, "expected one ALTER TABLE readings SET (...)"
    (options,) = settings
    # The compression names, or the hypercore names that replace them from 2.18 on.
    enabled = options.get("compress", options.get("enable_columnstore", "false"))
    assert _is_true(enabled)
    segmentby = options.get("compress_segmentby", options.get("segmentby"))
    orderby = options.get("compress_orderby", options.get("orderby"))
    assert segmentby is not None and orderby is not None
    assert [c.strip() for c in segmentby.split(",")] == ["device_id", "metric"]
    assert re.sub(r"\s+", " ", orderby.strip()).lower() == "ts desc"


def test_compression_policy_after_seven_days(statements: list[ast.Node]) -> None:
    calls = _calls(statements, "add_compression_policy") + _calls(
        statements, "add_columnstore_policy"
    )
    assert len(calls) == 1
    (call,) = calls
    # add_columnstore_policy is a procedure (CALL), add_compression_policy a function (SELECT).
    assert call.via_call is (call.name == "add_columnstore_policy")
    assert _string(call.args["hypertable"]) == "readings"
    after = call.args.get("compress_after", call.args.get("after"))
    assert after is not None
    assert _interval(after) == timedelta(days=7)


def test_retention_policy_after_four_hundred_days(statements: list[ast.Node]) -> None:
    (call,) = _calls(statements, "add_retention_policy")
    assert _string(call.args["relation"]) == "readings"
    assert _interval(call.args["drop_after"]) == timedelta(days=400)


def test_continuous_aggregate_is_created_without_data(
    continuous_aggregate: ast.CreateTableAsStmt,
) -> None:
    options = _reloptions(continuous_aggregate.into.options)
    assert "continuous" in options and _is_true(options["continuous"])
    # Real-time aggregation: explicit, because the default changed to materialized-only in 2.13.
    assert options.get("materialized_only", "").lower() == "false"
    assert continuous_aggregate.into.skipData, "WITH NO DATA keeps the file transaction-safe"

    query = continuous_aggregate.query
    assert isinstance(query, ast.SelectStmt)
    (source,) = query.fromClause
    assert isinstance(source, ast.RangeVar) and source.relname == "readings"
    buckets = [
        t.val
        for t in query.targetList
        if isinstance(t.val, ast.FuncCall) and t.val.funcname[-1].sval == "time_bucket"
    ]
    assert len(buckets) == 1
    width, column = buckets[0].args
    assert _interval(width) == timedelta(minutes=1)
    assert isinstance(column, ast.ColumnRef) and column.fields[-1].sval == "ts"
    grouped = {g.fields[-1].sval for g in query.groupClause if isinstance(g, ast.ColumnRef)}
    assert grouped == {"bucket", "device_id", "metric"}


def _infer_type(expr: ast.Node, source: dict[str, str]) -> str:
    """The result type of the few expression shapes a per-minute rollup uses."""
    if isinstance(expr, ast.TypeCast):
        return _type_name(expr.typeName)
    if isinstance(expr, ast.ColumnRef):
        return source[expr.fields[-1].sval]
    if isinstance(expr, ast.FuncCall):
        name = expr.funcname[-1].sval
        if name == "count":
            return "int8"
        if name == "time_bucket":
            return _infer_type(expr.args[1], source)
        if name in {"min", "max"}:
            return _infer_type(expr.args[0], source)
        if name == "avg" and _infer_type(expr.args[0], source) in {"float4", "float8"}:
            return "float8"
    raise AssertionError(f"cannot infer the type of {expr}")


def test_continuous_aggregate_has_the_plain_tables_columns_and_types(
    continuous_aggregate: ast.CreateTableAsStmt,
) -> None:
    plain = _columns(PLAIN_FILE, "readings_1m")
    readings = _columns(READINGS_FILE, "readings")
    targets = continuous_aggregate.query.targetList
    if continuous_aggregate.into.colNames:
        names = [c.sval for c in continuous_aggregate.into.colNames]
    else:
        names = [t.name or t.val.fields[-1].sval for t in targets]
    assert names == list(plain), "same column names, in the same order"
    types = [_infer_type(t.val, readings) for t in targets]
    assert dict(zip(names, types, strict=True)) == plain


def test_refresh_policy_on_the_continuous_aggregate(statements: list[ast.Node]) -> None:
    (call,) = _calls(statements, "add_continuous_aggregate_policy")
    assert _string(call.args["continuous_aggregate"]) == "readings_1m"
    start = _interval(call.args["start_offset"])
    end = _interval(call.args["end_offset"])
    assert start == timedelta(hours=2)
    assert end == timedelta(minutes=1)
    assert _interval(call.args["schedule_interval"]) == timedelta(minutes=1)
    # The refresh window must stay clear of the retention horizon, or dropped raw chunks would
    # empty their buckets in readings_1m.
    (retention,) = _calls(statements, "add_retention_policy")
    assert start < _interval(retention.args["drop_after"])
    # The policy is added after the view it refreshes.
    view = next(i for i, s in enumerate(statements) if isinstance(s, ast.CreateTableAsStmt))
    policy = next(
        i
        for i, s in enumerate(statements)
        if (c := _call(s)) is not None and c.name == "add_continuous_aggregate_policy"
    )
    assert view < policy


# --- transaction handling --------------------------------------------------------------------


def _refuses_transaction_block(stmt: ast.Node) -> str | None:
    """Why a statement cannot run inside a transaction block, for the ones TimescaleDB or
    PostgreSQL documents as such; None when it can."""
    if (
        isinstance(stmt, ast.CreateTableAsStmt)
        and stmt.objtype == ObjectType.OBJECT_MATVIEW
        and "continuous" in _reloptions(stmt.into.options or ())
        and not stmt.into.skipData
    ):
        return "CREATE MATERIALIZED VIEW ... WITH (timescaledb.continuous) ... WITH DATA"
    if isinstance(stmt, ast.CallStmt):
        name = stmt.funccall.funcname[-1].sval
        if name == "refresh_continuous_aggregate":
            return "CALL refresh_continuous_aggregate()"
    if isinstance(stmt, ast.IndexStmt) and stmt.concurrent:
        return "CREATE INDEX CONCURRENTLY"
    if isinstance(stmt, ast.VacuumStmt) and stmt.is_vacuumcmd:
        return "VACUUM"
    return None


def _assert_split_matches_parser(migration: Migration) -> None:
    by_runner = [_parse_one(part) for part in migration.statements()]
    by_parser = [raw.stmt for raw in pglast.parse_sql(migration.sql)]
    assert by_runner == by_parser  # pglast nodes compare without source locations


def test_runs_in_one_transaction_unless_a_statement_refuses_it(
    statements: list[ast.Node],
) -> None:
    migration = _timescale_migration()
    refusing = [why for s in statements if (why := _refuses_transaction_block(s))]
    if migration.in_transaction:
        assert not refusing, f"needs the {NO_TRANSACTION_MARK!r} marker: {refusing}"
    else:
        assert migration.sql.splitlines()[0] == NO_TRANSACTION_MARK
        assert refusing, "the no-transaction marker is only for statements that need it"


def test_no_transaction_split_matches_the_parser(tmp_path: Path) -> None:
    """The runner's `;`-at-end-of-line split gives the statements pglast finds. Checked on the file
    itself when it carries the marker, else on a copy with the marker added, so the file stays
    ready for it."""
    migration = _timescale_migration()
    if migration.in_transaction:
        copy = tmp_path / TIMESCALE_FILE.name
        copy.write_text(f"{NO_TRANSACTION_MARK}\n{migration.sql}", encoding="utf-8")
        migration = Migration(migration.version, migration.name, migration.variant, copy)
        assert not migration.in_transaction
    _assert_split_matches_parser(migration)


# --- the runner picks the right variant ------------------------------------------------------


@pytest.mark.parametrize(
    ("backend", "expected"),
    [(Backend.TIMESCALE, TIMESCALE_FILE), (Backend.PLAIN, PLAIN_FILE)],
)
def test_plan_picks_the_variant_of_the_backend(backend: Backend, expected: Path) -> None:
    (version_3,) = [m for m in plan(discover(), applied={}, backend=backend) if m.version == 3]
    assert version_3.path == expected
    assert version_3.variant is backend


@pytest.mark.parametrize(
    ("mode", "timescale_available", "expected"),
    [
        ("auto", True, Backend.TIMESCALE),
        ("auto", False, Backend.PLAIN),
        ("off", True, Backend.PLAIN),
        ("off", False, Backend.PLAIN),
    ],
)
def test_choose_backend_for_a_new_database(
    mode: str, timescale_available: bool, expected: Backend
) -> None:
    backend = choose_backend(
        mode=mode, timescale_available=timescale_available, applied_variants=set()
    )
    assert backend is expected
