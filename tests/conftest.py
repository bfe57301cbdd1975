"""Fixtures on real services: ELDERCARE_DATABASE_URL / ELDERCARE_MQTT_URL when set, otherwise the
embedded defaults that `eldercare up` uses. Each test gets its own database, cloned from a migrated
template, and its own MQTT topic namespace."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import psycopg
import pytest

from eldercare.db import migrate
from eldercare.embedded import start_embedded
from eldercare.settings import Settings, load_settings
from tests.utils.dirs import private_dir
from tests.utils.urls import with_dbname


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def service_settings() -> Iterator[Settings]:
    """Settings pointing at running PostgreSQL and MQTT services for the whole session."""
    with private_dir("state") as state_dir:
        base = load_settings(state_dir=state_dir)
        base = base.model_copy(
            update={"mqtt": base.mqtt.model_copy(update={"embedded_port": _free_port()})}
        )
        with ExitStack() as stack:
            yield start_embedded(base, stack)


@pytest.fixture(scope="session")
def template_database(service_settings: Settings) -> Iterator[str]:
    """A migrated database that each test's database is cloned from."""
    admin_url = service_settings.database.url
    assert admin_url is not None
    name = f"eldercare_tpl_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    migrate(with_dbname(admin_url, name), mode=service_settings.database.timescale)
    yield name
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(service_settings: Settings, template_database: str) -> Iterator[str]:
    """A fresh, migrated database for one test."""
    admin_url = service_settings.database.url
    assert admin_url is not None
    name = f"eldercare_t_{secrets.token_hex(6)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    yield with_dbname(admin_url, name)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def settings(service_settings: Settings, database_url: str, tmp_path: Path) -> Settings:
    """Settings for one test: its own database, topic namespace and state directory."""
    return service_settings.model_copy(
        update={
            "database": service_settings.database.model_copy(update={"url": database_url}),
            "mqtt": service_settings.mqtt.model_copy(
                update={"namespace": f"test-{secrets.token_hex(4)}"}
            ),
            "state_dir": tmp_path / "state",
        }
    )


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection
