"""Schemathesis against the published OpenAPI: generated requests to every operation, as a
logged-in doctor over a network with one of every record, must never get a server error."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import hypothesis
import psycopg
import pytest
import schemathesis
from fastapi.testclient import TestClient
from schemathesis.checks import not_a_server_error

from dashboard import Role, create_app
from eldercare.settings import Settings, load_settings
from tests.dashboard.world import build_world, viewer_headers
from tests.utils.urls import with_dbname


def _published_schema() -> Any:
    """The OpenAPI document of an app that is built but never started (no database needed)."""
    settings = load_settings()
    unused = settings.database.model_copy(update={"url": "postgresql://unused/none"})
    app = create_app(settings.model_copy(update={"database": unused}))
    schema = schemathesis.openapi.from_dict(app.openapi())
    # Event streams never end on a valid request; logout would end the session under test.
    return schema.exclude(path_regex=r"/stream$").exclude(path="/api/auth/logout")


schema = _published_schema()


@pytest.fixture(scope="module")
def world_client(
    service_settings: Settings, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """One database with the world for every operation (cases may change it: only server
    errors are checked), and a doctor of the own care home."""
    admin_url = service_settings.database.url
    assert admin_url is not None
    name = f"eldercare_schemathesis_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    url = with_dbname(admin_url, name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            build_world(conn)
            doctor = viewer_headers(conn, Role.DOCTOR)
        settings = service_settings.model_copy(
            update={
                "database": service_settings.database.model_copy(update={"url": url}),
                "state_dir": tmp_path_factory.mktemp("state"),
            }
        )
        with TestClient(create_app(settings)) as client:
            yield client, doctor
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@schema.parametrize()
@hypothesis.settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    derandomize=True,
)
def test_no_server_error(case: Any, world_client: tuple[TestClient, dict[str, str]]) -> None:
    client, doctor = world_client
    request = case.as_transport_kwargs(base_url="", headers=doctor)
    request.pop("cookies", None)  # the doctor's bearer token is the credential under test
    if "data" in request:  # schemathesis speaks requests' keywords; the test client is httpx
        request["content"] = request.pop("data")
    response = client.request(**request)
    case.validate_response(response, checks=[not_a_server_error])
