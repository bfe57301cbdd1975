"""Alert fixtures: a registered site with residents, findings, and a real local webhook receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest

from alerts import EVENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from analytics import Channel, Finding, Severity, insert_findings
from eldercare.registry import Bedside, register_bedside, register_site

SITE = "alert-home"
SECRET = "webhook-test-secret"
T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def add_residents(conn: psycopg.Connection, tiers: dict[str, str], *, site_id: str = SITE) -> None:
    register_site(conn, site_id=site_id, name="Alert test home", tier="care_home")
    for resident_id, tier in tiers.items():
        register_bedside(
            conn,
            Bedside(
                site_id=site_id,
                resident_id=resident_id,
                display_name=resident_id,
                bed_id=f"bed-{resident_id}",
                device_id=f"mat-{resident_id}",
                device_model="mattress",
                risk_tier=tier,
            ),
            since=T0 - timedelta(days=1),
        )


def make_finding(
    resident_id: str,
    *,
    kind: str = "tachycardia",
    severity: Severity = Severity.HIGH,
    channel: Channel = Channel.CLINICAL,
    detected: datetime = T0,
) -> Finding:
    return Finding(
        resident_id=resident_id,
        device_id=f"mat-{resident_id}",
        kind=kind,
        severity=severity,
        channel=channel,
        started_at=detected - timedelta(minutes=2),
        detected_at=detected,
        detector="test",
        detector_version="1",
    )


def add_findings(conn: psycopg.Connection, findings: list[Finding]) -> None:
    with conn.transaction():
        insert_findings(conn, findings)


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1 that verifies signatures and records event ids."""

    url: str
    bodies: list[dict] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    bad_signatures: int = 0
    fail_next: int = 0  # answer 503 to this many requests first
    status_when_failing: int = 503
    delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)

    def wait_for(self, predicate, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
        with self.changed:
            return self.changed.wait_for(lambda: predicate(self), timeout)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, so the notifier's connection reuse is tested

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if receiver.delay_s:
                threading.Event().wait(receiver.delay_s)
            with receiver.changed:
                if receiver.fail_next > 0:
                    receiver.fail_next -= 1
                    self.send_response(receiver.status_when_failing)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                ok = verify_signature(
                    SECRET,
                    timestamp=self.headers[TIMESTAMP_HEADER],
                    body=body,
                    signature=self.headers[SIGNATURE_HEADER],
                    now=datetime.now(UTC),
                )
                if not ok:
                    receiver.bad_signatures += 1
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                receiver.bodies.append(json.loads(body))
                receiver.event_ids += self.headers[EVENT_ID_HEADER].split(",")
                receiver.changed.notify_all()
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()
    thread.join(10)


def add_webhook(
    conn: psycopg.Connection,
    url: str,
    *,
    name: str = "pager-gateway",
    max_per_minute: int | None = None,
    channels: str = "{clinical}",
    min_severity: str = "low",
) -> int:
    (subscriber_id,) = conn.execute(
        "INSERT INTO alert_subscribers (name, transport, url, secret, max_per_minute, channels,"
        " min_severity) VALUES (%s, 'webhook', %s, %s, %s, %s, %s) RETURNING subscriber_id",
        (name, url, SECRET, max_per_minute, channels, min_severity),
    ).fetchone()  # type: ignore[misc]
    return int(subscriber_id)
