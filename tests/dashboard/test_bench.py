"""bench/dashboard.py --quick runs end to end: builds its database, measures, drops it."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import psycopg
import pytest

from eldercare.settings import Settings

BENCH = Path(__file__).resolve().parents[2] / "bench" / "dashboard.py"


def test_quick_bench_measures_both_paths_and_drops_its_database(
    service_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = importlib.util.spec_from_file_location("bench_dashboard", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    admin_url = service_settings.database.url
    assert admin_url is not None

    assert bench.main(["--quick", "--database-url", admin_url]) == 0

    out = capsys.readouterr().out
    assert "same: True" in out  # the rollup chart and the raw-table chart agree
    for path in ("API chart 24h", "API ward overview", "SQL chart 24h, raw 1 Hz"):
        row = re.search(rf"^{re.escape(path)}\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", out, re.M)
        assert row is not None, out
        p50, p95, p99 = map(float, row.groups()[1:])
        assert 0 < p50 <= p95 <= p99
    assert re.search(r"readings_1m\s+[\d,]+ rows", out)
    with psycopg.connect(admin_url) as conn:
        left = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'bench_dashboard_%%'"
            " AND datname = %s",
            (f"bench_dashboard_{os.getpid()}",),
        ).fetchall()
    assert left == []
