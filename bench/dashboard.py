"""Benchmark: the dashboard's read paths (issue 10, point 5) against the raw-table way.

    python bench/dashboard.py [--database-url URL] [--residents 1000] [--days 30] [--quick] [--keep]

Builds, in its own database ``bench_dashboard_<pid>`` next to ``--database-url`` (an admin URL,
default ``$ELDERCARE_DATABASE_URL``; dropped at the end unless ``--keep``), a network of
``--residents`` residents in sites of 100 beds, each bed with a smart mattress (every 4th also a BP
cuff), and:

* ``readings_1m``: ``--days`` of per-minute rollups for every mattress (heart rate, respiration,
  bed presence, movement: 1,000 x 30 d x 1,440 min x 4 = 172.8 M rows) and hourly cuff readings,
  generated with ``generate_series`` in time order, one day per statement (as ingest writes them);
* ``readings``: raw 1 Hz rows of the last 24 h for the 100 mattresses of the benchmarked ward (the
  first site); their last 24 h of rollups are computed from these rows, so both ways give the same
  answer (the script checks it);
* open alerts (clinical and data-quality) on some of the ward's residents.

It then measures, through the real ASGI app (``fastapi.testclient.TestClient`` on
``dashboard.create_app``, logged in as a nurse of the ward's site), the p50/p95/p99 of
``GET /api/residents/{id}/chart?window=24h`` over random residents of the ward and of
``GET /api/sites/{site}/ward``, and in the same run the same answers from the raw table: 24 h of
1 Hz rows aggregated per minute for one resident, and the ward's latest values by ``DISTINCT ON``
over the raw rows of the same look-back. It prints the data volume (rows, table sizes) and ratios.

Loading: the two big tables are made UNLOGGED and their indexes dropped for the load and built
after it (WAL for ~20 GB would double the disk and time); the reads measured are the same.
``--quick`` (50 residents x 1 day, 1 h of raw rows, 20 requests each) shows that the script
works, in about 20 s.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import eldercare.db  # noqa: E402
from dashboard import Role, create_app, create_staff  # noqa: E402
from dashboard._deps import get_now  # noqa: E402
from eldercare.settings import load_settings  # noqa: E402

BEDS_PER_SITE = 100
CUFF_EVERY = 4  # every 4th bed also has a BP cuff
MATTRESS_METRICS = ("heart_rate", "respiration_rate", "bed_presence", "movement")
TILE_METRICS = ("bed_presence", "heart_rate", "respiration_rate", "spo2")
PASSWORD = "bench dashboard password"
TARGET_CHART_P95_MS = 50.0  # issue 10, point 5
TARGET_WARD_P95_MS = 100.0


def with_dbname(url: str, dbname: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{dbname}"))


@contextmanager
def scratch_database(admin_url: str, *, keep: bool) -> Iterator[str]:
    name = f"bench_dashboard_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_dbname(admin_url, name)
    finally:
        if keep:
            print(f"kept database {name}")
        else:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def step(label: str) -> Callable[[], None]:
    started = time.perf_counter()
    print(f"  {label} ...", end="", flush=True)

    def done() -> None:
        print(f" {time.perf_counter() - started:.1f} s", flush=True)

    return done


def site_ids(residents: int) -> list[str]:
    return [f"s{i + 1:02d}" for i in range(math.ceil(residents / BEDS_PER_SITE))]


def build_network(conn: psycopg.Connection, *, residents: int, since: datetime) -> None:
    """Sites, residents, beds, devices (mattress per bed, cuff on every 4th), assignments."""
    sites = site_ids(residents)
    conn.execute(
        "INSERT INTO sites (site_id, name, tier)"
        " SELECT s, 'Bench home ' || s, 'care_home' FROM unnest(%s::text[]) s",
        (sites,),
    )
    # Bed k (0-based) of the network: site k / 100, resident/bed/device ids from k.
    conn.execute(
        """
        WITH k AS (SELECT k, 's' || lpad((k / %(per)s + 1)::text, 2, '0') AS site,
                          lpad((k + 1)::text, 4, '0') AS n
                   FROM generate_series(0, %(n)s - 1) k)
        , r AS (INSERT INTO residents (resident_id, site_id, display_name, risk_tier)
                SELECT 'r' || n, site, 'Resident ' || n,
                       (ARRAY['low', 'medium', 'high'])[k %% 3 + 1] FROM k)
        , b AS (INSERT INTO beds (bed_id, site_id, label)
                SELECT 'b' || n, site, 'Bed ' || lpad((k %% %(per)s + 1)::text, 3, '0') FROM k)
        INSERT INTO devices (device_id, site_id, model)
        SELECT 'm' || n, site, 'smart_mattress' FROM k
        UNION ALL
        SELECT 'c' || n, site, 'bp_cuff' FROM k WHERE k %% %(cuff)s = 0
        """,
        {"per": BEDS_PER_SITE, "n": residents, "cuff": CUFF_EVERY},
    )
    conn.execute(
        "INSERT INTO device_assignments (device_id, resident_id, bed_id, assigned_from)"
        " SELECT device_id, 'r' || substr(device_id, 2), 'b' || substr(device_id, 2), %s"
        " FROM devices",
        (since,),
    )


def ward_devices(conn: psycopg.Connection, site: str) -> list[str]:
    rows = conn.execute(
        "SELECT device_id FROM devices WHERE site_id = %s AND model = 'smart_mattress'"
        " ORDER BY device_id",
        (site,),
    ).fetchall()
    return [r[0] for r in rows]


# Plausible per-minute values: a slow daily rhythm per resident plus noise. Not physiology to
# analyse, only realistic sizes and spreads for the read paths.
_VALUE = """
CASE m.metric
  WHEN 'heart_rate' THEN 64 + 6 * sin(extract(epoch FROM t) / 13751.0 + d.k) + 3 * random()
  WHEN 'respiration_rate' THEN 15 + 2 * sin(extract(epoch FROM t) / 13751.0 + d.k) + random()
  WHEN 'bed_presence' THEN (random() < 0.9)::int
  ELSE 0.3 * random()
END
"""
_DEVICES_K = (
    "(SELECT device_id, site_id, row_number() OVER (ORDER BY device_id) AS k FROM devices"
    " WHERE model = 'smart_mattress') d"
)
_METRICS = "unnest(%(metrics)s::text[]) m(metric)"


def load_rollups(
    conn: psycopg.Connection, *, start: datetime, now: datetime, ward: str, raw_start: datetime
) -> None:
    """Per-minute rollups of every mattress, day by day in time order; the ward's rows from
    `raw_start` come later from its raw readings."""
    day = start
    while day < now:
        end = min(day + timedelta(days=1), now)
        done = step(f"readings_1m {day:%Y-%m-%d}")
        conn.execute(
            f"""
            INSERT INTO readings_1m (bucket, device_id, metric, n, mean, min, max, total)
            SELECT t, d.device_id, m.metric, 60, v.mean, v.mean - v.spread, v.mean + v.spread,
                   v.mean * 60
            FROM generate_series(%(from)s::timestamptz, %(to)s::timestamptz - interval '1 minute',
                                 interval '1 minute') t
            CROSS JOIN {_DEVICES_K} CROSS JOIN {_METRICS}
            CROSS JOIN LATERAL (SELECT {_VALUE} AS mean,
                                CASE WHEN m.metric IN ('heart_rate', 'respiration_rate')
                                     THEN 4 ELSE 0 END AS spread) v
            WHERE NOT (d.site_id = %(ward)s AND t >= %(raw_start)s)
            """,
            {
                "from": day,
                "to": end,
                "metrics": list(MATTRESS_METRICS),
                "ward": ward,
                "raw_start": raw_start,
            },
        )
        conn.commit()
        done()
        day = end
    done = step("readings_1m: hourly BP cuff readings")
    conn.execute(
        """
        INSERT INTO readings_1m (bucket, device_id, metric, n, mean, min, max, total)
        SELECT t, d.device_id, m.metric, 1, v, v, v, v
        FROM generate_series(%(from)s::timestamptz, %(to)s::timestamptz, interval '1 hour') t
        CROSS JOIN (SELECT device_id FROM devices WHERE model = 'bp_cuff') d
        CROSS JOIN LATERAL (VALUES ('systolic_bp', 115 + 25 * random()),
                                   ('diastolic_bp', 70 + 15 * random())) m(metric, v)
        """,
        {"from": start + timedelta(minutes=17), "to": now - timedelta(hours=1)},
    )
    conn.commit()
    done()


def load_raw(conn: psycopg.Connection, *, ward: str, raw_start: datetime, now: datetime) -> None:
    """1 Hz raw readings of the ward's mattresses since `raw_start`, and their rollups."""
    done = step("readings: 1 Hz raw rows of the benchmarked ward")
    conn.execute(
        f"""
        INSERT INTO readings (ts, device_id, metric, value, seq, received_at)
        SELECT t, d.device_id, m.metric, {_VALUE}, NULL, t
        FROM generate_series(%(from)s::timestamptz, %(to)s::timestamptz - interval '1 second',
                             interval '1 second') t
        CROSS JOIN {_DEVICES_K} CROSS JOIN {_METRICS}
        WHERE d.site_id = %(ward)s
        """,
        {"from": raw_start, "to": now, "metrics": list(MATTRESS_METRICS), "ward": ward},
    )
    conn.commit()
    done()
    done = step("readings_1m of the ward's last 24 h, from the raw rows")
    conn.execute(
        """
        INSERT INTO readings_1m (bucket, device_id, metric, n, mean, min, max, total)
        SELECT date_trunc('minute', ts), device_id, metric, count(*), avg(value), min(value),
               max(value), sum(value)
        FROM readings GROUP BY 1, 2, 3
        """
    )
    conn.commit()
    done()


def load_alerts(conn: psycopg.Connection, *, ward: str, now: datetime) -> None:
    """Open alerts on every 7th resident of the ward (clinical) and every 11th (data quality),
    and resolved history across the network."""
    conn.execute(
        """
        INSERT INTO alerts (resident_id, site_id, kind, channel, severity, state, started_at,
                            detected_at, last_seen_at)
        SELECT r.resident_id, r.site_id, k.kind, k.channel, k.severity, 'open',
               %(now)s - interval '20 minutes', %(now)s - interval '18 minutes', %(now)s
        FROM (SELECT resident_id, site_id, row_number() OVER (ORDER BY resident_id) AS i
              FROM residents WHERE site_id = %(ward)s) r
        JOIN (VALUES ('tachycardia', 'clinical', 'high', 7),
                     ('device_silent', 'data_quality', 'medium', 11))
             AS k(kind, channel, severity, every)
          ON r.i %% k.every = 0
        """,
        {"now": now, "ward": ward},
    )
    conn.execute(
        """
        INSERT INTO alerts (resident_id, site_id, kind, channel, severity, state, started_at,
                            detected_at, last_seen_at, resolved_at)
        SELECT resident_id, site_id, 'bradypnoea', 'clinical', 'medium', 'resolved',
               %(now)s - interval '1 hour' * (1 + (hashtext(resident_id) & 255)),
               %(now)s - interval '1 hour' * (1 + (hashtext(resident_id) & 255)),
               %(now)s - interval '1 hour' * (hashtext(resident_id) & 255),
               %(now)s - interval '1 hour' * (hashtext(resident_id) & 255)
        FROM residents
        """,
        {"now": now},
    )
    conn.execute(
        "INSERT INTO device_status (device_id, state, state_changed_at, last_seen_at)"
        " SELECT device_id, 'online', %s, %s FROM devices",
        (now - timedelta(days=1), now - timedelta(seconds=1)),
    )
    conn.commit()


def build(
    url: str, *, residents: int, days: int, raw_hours: int, now: datetime
) -> tuple[str, list[str]]:
    eldercare.db.migrate(url, mode="off")
    sites = site_ids(residents)
    ward = sites[0]
    start = now - timedelta(days=days)
    raw_start = now - timedelta(hours=raw_hours)
    print(f"building {residents} residents in {len(sites)} site(s), {days} days, now={now:%F %T}")
    with psycopg.connect(url) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET max_parallel_maintenance_workers = 0")  # the bench shares 2 cores
        conn.execute("SET max_parallel_workers_per_gather = 0")
        build_network(conn, residents=residents, since=start - timedelta(days=1))
        for table in ("readings_1m", "readings"):
            conn.execute(f"ALTER TABLE {table} SET UNLOGGED")
        conn.execute("ALTER TABLE readings_1m DROP CONSTRAINT readings_1m_pkey")
        conn.execute("ALTER TABLE readings DROP CONSTRAINT readings_pkey")
        # Only the primary key is rebuilt on `readings`: neither read path uses readings_ts_idx
        # or readings_tx_idx (ingest's and analytics' indexes), and they cost ~1.3 GB here.
        conn.execute("DROP INDEX readings_ts_idx, readings_tx_idx")
        conn.commit()
        load_raw(conn, ward=ward, raw_start=raw_start, now=now)
        load_rollups(conn, start=start, now=now, ward=ward, raw_start=raw_start)
        load_alerts(conn, ward=ward, now=now)
        for label, sql in (
            (
                "readings_1m primary key",
                "ALTER TABLE readings_1m ADD PRIMARY KEY (device_id, metric, bucket)",
            ),
            (
                "readings primary key",
                "ALTER TABLE readings ADD PRIMARY KEY (device_id, metric, ts)",
            ),
        ):
            done = step(f"index {label}")
            conn.execute(sql)
            conn.commit()
            done()
    with psycopg.connect(url, autocommit=True) as conn:
        done = step("VACUUM ANALYZE")
        conn.execute("VACUUM ANALYZE")
        done()
    return ward, sites


def print_volume(conn: psycopg.Connection) -> None:
    print("data volume:")
    for table in ("readings_1m", "readings", "alerts", "residents", "devices"):
        (rows,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # type: ignore[misc]
        size = conn.execute(
            "SELECT pg_size_pretty(pg_table_size(%s)), pg_size_pretty(pg_indexes_size(%s))",
            (table, table),
        ).fetchone()
        assert size is not None
        print(f"  {table:<12} {rows:>13,} rows  table {size[0]:>8}  indexes {size[1]:>8}")
    (db,) = conn.execute(  # type: ignore[misc]
        "SELECT pg_size_pretty(pg_database_size(current_database()))"
    ).fetchone()
    print(f"  database total {db}")


def percentiles(samples_ms: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples_ms)

    def rank(p: float) -> float:  # nearest rank
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    return rank(50), rank(95), rank(99)


def timed(call: Callable[[], Any], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


_RAW_CHART = """
SELECT r.metric, date_trunc('minute', r.ts) AS b, avg(r.value), min(r.value), max(r.value)
FROM device_assignments a
JOIN readings r ON r.device_id = a.device_id
 AND r.ts >= greatest(a.assigned_from, %(start)s)
 AND r.ts < least(coalesce(a.assigned_until, 'infinity'), %(end)s)
WHERE a.resident_id = %(resident)s AND r.metric = ANY(%(metrics)s)
GROUP BY 1, 2 ORDER BY 1, 2
"""
_RAW_WARD_LATEST = """
SELECT DISTINCT ON (r.device_id, r.metric) r.device_id, r.metric, r.ts, r.value
FROM readings r
WHERE r.device_id = ANY(%(devices)s) AND r.metric = ANY(%(metrics)s)
  AND r.ts > %(since)s AND r.ts <= %(now)s
ORDER BY r.device_id, r.metric, r.ts DESC
"""


def measure(
    url: str,
    *,
    ward: str,
    now: datetime,
    raw_hours: int,
    requests: int,
    raw_runs: int,
    seed: int,
) -> dict[str, tuple[float, float, float]]:
    settings = load_settings()
    settings = settings.model_copy(
        update={"database": settings.database.model_copy(update={"url": url})}
    )
    with psycopg.connect(url, autocommit=True) as conn:
        create_staff(
            conn,
            username=f"bench.nurse.{os.getpid()}",
            display_name="Bench nurse",
            role=Role.NURSE,
            password=PASSWORD,
            now=now,
            site_id=ward,
        )
        residents = [
            r[0]
            for r in conn.execute(
                "SELECT resident_id FROM residents WHERE site_id = %s ORDER BY 1", (ward,)
            )
        ]
        devices = ward_devices(conn, ward)
        print_volume(conn)
    rng = random.Random(seed)
    sample = [rng.choice(residents) for _ in range(requests)]
    app = create_app(settings)
    app.dependency_overrides[get_now] = lambda: now
    results: dict[str, tuple[float, float, float]] = {}
    with TestClient(app) as client:
        login = client.post(
            "/api/auth/login", json={"username": f"bench.nurse.{os.getpid()}", "password": PASSWORD}
        )
        login.raise_for_status()
        client.cookies.clear()
        headers = {"Authorization": f"Bearer {login.json()['token']}"}

        def get(path: str) -> Any:
            answer = client.get(path, headers=headers)
            answer.raise_for_status()
            return answer.json()

        # The answers the timed requests return, checked once.
        chart = get(f"/api/residents/{sample[0]}/chart?window=24h")
        points = {s["metric"]: len(s["points"]) for s in chart["series"]}
        raw_start = now - timedelta(hours=raw_hours)
        in_raw_window = sum(
            1
            for s in chart["series"]
            if s["metric"] in MATTRESS_METRICS
            for p in s["points"]
            if datetime.fromisoformat(p[0]) >= raw_start
        )
        print(f"chart of {sample[0]}: points per series {points}")
        overview = get(f"/api/sites/{ward}/ward")
        with_hr = sum(1 for b in overview["beds"] if b["heart_rate"])
        print(f"ward {ward}: {len(overview['beds'])} beds, {with_hr} with a heart rate")
        for r in sample[:10]:  # warm-up, not counted
            get(f"/api/residents/{r}/chart?window=24h")
            get(f"/api/sites/{ward}/ward")
        it = iter(sample)
        results["API chart 24h"] = percentiles(
            timed(lambda: get(f"/api/residents/{next(it)}/chart?window=24h"), requests)
        )
        results["API ward overview"] = percentiles(
            timed(lambda: get(f"/api/sites/{ward}/ward"), requests)
        )

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET max_parallel_workers_per_gather = 0")
        params = {
            "start": now - timedelta(hours=24),
            "end": now,
            "metrics": list(MATTRESS_METRICS),
        }
        raw = conn.execute(_RAW_CHART, {**params, "resident": sample[0]}).fetchall()
        same = len(raw) == in_raw_window
        print(
            f"raw chart of {sample[0]}: {len(raw)} points"
            f" (API, same window: {in_raw_window}; same: {same})"
        )
        it = iter(sample)
        results["SQL chart 24h, raw 1 Hz"] = percentiles(
            timed(
                lambda: conn.execute(_RAW_CHART, {**params, "resident": next(it)}).fetchall(),
                raw_runs,
            )
        )
        latest = {
            "devices": devices,
            "metrics": list(TILE_METRICS),
            "since": now - timedelta(hours=24),
            "now": now,
        }
        results["SQL ward latest, raw 1 Hz"] = percentiles(
            timed(lambda: conn.execute(_RAW_WARD_LATEST, latest).fetchall(), raw_runs)
        )
    return results


def report(results: dict[str, tuple[float, float, float]], *, requests: int, raw_runs: int) -> None:
    print(f"\n{'path':<28} {'n':>5} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9}")
    for name, (p50, p95, p99) in results.items():
        n = requests if name.startswith("API") else raw_runs
        print(f"{name:<28} {n:>5} {p50:>9.1f} {p95:>9.1f} {p99:>9.1f}")
    chart, ward = results["API chart 24h"][1], results["API ward overview"][1]
    raw_chart, raw_ward = (
        results["SQL chart 24h, raw 1 Hz"][1],
        results["SQL ward latest, raw 1 Hz"][1],
    )
    print(
        f"\nchart 24h p95 {chart:.1f} ms (target <= {TARGET_CHART_P95_MS:.0f}:"
        f" {'met' if chart <= TARGET_CHART_P95_MS else 'MISSED'});"
        f" raw-table query alone is {raw_chart / chart:.1f}x slower"
    )
    print(
        f"ward overview p95 {ward:.1f} ms (target <= {TARGET_WARD_P95_MS:.0f}:"
        f" {'met' if ward <= TARGET_WARD_P95_MS else 'MISSED'});"
        f" raw-table latest values alone are {raw_ward / ward:.1f}x slower"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("ELDERCARE_DATABASE_URL"))
    parser.add_argument("--residents", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--raw-runs", type=int, default=20, help="timed raw-table queries each")
    parser.add_argument("--raw-hours", type=int, default=24, help="hours of raw 1 Hz rows")
    parser.add_argument(
        "--quick", action="store_true", help="50 residents x 1 day, 1 h raw, 20 requests"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument(
        "--existing", metavar="DBNAME", help="measure a database kept by an earlier --keep run"
    )
    parser.add_argument("--seed", type=int, default=10)
    args = parser.parse_args(argv)
    if args.database_url is None:
        parser.error("--database-url or $ELDERCARE_DATABASE_URL is required")
    if args.quick:
        args.residents, args.days, args.requests, args.raw_runs = 50, 1, 20, 3
        args.raw_hours = 1
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    started = time.perf_counter()
    if args.existing:
        url = with_dbname(args.database_url, args.existing)
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT max(ts) + interval '1 second', min(ts) FROM readings"
            ).fetchone()
        assert row is not None and row[0] is not None, "no raw readings in that database"
        now = row[0].replace(second=0, microsecond=0)
        raw_hours = round((now - row[1]).total_seconds() / 3600)
        results = measure(
            url,
            ward=site_ids(1)[0],
            now=now,
            raw_hours=raw_hours,
            requests=args.requests,
            raw_runs=args.raw_runs,
            seed=args.seed,
        )
        report(results, requests=args.requests, raw_runs=args.raw_runs)
        return 0
    with scratch_database(args.database_url, keep=args.keep) as url:
        ward, _ = build(
            url, residents=args.residents, days=args.days, raw_hours=args.raw_hours, now=now
        )
        print(f"built in {time.perf_counter() - started:.0f} s")
        results = measure(
            url,
            ward=ward,
            now=now,
            raw_hours=args.raw_hours,
            requests=args.requests,
            raw_runs=args.raw_runs,
            seed=args.seed,
        )
    report(results, requests=args.requests, raw_runs=args.raw_runs)
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
