"""Analytics scale-out: partitions split residents without overlap or gaps."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from analytics import AnalyticsService, resident_partition
from devices import Metric, Sample, Topics, VitalsMessage, encode_vitals
from eldercare.db import Backend
from eldercare.errors import ConfigError
from eldercare.settings import Settings, load_settings
from ingest import RawMessage, decode, load_device_sites, write_batch
from tests.utils.ward import registered_ward

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def test_partition_of_a_resident_is_stable_and_spreads_residents() -> None:
    ids = [f"home-r{i:03d}" for i in range(300)]
    assert [resident_partition(r, 3) for r in ids] == [resident_partition(r, 3) for r in ids]
    counts = Counter(resident_partition(r, 3) for r in ids)
    assert set(counts) == {0, 1, 2} and min(counts.values()) > 60


@pytest.mark.parametrize("value", ["3/3", "1/0", "a/2", "1-2"])
def test_invalid_partition_setting_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="partition"):
        load_settings(analytics={"partition": value})


def _store_tachycardia_for_every_resident(conn: psycopg.Connection, residents: int) -> list[str]:
    beds = registered_ward(conn, site_id="part", residents=residents, since=T0 - timedelta(days=1))
    topics = Topics("part-test")
    batch = []
    for bed in beds:
        b = bed.bedside
        samples = tuple(
            Sample(
                device_ts=T0 + timedelta(seconds=s),
                values=((Metric.BED_PRESENCE, 1.0), (Metric.HEART_RATE, 145.0)),
            )
            for s in range(200)
        )
        raw = RawMessage(
            topic=f"part-test/v1/part/{b.device_id}/vitals",
            payload=encode_vitals(VitalsMessage(seq=1, samples=samples)),
            qos=1,
            mid=1,
            received_at=T0,
        )
        batch.append(decode(raw, topics))
    write_batch(conn, batch, device_sites=load_device_sites(conn), backend=Backend.PLAIN)
    return [bed.bedside.resident_id for bed in beds]


def _with_partition(settings: Settings, partition: str) -> Settings:
    analytics = settings.analytics.model_copy(update={"partition": partition})
    return settings.model_copy(update={"analytics": analytics})


def test_partitions_together_find_each_resident_exactly_once(
    settings: Settings, conn: psycopg.Connection, database_url: str
) -> None:
    residents = _store_tachycardia_for_every_resident(conn, residents=6)
    found: list[str] = []
    for k in range(2):
        service = AnalyticsService(_with_partition(settings, f"{k}/2"))
        with psycopg.connect(database_url) as worker:
            findings = service.poll_once(worker) + service.flush(worker)
            found += [f.resident_id for f in findings if f.kind == "tachycardia"]
    assert sorted(found) == sorted(residents)
    cursors = {row[0] for row in conn.execute("SELECT consumer FROM stream_cursors")}
    assert cursors == {"analytics-0-of-2", "analytics-1-of-2"}
