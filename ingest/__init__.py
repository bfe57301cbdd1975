"""Ingest: subscribe, validate, deduplicate, batch-write and quarantine device messages."""

from ingest._availability import AvailabilityEvent, silence_allowance, sweep_silence
from ingest._decode import decode
from ingest._metrics import IngestCounters, IngestStats, WorkerStatus, read_worker_status
from ingest._quarantine import (
    QuarantinedMessage,
    ReplayOutcome,
    list_quarantine,
    replay_quarantine,
)
from ingest._records import Accepted, Decoded, RawMessage, Reading, Rejected, StatusUpdate
from ingest._service import CommitHandler, IngestOptions, IngestService
from ingest._writer import WriteResult, load_device_sites, write_batch

__all__ = [
    "Accepted",
    "AvailabilityEvent",
    "CommitHandler",
    "Decoded",
    "IngestCounters",
    "IngestOptions",
    "IngestService",
    "IngestStats",
    "QuarantinedMessage",
    "RawMessage",
    "Reading",
    "Rejected",
    "ReplayOutcome",
    "StatusUpdate",
    "WorkerStatus",
    "WriteResult",
    "decode",
    "list_quarantine",
    "load_device_sites",
    "read_worker_status",
    "replay_quarantine",
    "silence_allowance",
    "sweep_silence",
    "write_batch",
]
