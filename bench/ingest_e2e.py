"""End-to-end ingest benchmark: publisher process → mosquitto → IngestService → PostgreSQL.

    .venv/bin/python bench/ingest_e2e.py [--database-url URL] [--messages N] [--metrics 5]

Runs, each into its own scratch database (``eldercare_bench_e2e_*``, dropped at the end) through a
private mosquitto started with the tuned config of ``eldercare.embedded.EmbeddedMosquitto``
(``max_queued_messages 1000000``, ``max_inflight_messages 20000``):

1. QoS 0 at full speed, 2. QoS 1 at full speed: end-to-end messages/s = messages / (last commit -
   first publish).
3. QoS 1 and 4. QoS 0 paced at 5,000 msg/s: publish→commit latency p50/p99.
5. Baseline in the same process: a naive subscriber doing one INSERT and one commit per message in
   the paho callback (QoS 1), on a bounded number of messages.

The publisher is a separate process (``--publish`` mode of this file) on the same machine: each
message's ``device_ts`` is its publish time, so commit time - device_ts is publish→commit latency
(same clock). Ingest reports commits through ``IngestService(on_commit=...)``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import paho.mqtt.client as paho
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SITE = "bench-home"
METRIC_NAMES = ["heart_rate", "respiration_rate", "bed_presence", "movement", "signal_quality"]
METRIC_VALUES = [68.0, 15.0, 1.0, 0.2, 0.9]


# -- publisher process ----------------------------------------------------------------------------


def publish_main(args: argparse.Namespace) -> None:
    """Publish `messages` vitals round-robin over `devices`, device_ts = publish time.

    The MQTT side is mosquitto's own C client (`mosquitto_pub -l`, one process and topic per
    device, up to 1000 QoS 1 messages in flight): paho's Python publisher manages about 5,000 QoS 1
    msg/s here, which would measure the publisher, not ingest. This process only writes lines.
    """
    names = METRIC_NAMES[: args.metrics]
    values = json.dumps(dict(zip(names, METRIC_VALUES, strict=False)), separators=(",", ":"))
    pub = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"
    procs = [
        subprocess.Popen(
            [
                pub,
                "-p",
                str(args.port),
                "-q",
                str(args.qos),
                "-l",
                "-M",
                "1000",
                "-t",
                f"{args.namespace}/v1/{SITE}/bench-{d:04d}/vitals",
            ],
            stdin=subprocess.PIPE,
        )
        for d in range(args.devices)
    ]
    pipes = [p.stdin for p in procs]
    last_us = [0] * args.devices
    started = time.time()
    chunk = 50
    for i in range(args.messages):
        if args.rate > 0 and i % chunk == 0:
            ahead = started + i / args.rate - time.time()
            if ahead > 0:
                time.sleep(ahead)
            for pipe in pipes:
                pipe.flush()  # type: ignore[union-attr]
        device = i % args.devices
        us = max(int(time.time() * 1_000_000), last_us[device] + 1)  # unique (device, ts)
        last_us[device] = us
        ts = datetime.fromtimestamp(us / 1_000_000, UTC).isoformat(timespec="microseconds")
        line = f'{{"schema":1,"seq":{i},"device_ts":"{ts[:-6]}Z","values":{values}}}\n'
        pipes[device].write(line.encode())  # type: ignore[union-attr]
    for proc in procs:
        proc.stdin.close()  # type: ignore[union-attr]
    for proc in procs:
        proc.wait(300)
    finished = time.time()
    print(json.dumps({"started": started, "finished": finished}), flush=True)  # noqa: T201


# -- orchestration ---------------------------------------------------------------------------------


def with_dbname(url: str, dbname: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{dbname}"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(values: Sequence[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))]


@dataclass
class Result:
    name: str
    messages: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.admin_url = args.database_url
        self.run_id = f"{os.getpid()}_{secrets.token_hex(3)}"
        self.databases: list[str] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="eldercare-bench-"))

    def database(self, role: str) -> str:
        from eldercare.db import migrate
        from eldercare.registry import Bedside, register_bedside, register_site

        name = f"eldercare_bench_e2e_{self.run_id}_{role}"
        self.databases.append(name)
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
        url = with_dbname(self.admin_url, name)
        migrate(url)
        since = datetime.now(UTC) - timedelta(days=1)
        with psycopg.connect(url, autocommit=True) as conn:
            register_site(conn, site_id=SITE, name="Bench", tier="care_home")
            for d in range(self.args.devices):
                register_bedside(
                    conn,
                    Bedside(
                        site_id=SITE,
                        resident_id=f"bench-res-{d:04d}",
                        display_name=f"Resident {d}",
                        bed_id=f"bench-bed-{d:04d}",
                        device_id=f"bench-{d:04d}",
                        device_model="smart_mattress",
                    ),
                    since=since,
                )
        return url

    def publish(self, *, port: int, namespace: str, qos: int, messages: int, rate: float) -> dict:
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--publish",
            f"--port={port}",
            f"--namespace={namespace}",
            f"--qos={qos}",
            f"--messages={messages}",
            f"--rate={rate}",
            f"--devices={self.args.devices}",
            f"--metrics={self.args.metrics}",
        ]
        out = subprocess.run(command, check=True, capture_output=True, text=True, timeout=600)
        return json.loads(out.stdout.strip().splitlines()[-1])

    def run_ingest(self, name: str, *, port: int, qos: int, messages: int, rate: float) -> Result:
        from eldercare.settings import load_settings
        from ingest import Accepted, IngestOptions, IngestService

        url = self.database(f"run{len(self.databases)}")
        namespace = f"bench{secrets.token_hex(3)}"
        settings = load_settings(
            database={"url": url},
            mqtt={"url": f"mqtt://127.0.0.1:{port}", "namespace": namespace},
        )
        latencies: list[float] = []
        committed = {"n": 0, "last": 0.0}
        done = threading.Event()

        def on_commit(batch: Sequence[object], at: datetime) -> None:
            stamp = at.timestamp()
            for item in batch:
                if isinstance(item, Accepted):
                    latencies.append((stamp - item.readings[0].ts.timestamp()) * 1000)
            committed["n"] += len(batch)
            committed["last"] = time.time()
            if committed["n"] >= messages:
                done.set()

        # QoS 0 cannot be acknowledged late, so it uses a clean session.
        options = IngestOptions(
            client_id=f"bench-ingest-{secrets.token_hex(3)}",
            batch_size=self.args.batch_size,
            batch_age_s=self.args.batch_age_ms / 1000,
        )
        service = IngestService(settings, options=options, on_commit=on_commit)
        service.start()
        try:
            times = self.publish(
                port=port, namespace=namespace, qos=qos, messages=messages, rate=rate
            )
            done.wait(timeout=120)
        finally:
            service.stop()
        stored = committed["n"]
        window = service.stats.batch_latency
        if window.count:
            print(  # noqa: T201
                f"  {name}: {window.count} batches, "
                f"mean {window.total_seconds / window.count * 1000:.0f} ms, "
                f"writer busy {window.total_seconds:.1f} s, "
                f"queue-full waits {service.counters.queue_full_waits}",
                flush=True,
            )
        if stored < messages:
            print(f"  {name}: only {stored:,} of {messages:,} messages committed")  # noqa: T201
        if service.counters.quarantined:
            print(f"  {name}: {service.counters.quarantined} quarantined!")  # noqa: T201
        return Result(name, stored, committed["last"] - times["started"], latencies)

    def run_workers(self, *, port: int, qos: int, messages: int, workers: int) -> Result:
        """`workers` ingest processes (`eldercare ingest`) on one shared subscription.

        Throughput only (commits are counted in the database); no latency figures.
        """
        url = self.database(f"run{len(self.databases)}")
        namespace = f"bench{secrets.token_hex(3)}"
        env = {
            **os.environ,
            "ELDERCARE_DATABASE_URL": url,
            "ELDERCARE_MQTT_URL": f"mqtt://127.0.0.1:{port}",
            "ELDERCARE_MQTT_NAMESPACE": namespace,
            "ELDERCARE_INGEST_SHARED_GROUP": "bench",
            "ELDERCARE_INGEST_METRICS_PORT": "0",
            "ELDERCARE_INGEST_BATCH_SIZE": str(self.args.batch_size),
            "ELDERCARE_INGEST_BATCH_AGE_MS": str(self.args.batch_age_ms),
        }
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "eldercare", "ingest", "--client-id", f"bench-w{n}"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for n in range(workers)
        ]
        expected = messages * self.args.metrics
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                deadline = time.time() + 60
                while time.time() < deadline:  # every worker has written its status row
                    row = conn.execute("SELECT count(*) FROM ingest_workers").fetchone()
                    if row and row[0] >= workers:
                        break
                    time.sleep(0.1)
                time.sleep(1.0)  # subscriptions confirmed well before the first publish
                times = self.publish(
                    port=port, namespace=namespace, qos=qos, messages=messages, rate=0
                )
                stored, last = 0, time.time()
                deadline = time.time() + 180
                while stored < expected and time.time() < deadline:
                    row = conn.execute("SELECT count(*) FROM readings").fetchone()
                    stored, last = (row[0] if row else 0), time.time()
                    time.sleep(0.05)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(30)
        name = f"QoS {qos}, full speed, {workers} ingest processes"
        return Result(name, stored // self.args.metrics, last - times["started"], [])

    def run_naive(self, *, port: int, messages: int) -> Result:
        """One INSERT (the message's readings) and one commit per message, in the callback."""
        url = self.database("naive")
        namespace = f"bench{secrets.token_hex(3)}"
        conn = psycopg.connect(url)
        stored = {"n": 0, "last": 0.0}
        latencies: list[float] = []
        done = threading.Event()

        def on_message(client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
            body = json.loads(msg.payload)
            device = msg.topic.split("/")[3]
            ts = datetime.fromisoformat(body["device_ts"].replace("Z", "+00:00"))
            now = datetime.now(UTC)
            rows = [(ts, device, m, v, body["seq"], now) for m, v in body["values"].items()]
            conn.cursor().executemany(
                "INSERT INTO readings (ts, device_id, metric, value, seq, received_at) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                rows,
            )
            conn.commit()
            latencies.append((time.time() - ts.timestamp()) * 1000)
            stored["n"] += 1
            stored["last"] = time.time()
            if stored["n"] >= messages:
                done.set()

        client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"bench-naive-{secrets.token_hex(3)}",
            protocol=paho.MQTTv311,
        )
        client.on_message = on_message
        subscribed = threading.Event()
        client.on_subscribe = lambda *a: subscribed.set()
        client.on_connect = lambda c, *a: c.subscribe(f"{namespace}/v1/+/+/+", qos=1)
        client.connect("127.0.0.1", port)
        client.loop_start()
        subscribed.wait(10)
        try:
            times = self.publish(port=port, namespace=namespace, qos=1, messages=messages, rate=0)
            done.wait(timeout=180)
        finally:
            client.disconnect()
            client.loop_stop()
            conn.close()
        return Result(
            "naive: INSERT+commit per msg",
            stored["n"],
            stored["last"] - times["started"],
            latencies,
        )

    def close(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            for name in self.databases:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
        shutil.rmtree(self.tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--publish", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--namespace", default="bench", help=argparse.SUPPRESS)
    parser.add_argument("--qos", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=0, help=argparse.SUPPRESS)
    parser.add_argument(
        "--database-url", default=os.environ.get("ELDERCARE_DATABASE_URL", DEFAULT_ADMIN_URL)
    )
    parser.add_argument("--messages", type=int, default=150_000, help="per full-speed run")
    parser.add_argument("--paced-messages", type=int, default=50_000, help="per 5,000/s run")
    parser.add_argument("--naive-messages", type=int, default=15_000)
    parser.add_argument("--devices", type=int, default=8, help="publisher processes/topics")
    parser.add_argument("--metrics", type=int, default=5, choices=range(1, 6))
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--batch-age-ms", type=int, default=100)
    parser.add_argument(
        "--workers", type=int, default=2, help="also run N ingest processes (0/1: skip)"
    )
    args = parser.parse_args()
    if args.publish:
        publish_main(args)
        return

    from eldercare.embedded import EmbeddedMosquitto

    bench = Bench(args)
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    broker = EmbeddedMosquitto(bench.tmp / "mosquitto", port=free_port(), executable=mosquitto)
    broker.start()
    results: list[Result] = []
    try:
        full, paced = args.messages, args.paced_messages
        for name, qos, count, rate in (
            ("QoS 0, full speed", 0, full, 0.0),
            ("QoS 1, full speed", 1, full, 0.0),
            ("QoS 1 at 5,000/s", 1, paced, 5000.0),
            ("QoS 0 at 5,000/s", 0, paced, 5000.0),
        ):
            results.append(
                bench.run_ingest(name, port=broker.port, qos=qos, messages=count, rate=rate)
            )
        if args.workers > 1:
            for qos in (0, 1):
                results.append(
                    bench.run_workers(
                        port=broker.port, qos=qos, messages=full, workers=args.workers
                    )
                )
        results.append(bench.run_naive(port=broker.port, messages=args.naive_messages))
    finally:
        broker.stop()
        bench.close()
    print(  # noqa: T201
        f"\n{args.metrics} metric(s) per message, {args.devices} devices, batch {args.batch_size} "
        f"/ {args.batch_age_ms} ms, {os.cpu_count()} CPUs, publisher in its own process\n"
    )
    print("| run | messages | seconds | msg/s | p50 ms | p99 ms |")  # noqa: T201
    print("|---|---:|---:|---:|---:|---:|")  # noqa: T201
    for r in results:
        print(  # noqa: T201
            f"| {r.name} | {r.messages:,} | {r.seconds:.2f} | {r.rate:,.0f} | "
            f"{percentile(r.latencies_ms, 50):.0f} | {percentile(r.latencies_ms, 99):.0f} |"
        )
    naive = results[-1].rate
    if naive:
        print(  # noqa: T201
            f"\nratio vs naive (msg/s): QoS 0 {results[0].rate / naive:.1f}x, "
            f"QoS 1 {results[1].rate / naive:.1f}x"
        )


if __name__ == "__main__":
    main()
