from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def with_dbname(url: str, dbname: str) -> str:
    """The same PostgreSQL URL with another database name (socket-host URLs included)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))
