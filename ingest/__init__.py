"""Ingest: subscribe, validate, deduplicate, batch-write and quarantine device messages."""

from ingest._decode import decode
from ingest._records import Accepted, Decoded, RawMessage, Reading, Rejected, StatusUpdate
from ingest._service import IngestCounters, IngestOptions, IngestService
from ingest._writer import WriteResult, load_device_sites, write_batch

__all__ = [
    "Accepted",
    "Decoded",
    "IngestCounters",
    "IngestOptions",
    "IngestService",
    "RawMessage",
    "Reading",
    "Rejected",
    "StatusUpdate",
    "WriteResult",
    "decode",
    "load_device_sites",
    "write_batch",
]
