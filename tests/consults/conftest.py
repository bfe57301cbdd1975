from __future__ import annotations

import psycopg
import pytest

from tests.consults.support import build_network


@pytest.fixture
def network(conn: psycopg.Connection) -> psycopg.Connection:
    """`conn` with the demo network, a foreign alliance and residents r1, r2 (high risk), x1."""
    build_network(conn)
    return conn
