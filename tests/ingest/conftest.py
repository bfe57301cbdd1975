"""Fixtures for ingest tests that need a broker of their own (load, faults) and a publisher."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from eldercare.embedded import EmbeddedMosquitto
from eldercare.settings import Settings
from tests.ingest.support import MOSQUITTO, Publisher, free_port


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedMosquitto]:
    """A private mosquitto (deep queues, persistence) on a free port; restartable in a test."""
    server = EmbeddedMosquitto(tmp_path / "mosquitto", port=free_port(), executable=MOSQUITTO)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def broker_settings(settings: Settings, broker: EmbeddedMosquitto) -> Settings:
    return settings.model_copy(
        update={"mqtt": settings.mqtt.model_copy(update={"url": f"mqtt://127.0.0.1:{broker.port}"})}
    )


@pytest.fixture
def publisher_factory() -> Iterator[Callable[[int], Publisher]]:
    made: list[Publisher] = []

    def make(port: int) -> Publisher:
        publisher = Publisher(port)
        made.append(publisher)
        return publisher

    yield make
    for publisher in made:
        publisher.close()
