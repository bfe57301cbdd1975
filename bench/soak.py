"""Soak: simulated devices through the whole pipeline, with faults, counting every reading.

    .venv/bin/python bench/soak.py [--devices 500] [--seconds 600] [--database-url ADMIN_URL]

Pipeline: `ScenarioPublisher` (smart mattresses, one gateway connection, QoS 1) → a private
Mosquitto → `eldercare ingest` → PostgreSQL → `eldercare detect` → `eldercare alerts`, each
service its own process as in production. Faults: device-side duplicates, reordering, jitter
and packet loss (lost messages are never sent, so they are not expected), malformed payloads
(to quarantine), and `kill -9` of ingest and of analytics half-way (each restarted at once).

Every published message is decoded with ingest's own `decode`; the valid readings are the
expected set. At the end the harness waits (bounded) until the database holds them and
reports: messages in/out, readings expected/stored/lost, quarantined, findings and alerts,
memory growth (RSS) and CPU seconds of each process, including the database backends serving
the soak and the broker. `tests/deploy/test_soak.py` runs a short version and asserts that no
valid reading is lost; `ELDERCARE_SOAK_DEVICES` / `ELDERCARE_SOAK_SECONDS` make it long.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from devices import Stream, Topics  # noqa: E402
from eldercare.db import migrate  # noqa: E402
from eldercare.embedded import EmbeddedMosquitto  # noqa: E402
from eldercare.registry import register_bedside, register_site  # noqa: E402
from eldercare.settings import MqttSettings  # noqa: E402
from ingest import Accepted, RawMessage, decode  # noqa: E402
from simulators import DeviceMessage, FaultRates, ScenarioConfig, ScenarioPublisher  # noqa: E402

SITE = "soak-home"
MOSQUITTO = "/usr/sbin/mosquitto"
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class SoakConfig:
    devices: int = 50
    seconds: float = 20.0
    seed: int = 8
    malformed_every_s: float = 2.0
    kill_at_fraction: float = 0.5  # kill -9 ingest and analytics at this point of the run
    drain_timeout_s: float = 120.0


@dataclass
class ProcessStats:
    rss_first: int = 0  # bytes, first sample after warm-up
    rss_last: int = 0
    rss_peak: int = 0
    cpu_s: float = 0.0  # user + system, summed over restarts
    # CPU spent inside the measured window (after warm-up: start-up imports excluded).
    window_cpu_s: float = 0.0

    @property
    def growth(self) -> int:
        return self.rss_last - self.rss_first


@dataclass
class SoakReport:
    devices: int
    seconds: float
    messages_published: int = 0
    malformed_published: int = 0
    ingest_received: int = 0
    readings_expected: int = 0
    readings_stored: int = 0
    readings_lost: int = 0
    quarantined: int = 0
    findings: int = 0
    alerts: int = 0
    drain_s: float = 0.0
    window_messages: int = 0  # messages published after warm-up
    processes: dict[str, ProcessStats] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [
            f"soak: {self.devices} devices for {self.seconds:g} s (faults: duplicates, reorder, "
            "jitter, loss, malformed payloads, kill -9 of ingest and analytics)",
            f"messages in (published): {self.messages_published} "
            f"(+{self.malformed_published} malformed); out (ingest received, all instances): "
            f"{self.ingest_received}",
            f"readings: expected {self.readings_expected}, stored {self.readings_stored}, "
            f"lost {self.readings_lost}; quarantined {self.quarantined}; drained in "
            f"{self.drain_s:.1f} s",
            f"findings {self.findings}, alerts {self.alerts}",
        ]
        messages = max(self.window_messages, 1)
        for name, stats in self.processes.items():
            out.append(
                f"{name:>10}: RSS {stats.rss_first / 2**20:.1f} → {stats.rss_last / 2**20:.1f} MiB "
                f"(growth {stats.growth / 2**20:+.1f} MiB, peak {stats.rss_peak / 2**20:.1f}), "
                f"CPU {stats.cpu_s:.2f} s in all, {stats.window_cpu_s:.2f} s after warm-up = "
                f"{stats.window_cpu_s / messages * 1e6:.0f} µs/message"
            )
        return out


def _proc_sample(pid: int) -> tuple[int, float] | None:
    """(RSS bytes, CPU seconds) of a process, None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        statm = Path(f"/proc/{pid}/statm").read_text().split()
    except OSError:
        return None
    cpu = (int(stat[11]) + int(stat[12])) / _TICKS
    return int(statm[1]) * _PAGE, cpu


class _Watched:
    """Processes sampled for memory and CPU; restarts of the same name add their CPU."""

    def __init__(self) -> None:
        self.stats: dict[str, ProcessStats] = {}
        self._pids: dict[str, list[int]] = {}
        self._cpu_seen: dict[tuple[int, str], float] = {}
        self._cpu_window_start: dict[tuple[int, str], float] = {}
        self._lock = threading.Lock()

    def watch(self, name: str, pids: list[int], *, keep: bool = False) -> None:
        """Sample `pids` as `name` from now on (`keep`: in addition to the ones already known)."""
        with self._lock:
            self.stats.setdefault(name, ProcessStats())
            known = self._pids.get(name, []) if keep else []
            self._pids[name] = known + [pid for pid in pids if pid not in known]

    def sample(self, *, record_first: bool) -> None:
        with self._lock:
            for name, pids in self._pids.items():
                stats = self.stats[name]
                rss = 0
                for pid in pids:
                    sampled = _proc_sample(pid)
                    if sampled is None:
                        continue
                    rss += sampled[0]
                    self._cpu_seen[(pid, name)] = sampled[1]
                    if record_first:
                        self._cpu_window_start.setdefault((pid, name), sampled[1])
                if rss:
                    if record_first and not stats.rss_first:
                        stats.rss_first = rss
                    stats.rss_last = rss
                    stats.rss_peak = max(stats.rss_peak, rss)

    def finish(self) -> dict[str, ProcessStats]:
        with self._lock:
            for key, cpu in self._cpu_seen.items():
                self.stats[key[1]].cpu_s += cpu
                self.stats[key[1]].window_cpu_s += cpu - self._cpu_window_start.get(key, cpu)
        return self.stats


def _with_dbname(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _count(url: str, sql: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def run_soak(config: SoakConfig, *, database_url: str, workdir: Path) -> SoakReport:
    """Run the soak against a migrated, otherwise unused database; see the module docstring."""
    namespace = f"soak-{secrets.token_hex(3)}"
    topics = Topics(namespace)
    broker = EmbeddedMosquitto(workdir / "mosquitto", port=_free_port(), executable=MOSQUITTO)
    mqtt_url = broker.start()
    report = SoakReport(devices=config.devices, seconds=config.seconds)
    watched = _Watched()
    children: dict[str, subprocess.Popen[bytes]] = {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELDERCARE_")}
    env |= {
        "ELDERCARE_DATABASE_URL": database_url,
        "ELDERCARE_MQTT_URL": mqtt_url,
        "ELDERCARE_MQTT_NAMESPACE": namespace,
        "ELDERCARE_INGEST_METRICS_PORT": "0",
        "ELDERCARE_STATE_DIR": str(workdir / "state"),
    }

    def spawn(name: str, args: list[str]) -> None:
        log = (workdir / f"{name}.log").open("ab")
        children[name] = subprocess.Popen(
            [sys.executable, "-m", "eldercare", *args],
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()

    def database_backends() -> list[int]:
        with psycopg.connect(database_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid()"
            ).fetchall()
        return [row[0] for row in rows]

    try:
        start = datetime.now(UTC)
        scenario = ScenarioConfig(
            start=start,
            duration_s=config.seconds,
            seed=config.seed,
            residents=config.devices,
            site_id=SITE,
            devices=("smart_mattress",),
            faults=FaultRates(packet_loss=0.01, duplicate=0.01, reorder=0.01, send_jitter_s=0.2),
        )
        expected: set[tuple[str, str, datetime]] = set()

        def record(message: DeviceMessage) -> None:
            if message.stream is Stream.STATUS:
                return
            raw = RawMessage(message.topic(topics), message.payload, 1, 0, start)
            decoded = decode(raw, topics)
            if isinstance(decoded, Accepted):
                expected.update((r.device_id, r.metric.value, r.ts) for r in decoded.readings)

        settings = MqttSettings(url=mqtt_url, namespace=namespace)
        publisher = ScenarioPublisher(
            scenario, settings, gateway=True, client_prefix="soak", on_publish=record
        )
        with psycopg.connect(database_url, autocommit=True) as conn:
            register_site(conn, site_id=SITE, name="Soak home", tier="care_home")
            for bedside in publisher.bedsides:
                register_bedside(conn, bedside, since=start)

        spawn("ingest", ["ingest", "--client-id", "soak-ingest"])
        spawn("analytics", ["detect"])
        spawn("alerts", ["alerts"])
        # Subscribed once, its persistent session makes the broker keep what it misses later.
        ingest_log = workdir / "ingest.log"
        ingest_ready = _wait(lambda: b"ingest subscribed" in ingest_log.read_bytes(), 60)
        if not ingest_ready:
            raise RuntimeError(f"ingest did not start; see {workdir / 'ingest.log'}")
        assert broker._process is not None
        watched.watch("broker", [broker._process.pid])
        for name, child in children.items():
            watched.watch(name, [child.pid])
        watched.watch("database", database_backends())

        publisher.connect()
        stop_publishing = threading.Event()
        publish_thread = threading.Thread(
            target=lambda: publisher.run(stop=stop_publishing), name="soak-publisher"
        )
        publish_thread.start()

        import paho.mqtt.client as paho  # the malformed-payload injector
        from paho.mqtt.enums import CallbackAPIVersion

        injector = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="bad")
        injector.connect("127.0.0.1", broker.port)
        injector.loop_start()
        began = time.monotonic()
        killed = False
        next_malformed = began
        warm = began + max(2.0, config.seconds * 0.1)
        published_at_warm: int | None = None
        while publish_thread.is_alive():
            now = time.monotonic()
            if now >= warm and published_at_warm is None:
                published_at_warm = publisher.messages_published
            # Services open their connections lazily: pick up new database backends as they come.
            watched.watch("database", database_backends(), keep=True)
            watched.sample(record_first=now >= warm)
            if now >= next_malformed:
                device = publisher.device_ids[report.malformed_published % config.devices]
                injector.publish(
                    topics.topic(SITE, device, Stream.VITALS), b'{"schema": "garbage"', qos=1
                )
                report.malformed_published += 1
                next_malformed = now + config.malformed_every_s
            if not killed and now - began >= config.seconds * config.kill_at_fraction:
                killed = True
                for name, args in (
                    ("ingest", ["ingest", "--client-id", "soak-ingest"]),
                    ("analytics", ["detect"]),
                ):
                    watched.sample(record_first=False)
                    children[name].kill()
                    children[name].wait(10)
                    spawn(name, args)
                    watched.watch(name, [children[name].pid])
            time.sleep(0.5)
        publish_thread.join()
        report.messages_published = publisher.messages_published
        report.window_messages = report.messages_published - (published_at_warm or 0)
        publisher.close()
        injector.disconnect()
        injector.loop_stop()

        # COPY the expected keys and let the database find the missing ones.
        report.readings_expected = len(expected)

        def lost() -> int:
            with psycopg.connect(database_url) as conn:
                conn.execute(
                    "CREATE TEMP TABLE expected (device_id text, metric text, ts timestamptz)"
                )
                with conn.cursor().copy("COPY expected (device_id, metric, ts) FROM STDIN") as copy:
                    for key in expected:
                        copy.write_row(key)
                row = conn.execute(
                    "SELECT count(*) FROM expected e WHERE NOT EXISTS (SELECT 1 FROM readings r"
                    " WHERE r.device_id = e.device_id AND r.metric = e.metric AND r.ts = e.ts)"
                ).fetchone()
            return int(row[0]) if row else -1

        drain_began = time.monotonic()
        _wait(
            lambda: (
                _count(database_url, "SELECT count(*) FROM readings") >= report.readings_expected
            ),
            config.drain_timeout_s,
        )
        report.readings_lost = lost()
        report.drain_s = time.monotonic() - drain_began
        # Analytics catches up with the last committed readings before the counts are taken.
        _wait(
            lambda: (
                _count(
                    database_url,
                    "SELECT ((SELECT max(position) FROM stream_cursors)"
                    " > (SELECT max(tx) FROM readings))::int",
                )
                == 1
            ),
            30,
        )
        watched.sample(record_first=False)
        report.readings_stored = _count(database_url, "SELECT count(*) FROM readings")
        report.quarantined = _count(database_url, "SELECT count(*) FROM quarantine")
        report.findings = _count(database_url, "SELECT count(*) FROM findings")
        report.alerts = _count(database_url, "SELECT count(*) FROM alerts")
        report.ingest_received = _count(
            database_url, "SELECT sum((counters->>'received')::bigint) FROM ingest_workers"
        )
        report.processes = watched.finish()
        return report
    finally:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children.values():
            try:
                child.wait(20)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres", help="admin URL"
    )
    args = parser.parse_args()
    name = f"eldercare_soak_{secrets.token_hex(4)}"
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _with_dbname(args.database_url, name)
    try:
        migrate(url)
        with tempfile.TemporaryDirectory(prefix="eldercare-soak-") as workdir:
            report = run_soak(
                SoakConfig(devices=args.devices, seconds=args.seconds),
                database_url=url,
                workdir=Path(workdir),
            )
        for line in report.lines():
            print(line)
        sys.exit(1 if report.readings_lost else 0)
    finally:
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
