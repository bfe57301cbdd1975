"""Static checks of the production stack: docker-compose.yml, the broker configs, the Dockerfile.

No Docker engine is needed: the files are parsed (PyYAML, plain text) and checked for the properties
that matter in production: pinned images, authenticated broker with queues that do not drop QoS 1
messages, healthchecks gating start-up order, and secrets that only ever come from the environment.

docker-compose.yml holds two Compose profiles, `single` (one box, Mosquitto) and `scale` (EMQX
cluster, several workers). Each is checked as the set of services Compose would start for it:
the services without `profiles` plus those listing the profile.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from eldercare.broker_files import DEFAULT_ITERATIONS

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

PROFILES = ("single", "scale")
# Shared by both profiles (no `profiles` key).
SHARED_SERVICES = {"db", "migrate"}
SERVERS = ("db", "mosquitto", "api")
LONG_RUNNING_APP_SERVICES = ("ingest", "analytics", "alerts", "api")
APP_COMMANDS = {
    "migrate": ["migrate"],
    "ingest": ["ingest"],
    "analytics": ["detect"],
    "alerts": ["alerts"],
    "api": ["serve"],
}
SECRET_VARIABLES = ("POSTGRES_PASSWORD", "MQTT_USERNAME", "MQTT_PASSWORD")

TIMESCALE_IMAGE = re.compile(r"^timescale/timescaledb:\d+\.\d+\.\d+-pg\d{2}$")
MOSQUITTO_IMAGE = re.compile(r"^eclipse-mosquitto:2\.0\.\d+$")
REQUIRED_REFERENCE = re.compile(r"^\$\{[A-Z_][A-Z0-9_]*:\?[^}]+\}$")


# -- helpers -----------------------------------------------------------------------------------


def _compose_text() -> str:
    return COMPOSE_FILE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(_compose_text())
    assert isinstance(document, dict), "docker-compose.yml must be a mapping"
    return document


def _profile_services(compose: dict[str, Any], profile: str) -> dict[str, dict[str, Any]]:
    """The services `docker compose --profile <profile> up` starts: no profiles, or listing it."""
    return {
        name: service
        for name, service in compose["services"].items()
        if not service.get("profiles") or profile in service["profiles"]
    }


@pytest.fixture(scope="module")
def all_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The single-box profile."""
    return _profile_services(compose, "single")


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) for item in env)
        return {pair[0]: pair[1] if len(pair) > 1 else "" for pair in pairs}
    return {str(key): str(value) for key, value in env.items()}


def _mounts(service: dict[str, Any]) -> list[dict[str, Any]]:
    """Volumes in long form (short `src:dst[:mode]` strings converted)."""
    mounts = []
    for item in service.get("volumes") or []:
        if isinstance(item, str):
            parts = item.split(":")
            source, target = parts[0], parts[1]
            mode = parts[2] if len(parts) > 2 else "rw"
            kind = "bind" if source.startswith((".", "/", "~")) else "volume"
            mounts.append(
                {"type": kind, "source": source, "target": target, "read_only": "ro" in mode}
            )
        else:
            mounts.append(item)
    return mounts


def _bind_mount_of(service: dict[str, Any], host_path: Path) -> dict[str, Any]:
    for mount in _mounts(service):
        if mount["type"] == "bind" and (ROOT / mount["source"]).resolve() == host_path.resolve():
            return mount
    raise AssertionError(f"no bind mount of {host_path.relative_to(ROOT)}")


def _mosquitto_conf_path(services: dict[str, dict[str, Any]]) -> Path:
    for mount in _mounts(services["mosquitto"]):
        if mount["target"] == "/mosquitto/config/mosquitto.conf":
            return ROOT / mount["source"]
    raise AssertionError("mosquitto does not mount /mosquitto/config/mosquitto.conf")


def _mosquitto_options(path: Path) -> dict[str, list[str]]:
    """Option name -> values, in file order. Comments start with # in the first column."""
    options: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, _, value = line.strip().partition(" ")
        options.setdefault(name, []).append(value.strip())
    return options


def _healthcheck_command(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    if isinstance(test, str):
        return test
    assert test[0] in ("CMD", "CMD-SHELL"), f"healthcheck test starts with {test[0]!r}"
    return " ".join(test[1:])


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    instructions = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, arguments = stripped.partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


# -- images ------------------------------------------------------------------------------------


def test_database_image_is_timescaledb_pinned_to_an_exact_version(services):
    image = services["db"]["image"]
    assert TIMESCALE_IMAGE.match(image), f"db image {image!r} is not timescaledb:X.Y.Z-pgNN"


def test_broker_image_is_mosquitto_2_0_pinned_to_an_exact_patch(services):
    image = services["mosquitto"]["image"]
    assert MOSQUITTO_IMAGE.match(image), f"mosquitto image {image!r} is not 2.0.<patch>"


def test_no_service_uses_a_latest_or_untagged_image(all_services):
    for name, service in all_services.items():
        image = service.get("image")
        if image is None:
            assert "build" in service, f"{name} has neither image nor build"
            continue
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        assert tag, f"{name}: image {image!r} has no tag"
        assert tag != "latest" and not tag.startswith("latest-"), f"{name}: image {image!r}"


def test_app_services_are_built_from_the_repository_dockerfile(services):
    for name in APP_COMMANDS:
        build = services[name]["build"]
        context = build if isinstance(build, str) else build.get("context", ".")
        dockerfile = (
            "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        )
        assert (ROOT / context / dockerfile).resolve() == DOCKERFILE.resolve(), name


# -- broker ------------------------------------------------------------------------------------


def test_mosquitto_mounts_the_repository_config_file_read_only(services):
    mount = _bind_mount_of(services["mosquitto"], ROOT / "deploy/mosquitto/mosquitto.conf")
    assert mount["target"] == "/mosquitto/config/mosquitto.conf"
    assert mount.get("read_only") is True


def test_mosquitto_mounts_the_auth_folder_read_only(services):
    # The folder, not the files: eldercare replaces passwd/acl by rename, which a single-file
    # bind mount would hide from the broker.
    mount = _bind_mount_of(services["mosquitto"], ROOT / "deploy/mosquitto/auth")
    assert mount["target"] == "/mosquitto/config/auth"
    assert mount.get("read_only") is True
    # A missing folder must stop the broker, not become an empty directory.
    assert mount.get("bind", {}).get("create_host_path") is False


def test_mosquitto_data_is_on_a_named_volume(compose, services):
    data = [m for m in _mounts(services["mosquitto"]) if m["target"] == "/mosquitto/data"]
    assert len(data) == 1 and data[0]["type"] == "volume"
    assert data[0]["source"] in compose["volumes"]


def test_mosquitto_config_has_a_listener(services):
    options = _mosquitto_options(_mosquitto_conf_path(services))
    assert options.get("listener"), "no listener: Mosquitto 2.0 would listen on loopback only"
    assert all(value.split()[0].isdigit() for value in options["listener"])


def test_mosquitto_config_refuses_anonymous_clients(services):
    options = _mosquitto_options(_mosquitto_conf_path(services))
    assert options.get("allow_anonymous") == ["false"]


def test_mosquitto_password_and_acl_files_are_in_the_mounted_auth_folder(services):
    options = _mosquitto_options(_mosquitto_conf_path(services))
    mount = _bind_mount_of(services["mosquitto"], ROOT / "deploy/mosquitto/auth")
    assert options.get("password_file") == [f"{mount['target']}/passwd"]
    # With an ACL file every topic is denied unless allowed: devices only get their own topics.
    assert options.get("acl_file") == [f"{mount['target']}/acl"]


def test_mosquitto_persistence_is_on_and_stored_in_the_data_volume(services):
    options = _mosquitto_options(_mosquitto_conf_path(services))
    assert options.get("persistence") == ["true"]
    location = PurePosixPath(options["persistence_location"][-1])
    assert location == PurePosixPath("/mosquitto/data")


def test_mosquitto_queue_limit_is_well_above_the_default_1000(services):
    options = _mosquitto_options(_mosquitto_conf_path(services))
    limit = int(options["max_queued_messages"][-1])
    # 0 means unbounded memory; the default 1000 drops QoS 1 messages of a lagging subscriber.
    assert limit > 1000


def test_mosquitto_logs_to_stdout(services):
    options = _mosquitto_options(_mosquitto_conf_path(services))
    assert "stdout" in options.get("log_dest", [])


# -- health and start-up order -----------------------------------------------------------------


@pytest.mark.parametrize("name", SERVERS)
def test_every_server_has_a_healthcheck(services, name):
    healthcheck = services[name].get("healthcheck")
    assert healthcheck and not healthcheck.get("disable"), f"{name} has no healthcheck"
    assert _healthcheck_command(services[name]).strip()


def test_database_healthcheck_uses_pg_isready_on_the_configured_database(services):
    command = _healthcheck_command(services["db"])
    env = _environment(services["db"])
    assert command.split()[0] == "pg_isready"
    assert env["POSTGRES_USER"] in command and env["POSTGRES_DB"] in command


def test_broker_healthcheck_subscribes_with_credentials_from_the_environment(services):
    command = _healthcheck_command(services["mosquitto"])
    words = shlex.split(command)
    assert words[0] == "mosquitto_sub"
    assert {"-C", "-W", "-u", "-P"} <= set(words)
    # $$ is Compose's escape for a literal $: the container shell expands the credentials, and
    # $SYS stays literal instead of being interpolated away by Compose.
    assert "$$SYS/broker/uptime" in command
    assert "$$MQTT_USERNAME" in command and "$$MQTT_PASSWORD" in command
    env = _environment(services["mosquitto"])
    assert {"MQTT_USERNAME", "MQTT_PASSWORD"} <= set(env)


def test_api_healthcheck_requests_the_health_endpoint_with_python(services):
    test = services["api"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    assert "https://127.0.0.1:8080/api/health" in test[3]
    assert "urllib" in test[3]
    # The chain is verified against the site CA mounted into the container.
    assert "cafile='/certs/ca.crt'" in test[3]
    compile(test[3], "healthcheck", "exec")


@pytest.mark.parametrize("name", LONG_RUNNING_APP_SERVICES)
def test_app_service_waits_for_healthy_db_and_broker_and_finished_migrations(services, name):
    depends_on = services[name]["depends_on"]
    assert isinstance(depends_on, dict), f"{name}: depends_on needs the long form with conditions"
    assert depends_on["db"]["condition"] == "service_healthy"
    assert depends_on["mosquitto"]["condition"] == "service_healthy"
    assert depends_on["migrate"]["condition"] == "service_completed_successfully"


@pytest.mark.parametrize("name", LONG_RUNNING_APP_SERVICES)
def test_app_service_restarts_unless_stopped(services, name):
    assert services[name]["restart"] == "unless-stopped"


def test_migrate_is_one_shot_and_waits_for_a_healthy_database(services):
    migrate = services["migrate"]
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    # Restarting a finished one-shot would make service_completed_successfully never settle.
    assert migrate.get("restart", "no") == "no"


@pytest.mark.parametrize(("name", "command"), sorted(APP_COMMANDS.items()))
def test_app_service_runs_its_eldercare_subcommand(services, name, command):
    assert services[name]["command"] == command


def test_api_port_8080_is_published_and_bound_on_all_interfaces(services):
    assert any(str(port).endswith("8080:8080") for port in services["api"]["ports"])
    assert _environment(services["api"])["ELDERCARE_API_HOST"] == "0.0.0.0"


# -- configuration and secrets -----------------------------------------------------------------


@pytest.mark.parametrize("name", APP_COMMANDS)
def test_app_service_reaches_db_and_broker_by_service_name(services, name):
    env = _environment(services[name])
    assert re.match(r"^postgresql://eldercare:.+@db:5432/eldercare$", env["ELDERCARE_DATABASE_URL"])
    assert env["ELDERCARE_MQTT_NAMESPACE"] == "${ELDERCARE_MQTT_NAMESPACE:-eldercare}"
    if name in SHARED_SERVICES:
        # migrate runs in both profiles and needs the database only: no broker to point at.
        assert "ELDERCARE_MQTT_URL" not in env
    else:
        assert re.match(r"^mqtt://.+:.+@mosquitto:1883$", env["ELDERCARE_MQTT_URL"])


def test_every_secret_variable_reference_is_required_with_a_message():
    text = _compose_text()
    references = re.findall(r"(?<!\$)\$\{(" + "|".join(SECRET_VARIABLES) + r")([^}]*)\}", text)
    found = {name for name, _ in references}
    assert found == set(SECRET_VARIABLES), f"missing references to {set(SECRET_VARIABLES) - found}"
    for name, operator in references:
        assert operator.startswith(":?") and operator[2:].strip(), (
            f"${{{name}{operator}}} must be ${{{name}:?message}}"
        )
    # No bare $VAR form, which would silently become an empty string when unset.
    for name in SECRET_VARIABLES:
        assert not re.search(rf"(?<!\$)\${name}\b", text), f"bare ${name} in docker-compose.yml"


def _strings(node: Any) -> list[str]:
    """Every string (keys and values) in a parsed YAML tree: what Compose interpolates."""
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in _strings(key) + _strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return [node] if isinstance(node, str) else []


def test_every_dollar_sign_is_an_interpolation_or_escaped(compose):
    # A lone `$NAME` (e.g. $SYS) is interpolated by Compose, usually into an empty string.
    for value in _strings(compose):
        for match in re.finditer(r"\$+", value):
            escaped = len(match.group()) % 2 == 0
            assert escaped or value[match.end() : match.end() + 1] == "{", (
                f"unescaped $ in {value!r}"
            )


def test_password_environment_values_are_required_references_not_literals(all_services):
    for name, service in all_services.items():
        for key, value in _environment(service).items():
            # ..._FILE names a path (e.g. the broker's password file), not a secret.
            if "PASSWORD" in key.upper() and not key.upper().endswith("_FILE"):
                assert REQUIRED_REFERENCE.match(value), f"{name}.{key} is not ${{VAR:?message}}"
            # scheme://user:password@host, where user may itself be a ${...} reference.
            userinfo = re.match(r"^[a-z][a-z0-9+.-]*://(\$\{[^}]*\}|[^:/@]*):(.*)@[^@]*$", value)
            if userinfo:
                password = userinfo.group(2)
                assert REQUIRED_REFERENCE.match(password), f"{name}.{key} has a literal password"


def test_timescaledb_credentials_match_the_application_database_url(services):
    db = _environment(services["db"])
    assert db["POSTGRES_DB"] == "eldercare" and db["POSTGRES_USER"] == "eldercare"
    url = _environment(services["ingest"])["ELDERCARE_DATABASE_URL"]
    assert url.startswith(f"postgresql://{db['POSTGRES_USER']}:{db['POSTGRES_PASSWORD']}@")


def test_database_data_is_on_a_named_volume(compose, services):
    data = [m for m in _mounts(services["db"]) if m["target"] == "/var/lib/postgresql/data"]
    assert len(data) == 1 and data[0]["type"] == "volume"
    assert data[0]["source"] in compose["volumes"]


# -- image build -------------------------------------------------------------------------------


def test_dockerfile_exists_and_installs_the_package():
    instructions = _dockerfile_instructions()
    runs = [arguments for keyword, arguments in instructions if keyword == "RUN"]
    assert any(re.search(r"\bpip install\b(?:\s+--?\S+)*\s+\.(?:\s|$|&)", run) for run in runs)
    assert any(keyword == "COPY" for keyword, _ in instructions)


def test_dockerfile_base_image_is_python_3_11_slim_pinned_to_a_patch():
    bases = [arguments for keyword, arguments in _dockerfile_instructions() if keyword == "FROM"]
    assert bases and re.match(
        r"^python:3\.11\.\d+-slim(?:-\w+)?(?:@sha256:[0-9a-f]{64})?$", bases[0]
    )


def test_dockerfile_runs_eldercare_as_a_non_root_user():
    instructions = _dockerfile_instructions()
    users = [arguments for keyword, arguments in instructions if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    entrypoints = [arguments for keyword, arguments in instructions if keyword == "ENTRYPOINT"]
    assert entrypoints == ['["eldercare"]']


def test_dockerignore_keeps_secrets_venv_and_tests_out_of_the_build_context():
    patterns = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", ".git", "tests", ".env"} <= patterns
    assert "deploy" in patterns or "deploy/mosquitto/passwd" in patterns


# -- TLS (issue 8) -----------------------------------------------------------------------------

TLS_SOURCE = "${ELDERCARE_TLS_DIR:-./deploy/tls}"


def _mount_to(service: dict[str, Any], target: str) -> dict[str, Any]:
    for mount in _mounts(service):
        if mount["target"] == target:
            return mount
    raise AssertionError(f"nothing mounted at {target}")


def test_broker_serves_tls_on_8883_with_certificates_from_the_configured_folder(services):
    options = _mosquitto_options(_mosquitto_conf_path(services))
    assert "8883" in [value.split()[0] for value in options["listener"]]
    certs = _mount_to(services["mosquitto"], "/mosquitto/certs")
    assert certs["source"] == TLS_SOURCE and certs["read_only"] is True
    assert certs.get("bind", {}).get("create_host_path") is False
    for option in ("cafile", "certfile", "keyfile"):
        [path] = options[option]
        assert PurePosixPath(path).parent == PurePosixPath("/mosquitto/certs"), option
    assert options["tls_version"] == ["tlsv1.2"]


def test_only_the_tls_port_of_the_broker_is_published(services):
    ports = [str(port) for port in services["mosquitto"]["ports"]]
    assert ports == ["8883:8883"]


def test_api_serves_https_with_certificates_from_the_configured_folder(services):
    env = _environment(services["api"])
    certs = _mount_to(services["api"], "/certs")
    assert certs["source"] == TLS_SOURCE and certs["read_only"] is True
    for key in ("ELDERCARE_API_SSL_CERTFILE", "ELDERCARE_API_SSL_KEYFILE"):
        assert PurePosixPath(env[key]).parent == PurePosixPath("/certs"), key
    # The API keeps every other application setting.
    assert _environment(services["ingest"]).items() <= env.items()


def test_broker_files_are_written_before_the_broker_starts(services):
    auth = services["broker-auth"]
    assert auth["command"][:2] == ["devices", "sync"]
    assert auth.get("restart") == "no"
    assert auth["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["mosquitto"]["depends_on"]["broker-auth"]["condition"] == (
        "service_completed_successfully"
    )
    env = _environment(auth)
    mount = _mount_to(auth, "/auth")
    assert (ROOT / mount["source"]).resolve() == (ROOT / "deploy/mosquitto/auth").resolve()
    assert env["ELDERCARE_BROKER_PASSWORD_FILE"] == "/auth/passwd"
    assert env["ELDERCARE_BROKER_ACL_FILE"] == "/auth/acl"


# -- profiles (issue 8) ------------------------------------------------------------------------


def _depends_on(service: dict[str, Any]) -> dict[str, Any]:
    depends = service.get("depends_on") or {}
    return {name: {} for name in depends} if isinstance(depends, list) else depends


def test_every_service_is_shared_or_in_exactly_one_profile(all_services):
    shared = {name for name, service in all_services.items() if "profiles" not in service}
    assert shared == SHARED_SERVICES
    for name, service in all_services.items():
        if name not in shared:
            profiles = service["profiles"]
            assert isinstance(profiles, list) and len(profiles) == 1, name
            assert profiles[0] in PROFILES, f"{name}: unknown profile {profiles[0]!r}"


def test_profiles_share_only_the_common_services_and_cover_every_service(compose, all_services):
    single, scale = (set(_profile_services(compose, profile)) for profile in PROFILES)
    assert single & scale == SHARED_SERVICES
    assert single | scale == set(all_services)
    assert {"mosquitto", "broker-auth", "ingest", "analytics", "alerts", "api"} <= single - scale
    assert {"emqx1", "broker-accounts", SCALE_API} <= scale - single


@pytest.mark.parametrize("profile", PROFILES)
def test_every_dependency_is_started_by_the_same_profile(compose, profile):
    # Compose refuses a depends_on on a service its active profiles do not start.
    active = _profile_services(compose, profile)
    for name, service in active.items():
        for target, spec in _depends_on(service).items():
            assert target in active, f"{profile}: {name} depends on {target}, not in the profile"
            assert spec.get("condition", "service_started") in (
                "service_healthy",
                "service_completed_successfully",
            ), f"{profile}: {name} -> {target}"
            if spec.get("condition") == "service_healthy":
                assert active[target].get("healthcheck"), f"{target} has no healthcheck"


@pytest.mark.parametrize("profile", PROFILES)
def test_profile_publishes_each_host_port_once_and_declares_its_volumes(compose, profile):
    active = _profile_services(compose, profile)
    published = [
        str(port).rsplit(":", 1)[0]
        for service in active.values()
        for port in service.get("ports", [])
    ]
    assert len(published) == len(set(published)), f"{profile}: {published}"
    assert {"8883", "8080"} <= set(published)
    for name, service in active.items():
        for mount in _mounts(service):
            if mount["type"] == "volume":
                assert mount["source"] in compose["volumes"], f"{name}: {mount['source']}"


def test_shared_services_do_not_depend_on_either_broker(all_services):
    for name in SHARED_SERVICES:
        assert set(_depends_on(all_services[name])) <= SHARED_SERVICES, name


def test_scale_app_services_reach_the_emqx_cluster_not_mosquitto(scale_services):
    hosts = {node["hostname"] for node in _named(scale_services, "emqx").values()}
    for name, service in scale_services.items():
        if "build" in service and name not in SHARED_SERVICES:
            url = _environment(service)["ELDERCARE_MQTT_URL"]
            match = re.match(r"^mqtt://.+:.+@([^:@/]+):1883$", url)
            assert match and match.group(1) in hosts, f"{name}: {url}"


def test_scale_api_serves_https_like_the_single_box(services, scale_services):
    single_api, scale_api = services["api"], scale_services[SCALE_API]
    assert scale_api["command"] == ["serve"]
    assert scale_api["healthcheck"] == single_api["healthcheck"]
    assert scale_api["ports"] == single_api["ports"]
    assert _mount_to(scale_api, "/certs") == _mount_to(single_api, "/certs")
    env = _environment(scale_api)
    for key in ("ELDERCARE_API_SSL_CERTFILE", "ELDERCARE_API_SSL_KEYFILE", "ELDERCARE_API_HOST"):
        assert env[key] == _environment(single_api)[key], key


def test_docs_select_the_profile_and_no_longer_name_a_second_compose_file():
    readme = (ROOT / "deploy/README.md").read_text(encoding="utf-8")
    guide = (ROOT / "docs/deployment.md").read_text(encoding="utf-8")
    # Without a profile Compose would start only the shared services.
    assert "COMPOSE_PROFILES=single" in readme and "--profile scale" in readme
    assert "COMPOSE_PROFILES=single" in guide and "--profile scale" in guide
    assert not (ROOT / "docker-compose.scale.yml").exists()
    for path in (ROOT / "README.md", ROOT / "deploy/README.md", EMQX_CONF, *ROOT.glob("docs/*.md")):
        assert "docker-compose.scale" not in path.read_text(encoding="utf-8"), path


# -- scale profile -----------------------------------------------------------------------------

SCALE_API = "api-scale"
EMQX_CONF = ROOT / "deploy/emqx/emqx.conf"
# EMQX 5.9.0 moved to BSL 1.1, whose default licence refuses clustering; 5.8.x is Apache-2.0.
EMQX_IMAGE = re.compile(r"^emqx/emqx:5\.(?P<minor>\d+)\.\d+$")


@pytest.fixture(scope="module")
def scale_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return _profile_services(compose, "scale")


def _named(services: dict[str, dict[str, Any]], prefix: str) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services.items() if re.fullmatch(rf"{prefix}-?\d+", name)}


def test_scale_broker_is_an_emqx_cluster_pinned_to_an_apache_licensed_release(scale_services):
    nodes = _named(scale_services, "emqx")
    assert len(nodes) >= 3
    names = set()
    for name, node in nodes.items():
        match = EMQX_IMAGE.match(node["image"])
        assert match and int(match["minor"]) <= 8, f"{name}: {node['image']} (5.9+ is BSL)"
        env = _environment(node)
        names.add(env["EMQX_NODE__NAME"])
        assert env["EMQX_NODE__NAME"] == f"emqx@{node['hostname']}"
        seeds = json.loads(env["EMQX_CLUSTER__STATIC__SEEDS"])
        assert set(seeds) == {f"emqx@{n['hostname']}" for n in nodes.values()}
        assert REQUIRED_REFERENCE.match(env["EMQX_NODE__COOKIE"])
    assert len(names) == len(nodes)
    assert len({node["image"] for node in nodes.values()}) == 1


def test_scale_broker_config_uses_the_database_views_and_holds_no_secret(scale_services):
    text = EMQX_CONF.read_text(encoding="utf-8")
    migration = (ROOT / "eldercare/migrations/0010_device_credentials.sql").read_text()
    for view in ("mqtt_credentials", "mqtt_acl"):
        assert f"FROM {view} WHERE username = ${{username}}" in text
        assert f"CREATE VIEW {view}" in migration
    assert re.search(r"no_match\s*=\s*deny", text)
    assert re.search(rf"iterations\s*=\s*{DEFAULT_ITERATIONS}\b", text)
    assert not re.search(r"^\s*password\s*=", text, re.MULTILINE)
    for node in _named(scale_services, "emqx").values():
        mount = _mount_to(node, "/opt/emqx/etc/emqx.conf")
        assert (ROOT / mount["source"]).resolve() == EMQX_CONF.resolve()
        assert mount["read_only"] is True
        assert _mount_to(node, "/opt/emqx/etc/certs/site")["source"] == TLS_SOURCE


def test_scale_ingest_workers_share_one_subscription_group_with_own_sessions(scale_services):
    workers = _named(scale_services, "ingest")
    assert len(workers) >= 2
    groups = {_environment(w)["ELDERCARE_INGEST_SHARED_GROUP"] for w in workers.values()}
    assert len(groups) == 1 and groups != {""}
    client_ids = [w["command"][w["command"].index("--client-id") + 1] for w in workers.values()]
    assert len(set(client_ids)) == len(client_ids)
    assert all(w["command"][0] == "ingest" for w in workers.values())


def test_scale_analytics_partitions_cover_every_resident_once(scale_services):
    workers = _named(scale_services, "analytics")
    parts = [_environment(w)["ELDERCARE_ANALYTICS_PARTITION"] for w in workers.values()]
    indexes = sorted(int(p.split("/")[0]) for p in parts)
    counts = {int(p.split("/")[1]) for p in parts}
    assert counts == {len(workers)} and indexes == list(range(len(workers)))
    assert all(w["command"] == ["detect"] for w in workers.values())


def test_scale_servers_and_workers_have_healthchecks_and_wait_for_them(scale_services):
    checked = ["db", SCALE_API, *_named(scale_services, "emqx"), *_named(scale_services, "ingest")]
    for name in checked:
        assert _healthcheck_command(scale_services[name]).strip(), name
    for name, service in scale_services.items():
        if "build" in service and service.get("restart") != "no":
            depends = service["depends_on"]
            assert depends["db"]["condition"] == "service_healthy", name
            assert depends["emqx1"]["condition"] == "service_healthy", name
            assert depends["migrate"]["condition"] == "service_completed_successfully", name
            assert depends["broker-accounts"]["condition"] == "service_completed_successfully"


def test_scale_profile_secrets_are_required_references_and_pinned_images(scale_services):
    for name, service in scale_services.items():
        for key, value in _environment(service).items():
            if "PASSWORD" in key.upper() and not key.upper().endswith("_FILE"):
                assert REQUIRED_REFERENCE.match(value), f"{name}.{key}"
            userinfo = re.match(r"^[a-z][a-z0-9+.-]*://(\$\{[^}]*\}|[^:/@]*):(.*)@[^@]*$", value)
            if userinfo:
                assert REQUIRED_REFERENCE.match(userinfo.group(2)), f"{name}.{key}"
    for value in _strings(scale_services):
        for match in re.finditer(r"\$+", value):
            escaped = len(match.group()) % 2 == 0
            assert escaped or value[match.end() : match.end() + 1] == "{", value
    for name, service in scale_services.items():
        image = service.get("image", "")
        assert "build" in service or ":" in image and not image.endswith(":latest"), name
