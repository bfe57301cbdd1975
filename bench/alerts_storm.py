"""Benchmark: an alarm storm through the alerts stage.

    python bench/alerts_storm.py [--database-url URL] [--mqtt-url URL] [--seconds 10 | --long]

A producer inserts findings at ``--rate`` per second (default 1,000) for ``--seconds`` (default 10;
``--long`` runs the issue's 60 s) over ``--residents`` residents and 4 kinds, mostly repeats with
occasional worse severities, while a "staff" thread resolves a few open alerts per second so new
episodes keep opening. The real service runs as in production, ``python -m eldercare alerts`` in
its own process (lifecycle + delivery loops), and delivers to a local signed-webhook receiver and
the MQTT alert topic. After the storm it drains, then prints: findings, alerts created, events,
deliveries made, and finding→delivery latency (p50/p95/p99) measured from the finding's insert
(``findings.created_at``) to its event's arrival at each receiver.

Scratch database ``eldercare_bench_alerts_<pid>`` next to ``--database-url`` (an admin URL,
default ``$ELDERCARE_DATABASE_URL``), dropped at the end, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import random
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, urlunsplit

import paho.mqtt.client as paho
import psycopg

import eldercare.db
from alerts import EVENT_ID_HEADER, resolve_alert
from eldercare.mqtt import connect, make_client
from eldercare.settings import load_settings

SITE = "bench-home"
KINDS = ("tachycardia", "bradycardia", "tachypnoea", "bradypnoea")
SECRET = secrets.token_hex(16)


def with_dbname(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


@contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    name = f"eldercare_bench_alerts_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_dbname(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Arrivals:
    """Wall-clock arrival time of each event id at each receiver (first arrival wins)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.first: dict[tuple[str, str], float] = {}
        self.messages = {"webhook": 0, "mqtt": 0}

    def add(self, receiver: str, event_ids: list[str]) -> None:
        now = time.time()
        with self.lock:
            self.messages[receiver] += 1
            for event_id in event_ids:
                self.first.setdefault((receiver, event_id), now)


def webhook_server(arrivals: Arrivals) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a production receiver would

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            arrivals.add("webhook", self.headers[EVENT_ID_HEADER].split(","))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def setup(url: str, residents: int, webhook_url: str) -> None:
    eldercare.db.migrate(url, mode="off")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO sites (site_id, name, tier) VALUES (%s, 'Bench home', 'care_home')",
            (SITE,),
        )
        conn.cursor().executemany(
            "INSERT INTO residents (resident_id, site_id, display_name, risk_tier)"
            " VALUES (%s, %s, %s, %s)",
            [(f"r{i}", SITE, f"r{i}", ("low", "medium", "high")[i % 3]) for i in range(residents)],
        )
        conn.execute(
            "INSERT INTO alert_subscribers (name, transport, url, secret)"
            " VALUES ('bench-webhook', 'webhook', %s, %s)",
            (webhook_url, SECRET),
        )


def produce(url: str, *, rate: int, seconds: float, residents: int, stop: threading.Event) -> int:
    rng = random.Random(7)
    sql = (
        "INSERT INTO findings (resident_id, device_id, kind, severity, channel, started_at,"
        " detected_at, evidence, detector, detector_version)"
        " VALUES (%s, %s, %s, %s, 'clinical', %s, %s, '{}', 'bench', '1')"
    )
    tick = 0.02
    per_tick = max(int(rate * tick), 1)
    sent = 0
    start = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.cursor()
        while not stop.is_set() and time.monotonic() - start < seconds:
            now = datetime.now(UTC)
            rows = []
            for _ in range(per_tick):
                resident = rng.randrange(residents)
                severity = rng.choices(("low", "medium", "high", "critical"), (60, 30, 9, 1))[0]
                rows.append(
                    (
                        f"r{resident}",
                        f"mat-{resident}",
                        rng.choice(KINDS),
                        severity,
                        now - timedelta(minutes=2),
                        now,
                    )
                )
            cur.executemany(sql, rows)
            sent += len(rows)
            target = start + sent / rate
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    return sent


def staff(url: str, *, per_second: float, stop: threading.Event) -> int:
    """Resolve random open alerts, so new episodes keep opening during the storm."""
    resolved = 0
    with psycopg.connect(url) as conn:
        while not stop.wait(1 / per_second):
            row = conn.execute(
                "SELECT alert_id FROM alerts WHERE state <> 'resolved' ORDER BY random() LIMIT 1"
            ).fetchone()
            conn.commit()
            if row is None:
                continue
            try:
                resolve_alert(
                    conn, alert_id=row[0], actor="bench-nurse", note=None, at=datetime.now(UTC)
                )
                resolved += 1
            except Exception:  # raced with another change; fine for a benchmark
                conn.rollback()
    return resolved


def mqtt_listener(mqtt_url: str, namespace: str, arrivals: Arrivals) -> paho.Client:
    settings = load_settings(mqtt={"url": mqtt_url, "namespace": namespace})
    client = make_client(settings.mqtt, client_id=f"{namespace}-listener")

    def on_message(client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        arrivals.add("mqtt", [json.loads(message.payload)["event_id"]])

    client.on_message = on_message
    connect(client, settings.mqtt)
    client.subscribe(f"{namespace}/alerts/v1/#", qos=1)
    time.sleep(0.5)  # let the SUBACK arrive before the storm
    return client


def warm_up(url: str, arrivals: Arrivals) -> None:
    """Wait until the service is up and delivering (one finding through both channels), so its
    start-up is not counted as latency; the warm-up's rows are excluded from the figures."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO findings (resident_id, device_id, kind, severity, channel, started_at,"
            " detected_at, evidence, detector, detector_version)"
            " VALUES ('r0', 'mat-0', 'warm_up', 'low', 'clinical', now(), now(), '{}', 'bench',"
            " '1')"
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with arrivals.lock:
                if arrivals.messages["webhook"] and arrivals.messages["mqtt"]:
                    break
            time.sleep(0.05)
        else:
            raise SystemExit("the alerts service did not deliver the warm-up event within 60 s")
        conn.execute("DELETE FROM alert_deliveries")
        conn.execute("DELETE FROM alert_events")
        conn.execute("DELETE FROM findings")
        conn.execute("DELETE FROM alerts")
    with arrivals.lock:
        arrivals.first.clear()
        arrivals.messages = {"webhook": 0, "mqtt": 0}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("ELDERCARE_DATABASE_URL"))
    parser.add_argument("--mqtt-url", default=os.environ.get("ELDERCARE_MQTT_URL"))
    parser.add_argument("--rate", type=int, default=1000, help="findings per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--long", action="store_true", help="the issue's 60 s storm")
    parser.add_argument("--residents", type=int, default=500)
    parser.add_argument("--resolve-per-s", type=float, default=5.0)
    args = parser.parse_args()
    if not args.database_url or not args.mqtt_url:
        parser.error(
            "give --database-url and --mqtt-url, or set ELDERCARE_DATABASE_URL and _MQTT_URL"
        )
    seconds = 60.0 if args.long else args.seconds
    namespace = f"bench-{secrets.token_hex(3)}"
    arrivals = Arrivals()
    server = webhook_server(arrivals)
    webhook_url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    with scratch_database(args.database_url) as url:
        setup(url, args.residents, webhook_url)
        listener = mqtt_listener(args.mqtt_url, namespace, arrivals)
        # The service runs as it does in production: its own process (`eldercare alerts`), so
        # the benchmark's producer and receivers do not share its interpreter lock.
        env = {**os.environ, "ELDERCARE_DATABASE_URL": url, "ELDERCARE_MQTT_NAMESPACE": namespace}
        env["ELDERCARE_MQTT_URL"] = args.mqtt_url
        worker = subprocess.Popen([sys.executable, "-m", "eldercare", "alerts"], env=env)
        atexit.register(lambda: worker.poll() is None and worker.kill())
        warm_up(url, arrivals)
        stop_load = threading.Event()
        counts: dict[str, int] = {}
        nurse = threading.Thread(
            target=lambda: counts.__setitem__(
                "resolved", staff(url, per_second=args.resolve_per_s, stop=stop_load)
            ),
            daemon=True,
        )
        nurse.start()
        began = time.monotonic()
        produced = produce(
            url, rate=args.rate, seconds=seconds, residents=args.residents, stop=stop_load
        )
        storm_s = time.monotonic() - began
        stop_load.set()
        nurse.join()
        drain_deadline = time.monotonic() + 120
        with psycopg.connect(url, autocommit=True) as conn:
            while time.monotonic() < drain_deadline:
                (left,) = conn.execute(  # type: ignore[misc]
                    "SELECT (SELECT count(*) FROM findings WHERE processed_at IS NULL)"
                    " + (SELECT count(*) FROM alert_deliveries WHERE state = 'pending')"
                ).fetchone()
                if left == 0:
                    break
                time.sleep(0.2)
            drained_s = time.monotonic() - began - storm_s
            time.sleep(0.5)  # last MQTT messages in flight to the listener
            worker.terminate()
            worker.wait(30)
            alerts_created, events, delivered, dead, pending, first_done, last_done = conn.execute(
                "SELECT (SELECT count(*) FROM alerts), (SELECT count(*) FROM alert_events),"
                " (SELECT count(*) FROM alert_deliveries WHERE state = 'delivered'),"
                " (SELECT count(*) FROM alert_deliveries WHERE state = 'dead'),"
                " (SELECT count(*) FROM alert_deliveries WHERE state = 'pending'),"
                " (SELECT min(processed_at) FROM findings),"
                " (SELECT max(processed_at) FROM findings)"
            ).fetchone()  # type: ignore[misc]
            caused = dict(
                conn.execute(
                    "SELECT e.event_id::text, extract(epoch FROM f.created_at)"
                    " FROM alert_events e JOIN findings f USING (finding_id)"
                ).fetchall()
            )
            processing = [
                float(r[0])
                for r in conn.execute(
                    "SELECT extract(epoch FROM processed_at - created_at) FROM findings"
                    " WHERE processed_at IS NOT NULL"
                ).fetchall()
            ]
        listener.loop_stop()
        listener.disconnect()
    server.shutdown()
    latencies: dict[str, list[float]] = {"webhook": [], "mqtt": []}
    for (receiver, event_id), arrived in arrivals.first.items():
        if event_id in caused:
            latencies[receiver].append((arrived - float(caused[event_id])) * 1000)
    processed_rate = produced / max((last_done - first_done).total_seconds(), 1e-9)
    print(
        f"storm: {produced:,} findings in {storm_s:.1f} s ({produced / storm_s:,.0f}/s target "
        f"{args.rate:,}/s), {args.residents} residents x {len(KINDS)} kinds; "
        f"drained {drained_s:.1f} s after; staff resolved {counts.get('resolved', 0)}"
    )
    print(
        f"findings processed: {processed_rate:,.0f}/s (first to last processed_at); "
        f"finding->alert p50 {percentile(processing, 0.5) * 1000:.0f} ms, "
        f"p95 {percentile(processing, 0.95) * 1000:.0f} ms"
    )
    print(f"alerts created: {alerts_created:,}   events: {events:,}")
    print(
        f"deliveries made: {delivered:,} (dead {dead}, pending {pending}); messages received: "
        f"webhook {arrivals.messages['webhook']:,}, mqtt {arrivals.messages['mqtt']:,}"
    )
    for receiver, values in latencies.items():
        if values:
            print(
                f"finding->delivery {receiver}: n={len(values):,} "
                f"p50 {percentile(values, 0.5):.0f} ms, p95 {percentile(values, 0.95):.0f} ms, "
                f"p99 {percentile(values, 0.99):.0f} ms, max {max(values):.0f} ms"
            )


if __name__ == "__main__":
    main()
