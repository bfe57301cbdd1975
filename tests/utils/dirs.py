from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def private_dir(name: str) -> Iterator[Path]:
    """A temporary folder outside pytest's own temp tree.

    The embedded PostgreSQL runs as an unprivileged user when tests run as root, so its data
    folder's parents must stay traversable; pytest resets its temp root to mode 0700 whenever
    another pytest process starts, which would lock the server out mid-run.
    """
    path = Path(tempfile.mkdtemp(prefix=f"eldercare-test-{name}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
