"""The authorization matrix: every API endpoint × every role × the viewer's own site, a sister
care home in the same alliance, and a site of another alliance, on a real database.

A leak is any 2xx answer that a role without the endpoint's permission gets, any 2xx answer about
another tenant's record, or any answer that names another tenant's resident or site. The matrix
must find none, and must reach every endpoint (a route missing from it fails the test)."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

import dashboard.routes
from dashboard import ROLE_PERMISSIONS, Permission, Role, create_app
from eldercare.settings import Settings
from tests.dashboard.world import SiteRecords, build_world, viewer_headers

# Roles whose tenant is one care home: the sister care home's records are foreign to them.
HOME_ROLES = (Role.NURSE, Role.CHARGE_NURSE, Role.DOCTOR, Role.SITE_ADMIN)
# Endpoints any logged-in user may call; they hold no resident data (the network directory
# lists site names, which are not health data).
OPEN_TO_ALL = {
    ("GET", "/api/auth/me"),
    ("POST", "/api/auth/logout"),
    ("GET", "/api/network"),
    ("GET", "/api/sites"),
}
NOT_AUTHENTICATED = {("GET", "/api/health"), ("POST", "/api/auth/login")}
# Long-lived event streams are only called where the answer must be a refusal (a 2xx stream
# would never end); their own tests read events from them.
STREAM = re.compile(r"/stream$")
# Routes that would end the viewer's own session in the middle of the matrix.
SKIPPED = {("POST", "/api/auth/logout")}


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    permission: Permission | None

    @property
    def params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)


def _permission_of(route: APIRoute) -> Permission | None:
    """The permission a route's `permit(...)` dependency checks, if any."""
    stack = list(route.dependant.dependencies)
    while stack:
        dependency = stack.pop()
        name = getattr(dependency.call, "__name__", "")
        if name.startswith("permit_"):
            return Permission(name.removeprefix("permit_"))
        stack.extend(dependency.dependencies)
    return None


def _api_routes() -> Iterator[APIRoute]:
    for module_info in pkgutil.iter_modules(dashboard.routes.__path__):
        module = importlib.import_module(f"dashboard.routes.{module_info.name}")
        for value in vars(module).values():
            if isinstance(value, APIRouter):
                yield from (r for r in value.routes if isinstance(r, APIRoute))


def endpoints(app: FastAPI) -> list[Endpoint]:
    found = {
        (method, f"/api{route.path}"): _permission_of(route)
        for route in _api_routes()
        for method in route.methods - {"HEAD"}
    }
    published = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    assert set(found) == published, "routes and the published OpenAPI disagree"
    ordered = sorted(found, key=lambda mp: (METHOD_ORDER[mp[0]], mp[1]))
    return [Endpoint(m, p, found[(m, p)]) for m, p in ordered]


def _example(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    """A small valid value for a JSON schema (required fields only)."""
    if "$ref" in schema:
        return _example(components[schema["$ref"].rsplit("/", 1)[1]], components)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return _example(options[0], components)
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    kind = schema.get("type")
    if kind == "object":
        return {
            name: _example(schema["properties"][name], components)
            for name in schema.get("required", [])
        }
    if kind == "array":
        return [_example(schema["items"], components) for _ in range(schema.get("minItems", 0))]
    if kind in ("integer", "number"):
        return max(1, schema.get("minimum", 1), schema.get("exclusiveMinimum", 0) + 1)
    if kind == "boolean":
        return True
    if schema.get("format") == "date-time":
        return "2026-11-24T08:00:00Z"
    if schema.get("format") == "date":
        return "2026-11-23"
    return "matrix test text " + "x" * max(0, schema.get("minLength", 0) - 17)


# Bodies the schema cannot guess (a value must exist in the world, or a field is cross-checked).
BODY_OVERRIDES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/oncall-shifts"): {
        "starts_at": "2026-11-24T20:00:00Z",
        "ends_at": "2026-11-25T08:00:00Z",
    },
}
# Reads first and deletions last, so a record is read before any role deletes it.
METHOD_ORDER = {"GET": 0, "POST": 1, "PUT": 2, "PATCH": 3, "DELETE": 4}


def _request_parts(
    app: FastAPI, endpoint: Endpoint, target: SiteRecords
) -> tuple[str, dict[str, Any], Any]:
    openapi = app.openapi()
    operation = openapi["paths"][endpoint.path][endpoint.method.lower()]
    components = openapi.get("components", {}).get("schemas", {})
    values = target.path_values()
    path = endpoint.path
    for name in endpoint.params:
        assert name in values, f"the matrix has no record for path parameter {name!r}"
        path = path.replace(f"{{{name}}}", values[name])
    query: dict[str, Any] = {}
    for parameter in operation.get("parameters", []):
        if parameter["in"] != "query":
            continue
        if parameter["name"] in values:  # list filters: ask for the target's records
            query[parameter["name"]] = values[parameter["name"]]
        elif parameter.get("required"):
            query[parameter["name"]] = _example(parameter["schema"], components)
    if STREAM.search(endpoint.path):
        query["limit"] = 1
    body = None
    if "requestBody" in operation:
        content = operation["requestBody"]["content"]["application/json"]["schema"]
        body = {
            **_example(content, components),
            **BODY_OVERRIDES.get((endpoint.method, endpoint.path), {}),
        }
        for key in ("resident_id", "site_id"):  # records named in the body: the target's
            if key in body:
                body[key] = values[key]
        if "alert_id" in body:
            body["alert_id"] = int(values["alert_id"])
    return path, query, body


def _foreign_markers(world: dict[str, SiteRecords], role: Role) -> list[str]:
    records = [world["foreign"]] + ([world["sibling"]] if role in HOME_ROLES else [])
    return [f'"{r.resident_id}"' for r in records] + [f'"{r.site_id}"' for r in records]


@pytest.fixture
def matrix(settings: Settings, conn: psycopg.Connection) -> Iterator[tuple[TestClient, Any]]:
    world = build_world(conn)
    headers = {role: viewer_headers(conn, role) for role in Role}
    with TestClient(create_app(settings)) as client:
        yield client, (world, headers)


def test_every_endpoint_declares_who_may_call_it(settings: Settings) -> None:
    app = create_app(settings)
    undeclared = [
        (e.method, e.path)
        for e in endpoints(app)
        if e.permission is None and (e.method, e.path) not in OPEN_TO_ALL | NOT_AUTHENTICATED
    ]
    assert undeclared == []


def test_authorization_matrix_finds_no_leak(matrix: tuple[TestClient, Any]) -> None:
    client, (world, headers) = matrix
    app: FastAPI = client.app  # type: ignore[assignment]
    leaks: list[str] = []
    answered: dict[tuple[str, str], set[int]] = {}
    for endpoint in endpoints(app):
        key = (endpoint.method, endpoint.path)
        if key in NOT_AUTHENTICATED | SKIPPED:
            continue
        for role in Role:
            allowed = endpoint.permission is None or endpoint.permission in ROLE_PERMISSIONS[role]
            for place in ("own", "sibling", "foreign"):
                tenant_data = place == "foreign" or (place == "sibling" and role in HOME_ROLES)
                must_refuse = not allowed or (tenant_data and endpoint.params)
                if STREAM.search(endpoint.path) and not must_refuse:
                    continue
                path, query, body = _request_parts(app, endpoint, world[place])
                answer = client.request(
                    endpoint.method, path, params=query, json=body, headers=headers[role]
                )
                answered.setdefault(key, set()).add(answer.status_code)
                where = f"{endpoint.method} {path} as {role} ({place})"
                if answer.status_code >= 500:
                    leaks.append(f"{where}: server error {answer.status_code}")
                if must_refuse and answer.is_success:
                    leaks.append(f"{where}: {answer.status_code}, expected a refusal")
                if must_refuse and answer.status_code == 422:
                    leaks.append(f"{where}: 422 hides the check (fix the matrix body)")
                if answer.is_success and any(
                    marker in answer.text for marker in _foreign_markers(world, role)
                ):
                    if key not in OPEN_TO_ALL:
                        leaks.append(f"{where}: answer names another tenant's records")
    assert leaks == []
    never_served = [
        f"{m} {p}"
        for (m, p), codes in answered.items()
        if m == "GET" and not STREAM.search(p) and not any(200 <= c < 300 for c in codes)
    ]
    assert never_served == [], "the matrix never reached these reads (vacuous rows)"
    reachable = {(e.method, e.path) for e in endpoints(app)} - NOT_AUTHENTICATED - SKIPPED
    assert set(answered) == reachable
