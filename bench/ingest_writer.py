"""Benchmark: the storage half of ingest (``ingest.write_batch``) against a naive writer.

    python bench/ingest_writer.py [--database-url URL] [--messages N] [--batch-size B]

What runs, each in its own scratch database ``eldercare_bench_*`` (cloned from one migrated and
registered template, dropped at the end, also on error or Ctrl-C):

1. ``write_batch(..., backend=Backend.PLAIN)`` in batches of B: the real plain-PostgreSQL
   path, which also refreshes the ``readings_1m`` rollup and ``device_status`` in the write
   transaction.
2. The same with ``backend=Backend.TIMESCALE`` passed on a plain database: the writer then
   skips the rollup refresh (on TimescaleDB a continuous aggregate does that work), so 1 vs 2
   is the price of the in-transaction rollup. Nothing else in ``write_batch`` reads the backend.
3. Duplicates: run 1's batches written again into run 1's database; must store 0 new rows.
4. Baseline, the naive design the batched writer replaces: one ``INSERT ... ON CONFLICT DO
   NOTHING`` (the message's 5 readings) and one commit per message, over the same messages. It
   stops early at ``--naive-budget-s`` (25 s) or ``--naive-messages`` so it stays under ~30 s;
   rates are per second, so different message counts compare (both counts are printed).

Messages are built in memory through the real path: ``devices.encode_vitals`` -> ``RawMessage`` ->
``ingest.decode`` with ``devices.Topics("bench")``; decoding is not timed (only storage is).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import secrets
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.rows import TupleRow

import eldercare.db
import ingest
from devices import SMART_MATTRESS, Metric, Sample, Stream, Topics, VitalsMessage, encode_vitals
from eldercare.registry import Bedside, register_bedside, register_site

DEFAULT_ADMIN_URL = "postgresql://root@127.0.0.1:5432/test"
SITE_ID = "bench-home"
NAMESPACE = "bench"
BASE_TS = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
READING_COLUMNS = "ts, device_id, metric, value, seq, received_at"


# -- scratch databases ---------------------------------------------------------------------------


def with_dbname(url: str, dbname: str) -> str:
    """The same PostgreSQL URL with another database name (socket-host URLs included)."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{dbname}"))


class ScratchDatabases:
    """Creates ``eldercare_bench_<run>_<role>`` databases and drops every one of them on close."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.run_id = f"{os.getpid()}_{secrets.token_hex(3)}"
        self.created: list[str] = []

    def _admin(self, sql: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.encode())

    def create(self, role: str, *, template: str | None = None) -> tuple[str, str]:
        name = f"eldercare_bench_{self.run_id}_{role}"
        self.created.append(name)  # before CREATE: a half-created database is dropped too
        clause = f' TEMPLATE "{template}"' if template else ""
        self._admin(f'CREATE DATABASE "{name}"{clause}')
        return name, with_dbname(self.admin_url, name)

    def drop_all(self) -> None:
        for name in reversed(self.created):
            try:
                self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except psycopg.Error as exc:
                print(f"warning: could not drop {name}: {exc}", file=sys.stderr)
        self.created.clear()


def prepare_template(scratch: ScratchDatabases, devices: int) -> str:
    """A migrated database with one site and `devices` smart mattresses; returns its name."""
    name, url = scratch.create("tpl")
    applied = eldercare.db.migrate(url)
    with eldercare.db.connect(url) as conn:
        backend = eldercare.db.current_backend(conn)
        if backend is not eldercare.db.Backend.PLAIN:
            raise SystemExit(f"this benchmark measures plain PostgreSQL; migrate chose {backend}")
        register_site(conn, site_id=SITE_ID, name="Bench care home", tier="care_home")
        for i in range(devices):
            register_bedside(
                conn,
                Bedside(
                    site_id=SITE_ID,
                    resident_id=f"{SITE_ID}-r{i:04d}",
                    display_name=f"Resident {i}",
                    bed_id=f"{SITE_ID}-bed{i:04d}",
                    device_id=device_id(i),
                    device_model=SMART_MATTRESS.key,
                ),
                since=BASE_TS - timedelta(days=1),
            )
        conn.commit()
    print(f"template: {len(applied)} migrations applied, 1 site, {devices} devices registered")
    return name


def device_id(i: int) -> str:
    return f"{SITE_ID}-mat{i:04d}"


# -- messages ------------------------------------------------------------------------------------


def build_messages(count: int, devices: int, seed: int = 7) -> list[ingest.Accepted]:
    """`count` one-sample vitals messages, round-robin over the devices, 1 s apart per device."""
    rng = random.Random(seed)
    topics = Topics(NAMESPACE)
    decoded: list[ingest.Accepted] = []
    for m in range(count):
        dev, step = m % devices, m // devices
        ts = BASE_TS + timedelta(seconds=step)
        values = (
            (Metric.HEART_RATE, float(rng.randint(55, 95))),
            (Metric.RESPIRATION_RATE, float(rng.randint(10, 22))),
            (Metric.BED_PRESENCE, 1.0),
            (Metric.MOVEMENT, round(rng.random(), 3)),
            (Metric.SIGNAL_QUALITY, round(rng.uniform(0.7, 1.0), 3)),
        )
        payload = encode_vitals(
            VitalsMessage(seq=step, samples=(Sample(device_ts=ts, values=values),))
        )
        raw = ingest.RawMessage(
            topic=topics.topic(SITE_ID, device_id(dev), Stream.VITALS),
            payload=payload,
            qos=1,
            mid=m + 1,
            received_at=ts + timedelta(milliseconds=250),
        )
        item = ingest.decode(raw, topics)
        if not isinstance(item, ingest.Accepted):
            raise SystemExit(f"benchmark message {m} did not decode: {item}")
        decoded.append(item)
    return decoded


def batches_of(items: Sequence[ingest.Accepted], size: int) -> list[Sequence[ingest.Accepted]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# -- timing --------------------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (with few batches, p99 is the slowest batch)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(slots=True)
class RunResult:
    path: str
    messages: int
    readings: int
    batch_size: int
    latencies: list[float]
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return sum(self.latencies)

    @property
    def msg_rate(self) -> float:
        return self.messages / self.seconds

    @property
    def reading_rate(self) -> float:
        return self.readings / self.seconds


_PHASES = (
    ("CREATE TEMP TABLE", "create staging (if not exists)"),
    ("COPY", "COPY to staging (incl. row encoding)"),
    ("INSERT INTO readings_1m", "rollup refresh (readings_1m)"),
    ("WITH inserted AS", "insert + incremental rollup"),
    ("UPDATE device_status", "resume silent devices"),
    ("SELECT state FROM device_status", "status: previous state"),
    ("INSERT INTO data_quality_events", "data-quality events"),
    ("INSERT INTO readings", "insert from staging"),
    ("INSERT INTO device_status", "touch device_status"),
)
OTHER_PHASE = "BEGIN/COMMIT + Python"


def phase_of(query: object) -> str:
    text = query.decode() if isinstance(query, bytes) else str(query)
    text = " ".join(text.split())
    for prefix, label in _PHASES:
        if text.startswith(prefix):
            return label
    return text[:40]


def timing_cursor(phases: dict[str, float]) -> type[psycopg.Cursor[TupleRow]]:
    """A cursor class adding each statement's wall time to `phases` (a few µs per call)."""

    class TimingCursor(psycopg.Cursor[TupleRow]):
        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return super().execute(query, params, **kwargs)
            finally:
                label = phase_of(query)
                phases[label] = phases.get(label, 0.0) + time.perf_counter() - start

        def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> None:
            start = time.perf_counter()
            try:
                super().executemany(query, params_seq, **kwargs)
            finally:
                label = phase_of(query)
                phases[label] = phases.get(label, 0.0) + time.perf_counter() - start

        @contextmanager
        def copy(self, statement: Any, params: Any = None, **kwargs: Any) -> Iterator[Any]:
            start = time.perf_counter()
            try:
                with super().copy(statement, params, **kwargs) as copy:
                    yield copy
            finally:
                label = phase_of(statement)
                phases[label] = phases.get(label, 0.0) + time.perf_counter() - start

    return TimingCursor


# -- the paths -----------------------------------------------------------------------------------


def run_write_batch(
    url: str,
    batches: Sequence[Sequence[ingest.Accepted]],
    *,
    backend: eldercare.db.Backend,
    path: str,
    expect_new: bool = True,
) -> RunResult:
    phases: dict[str, float] = {}
    latencies: list[float] = []
    offered = stored = 0
    with eldercare.db.connect(url) as conn:
        device_sites = ingest.load_device_sites(conn)
        conn.commit()
        conn.cursor_factory = timing_cursor(phases)
        for batch in batches:
            start = time.perf_counter()
            result = ingest.write_batch(conn, batch, device_sites=device_sites, backend=backend)
            latencies.append(time.perf_counter() - start)
            offered += result.readings_offered
            stored += result.readings_stored
            if result.quarantined or result.statuses:
                raise SystemExit(f"{path}: unexpected result {result}")
    messages = sum(len(b) for b in batches)
    expected = offered if expect_new else 0
    if stored != expected:
        raise SystemExit(f"{path}: stored {stored} readings, expected {expected}")
    phases[OTHER_PHASE] = sum(latencies) - sum(phases.values())
    return RunResult(path, messages, offered, max(len(b) for b in batches), latencies, phases)


def run_naive(url: str, messages: Sequence[ingest.Accepted], *, budget_s: float) -> RunResult:
    """One INSERT (the message's readings) and one commit per message; stops at the time budget."""
    statements: dict[int, bytes] = {}
    latencies: list[float] = []
    readings = 0
    started = time.perf_counter()
    with eldercare.db.connect(url) as conn:
        for message in messages:
            n = len(message.readings)
            if n not in statements:
                rows = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * n)
                statements[n] = (
                    f"INSERT INTO readings ({READING_COLUMNS}) VALUES {rows} ON CONFLICT DO NOTHING"
                ).encode()
            params: list[object] = []
            for r in message.readings:
                params += (r.ts, r.device_id, str(r.metric), r.value, r.seq, r.received_at)
            start = time.perf_counter()
            conn.execute(statements[n], params)
            conn.commit()
            latencies.append(time.perf_counter() - start)
            readings += n
            if time.perf_counter() - started > budget_s:
                break
    return RunResult("naive: INSERT+commit per msg", len(latencies), readings, 1, latencies)


def count_rows(url: str) -> tuple[int, int]:
    with eldercare.db.connect(url) as conn:
        readings = conn.execute("SELECT count(*) FROM readings").fetchone()
        rollup = conn.execute("SELECT count(*) FROM readings_1m").fetchone()
        assert readings is not None and rollup is not None
        return int(readings[0]), int(rollup[0])


# -- report --------------------------------------------------------------------------------------


def print_table(results: Sequence[RunResult]) -> None:
    header = (
        f"{'path':<34} {'messages':>8} {'batch':>5} {'seconds':>8} {'msg/s':>9} "
        f"{'readings/s':>10} {'p50 ms':>8} {'p99 ms':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.path:<34} {r.messages:>8,} {r.batch_size:>5} {r.seconds:>8.2f} "
            f"{r.msg_rate:>9,.0f} {r.reading_rate:>10,.0f} "
            f"{percentile(r.latencies, 50) * 1000:>8.2f} {percentile(r.latencies, 99) * 1000:>8.2f}"
        )


def print_phases(result: RunResult) -> None:
    batches = len(result.latencies)
    print(f"\n{result.path}: where the time goes ({batches} batches, {result.seconds:.2f} s)")
    for label, seconds in sorted(result.phases.items(), key=lambda kv: -kv[1]):
        print(
            f"  {label:<38} {seconds:>7.3f} s {seconds / result.seconds:>6.1%} "
            f"{seconds / batches * 1000:>8.2f} ms/batch"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("ELDERCARE_DATABASE_URL") or DEFAULT_ADMIN_URL,
        help="admin connection; scratch databases are created next to it "
        "(default: $ELDERCARE_DATABASE_URL, else %(default)s)",
    )
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument(
        "--naive-messages",
        type=int,
        default=None,
        help="messages for the naive baseline (default: --messages; it also stops at the budget)",
    )
    parser.add_argument(
        "--naive-budget-s",
        type=float,
        default=25.0,
        help="the naive baseline stops after this many seconds",
    )
    args = parser.parse_args(argv)
    if min(args.messages, args.batch_size, args.devices, args.naive_messages or 1) <= 0:
        parser.error("--messages, --batch-size, --devices and --naive-messages must be positive")

    # SIGTERM unwinds like Ctrl-C so the scratch databases are dropped.
    def _terminate(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)

    started = time.perf_counter()
    messages = build_messages(args.messages, args.devices)
    built_s = time.perf_counter() - started
    batches = batches_of(messages, args.batch_size)
    naive_count = args.messages if args.naive_messages is None else args.naive_messages
    naive_count = min(args.messages, naive_count)
    print(
        f"{len(messages):,} messages x {len(messages[0].readings)} readings from "
        f"{args.devices} devices built and decoded in {built_s:.2f} s (not timed below); "
        f"{len(batches)} batches of <= {args.batch_size}"
    )

    scratch = ScratchDatabases(args.database_url)
    try:
        with psycopg.connect(args.database_url) as conn:
            server = conn.execute("SHOW server_version").fetchone()
        print(
            f"PostgreSQL {server[0] if server else '?'}, {os.cpu_count()} CPUs, "
            f"python {sys.version.split()[0]}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        )
        template = prepare_template(scratch, args.devices)

        def fresh(role: str) -> str:
            return scratch.create(role, template=template)[1]

        plain_url = fresh("plain")
        plain = run_write_batch(
            plain_url, batches, backend=eldercare.db.Backend.PLAIN, path="write_batch PLAIN"
        )
        before = count_rows(plain_url)

        dup = run_write_batch(
            plain_url,
            batches,
            backend=eldercare.db.Backend.PLAIN,
            path="write_batch PLAIN, all duplicates",
            expect_new=False,
        )
        after = count_rows(plain_url)
        assert after == before, f"duplicates changed row counts: {before} -> {after}"

        no_rollup_url = fresh("norollup")
        no_rollup = run_write_batch(
            no_rollup_url,
            batches,
            backend=eldercare.db.Backend.TIMESCALE,
            path="write_batch, rollup skipped",
        )
        no_rollup_rows = count_rows(no_rollup_url)

        naive_url = fresh("naive")
        naive = run_naive(naive_url, messages[:naive_count], budget_s=args.naive_budget_s)
        naive_rows = count_rows(naive_url)
        assert naive_rows[0] == naive.readings, f"naive stored {naive_rows[0]} != {naive.readings}"
    finally:
        scratch.drop_all()

    print()
    print_table([plain, no_rollup, dup, naive])
    print()
    print(
        f"duplicates: {dup.messages:,} messages / {dup.readings:,} readings re-written, "
        f"0 new rows; readings {before[0]:,} -> {after[0]:,}, readings_1m {before[1]:,} -> "
        f"{after[1]:,} (unchanged)"
    )
    print(
        f"rows stored: PLAIN {before[0]:,} readings + {before[1]:,} rollup rows; rollup skipped "
        f"{no_rollup_rows[0]:,} + {no_rollup_rows[1]:,}; naive {naive_rows[0]:,} readings"
    )
    print(
        f"message counts: write_batch {plain.messages:,}, naive {naive.messages:,} "
        "(rates are per second, so they compare)"
    )
    print_phases(plain)
    print_phases(no_rollup)
    print_phases(dup)
    print()
    print(f"speed-up vs naive: {plain.msg_rate / naive.msg_rate:.1f}x  (write_batch PLAIN)")
    print(f"speed-up vs naive: {no_rollup.msg_rate / naive.msg_rate:.1f}x  (rollup skipped)")
    print(
        f"rollup refresh costs {1 - plain.msg_rate / no_rollup.msg_rate:.0%} of batched "
        "throughput on plain PostgreSQL"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
