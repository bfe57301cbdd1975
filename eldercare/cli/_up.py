"""`eldercare up`: the whole system, with embedded services when no URLs are set."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from eldercare.errors import EldercareError

if TYPE_CHECKING:
    pass

from eldercare.cli._app import DEMO_SITE, _settings, app, demo_staff_password, log


@app.command()
def up(
    demo: Annotated[bool, typer.Option(help="Also run a simulated ward with episodes.")] = False,
    residents: Annotated[int, typer.Option(min=1, help="Demo residents.")] = 8,
    speed: Annotated[float, typer.Option(min=0.01, help="Demo device time per wall second.")] = 1.0,
) -> None:
    """Run everything: embedded database and broker unless URLs are set, then all services."""
    from eldercare.db import migrate as run_migrations
    from eldercare.embedded import start_embedded, wait_for_port

    settings = _settings()
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    with ExitStack() as stack:
        settings = start_embedded(settings, stack)
        assert settings.database.url is not None and settings.mqtt.url is not None
        run_migrations(settings.database.url, mode=settings.database.timescale)
        demo_password = demo_staff_password(settings) if demo else None
        if demo_password is not None:
            _seed_demo(settings.database.url, demo_password)
        env = {
            **os.environ,
            "ELDERCARE_DATABASE_URL": settings.database.url,
            "ELDERCARE_MQTT_URL": settings.mqtt.url,
            "ELDERCARE_STATE_DIR": str(settings.state_dir),
        }
        children: dict[str, subprocess.Popen[bytes]] = {}
        stack.callback(_stop_children, children)
        for name in ("ingest", "detect", "alerts", "consults", "serve"):
            children[name] = _spawn([name], env)
        wait_for_port(
            "127.0.0.1" if settings.api.host in ("0.0.0.0", "::") else settings.api.host,
            settings.api.port,
            timeout=60,
            alive=lambda: children["serve"].poll() is None,
        )
        if demo:
            episodes = [
                "tachycardia:2:30:900",
                f"bradycardia:{min(5, residents)}:300:900",
            ]
            args = [
                "simulate",
                "--residents",
                str(residents),
                "--speed",
                str(speed),
                "--site",
                DEMO_SITE,
                "--provision",
            ]
            for spec in episodes:
                args += ["--episode", spec]
            children["simulate"] = _spawn(args, env)
        scheme = "https" if settings.api.ssl_certfile else "http"
        typer.echo(
            f"eldercare is running. Dashboard: {scheme}://{settings.api.host}:{settings.api.port}/"
        )
        if demo_password is not None:
            from dashboard import DEMO_STAFF

            names = ", ".join(username for username, *_ in DEMO_STAFF)
            typer.echo(f"Demo logins: {names}; password {demo_password}")
        else:
            typer.echo("Log in with a staff account ('eldercare staff add' makes the first one).")
        typer.echo("Ctrl-C stops everything.")
        while not stop.is_set():
            for name, child in children.items():
                if child.poll() is not None:
                    raise EldercareError(f"'{name}' exited with code {child.returncode}")
            stop.wait(0.5)
        typer.echo("stopping…")


def _seed_demo(url: str, staff_password: str) -> None:
    from consults import seed_demo_network
    from dashboard import seed_demo_staff
    from eldercare.db import connect

    with connect(url, autocommit=True) as conn:
        seed_demo_network(conn, now=datetime.now(UTC))
        seed_demo_staff(conn, password=staff_password, now=datetime.now(UTC))


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Own process group: the terminal's Ctrl-C reaches only `up`, which stops children in order.
    return subprocess.Popen(
        [sys.executable, "-m", "eldercare", *args], env=env, start_new_session=True
    )


def _stop_children(children: dict[str, subprocess.Popen[bytes]]) -> None:
    # Stop producers first so ingest can write what it has received before it stops.
    order = ["simulate", "ingest", "detect", "alerts", "consults", "serve"]
    for name in order:
        child = children.get(name)
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in 15 s; killing it", name)
                child.kill()
                child.wait()


# -- devices, broker credentials, database operations and backups (docs/deployment.md) ----------
