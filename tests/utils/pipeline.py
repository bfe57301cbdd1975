"""The pipeline's services running in-process for end-to-end tests: ingest, analytics, alerts."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from alerts import AlertService
from analytics import AnalyticsService
from eldercare.settings import Settings
from ingest import IngestService


@contextmanager
def running(run: Callable[[threading.Event], None]) -> Iterator[None]:
    """`run(stop)` in a thread until the block ends, then stopped and joined."""
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive()


@contextmanager
def pipeline(settings: Settings) -> Iterator[None]:
    """Ingest, analytics and alerting on the real broker and database until the block ends."""
    ingest = IngestService(settings)
    ingest.start()
    try:
        with running(AnalyticsService(settings).run), running(AlertService(settings).run):
            yield
    finally:
        ingest.stop()
