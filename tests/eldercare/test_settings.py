"""`eldercare.settings`: environment variables, URL checks, and the one settings object."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

import eldercare.settings as settings_module
from eldercare.errors import ConfigError
from eldercare.settings import MqttEndpoint, MqttSettings, Settings, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ELDERCARE_* variables from the caller, and no .env file in the working directory."""
    for name in list(os.environ):
        if name.upper().startswith("ELDERCARE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_environment_variables_map_to_nested_groups(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ELDERCARE_DATABASE_URL", "postgresql://care@db.example/eldercare")
    monkeypatch.setenv("ELDERCARE_MQTT_URL", "mqtts://broker.example")
    monkeypatch.setenv("ELDERCARE_MQTT_NAMESPACE", "acme/homes")
    monkeypatch.setenv("ELDERCARE_API_PORT", "9090")
    monkeypatch.setenv("ELDERCARE_STATE_DIR", str(tmp_path / "state"))

    settings = load_settings()

    assert settings.database.url == "postgresql://care@db.example/eldercare"
    assert settings.mqtt.url == "mqtts://broker.example"
    assert settings.mqtt.namespace == "acme/homes"
    assert settings.api.port == 9090
    assert settings.state_dir == tmp_path / "state"


def test_field_names_with_underscores_map_into_their_group(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ELDERCARE_MQTT_EMBEDDED_PORT", "18999")
    monkeypatch.setenv("ELDERCARE_DATABASE_POOL_MAX", "3")
    monkeypatch.setenv("ELDERCARE_ANALYTICS_POLL_INTERVAL_S", "2.5")

    settings = load_settings()

    assert settings.mqtt.embedded_port == 18999
    assert settings.database.pool_max == 3
    assert settings.analytics.poll_interval_s == 2.5


def test_defaults_without_environment() -> None:
    settings = load_settings()
    assert settings.database.url is None
    assert settings.mqtt.url is None
    assert settings.mqtt.namespace == "eldercare"
    assert settings.api.port == 8080
    assert settings.api.session_hours == 12


def test_keyword_overrides_win_over_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ELDERCARE_STATE_DIR", str(tmp_path / "from-env"))
    assert load_settings(state_dir=tmp_path / "override").state_dir == tmp_path / "override"


def test_dotenv_file_in_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ELDERCARE_API_PORT=7000\n", encoding="utf-8")
    assert load_settings().api.port == 7000


def test_postgres_scheme_is_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELDERCARE_DATABASE_URL", "postgres://care:pw@db:5433/eldercare")
    assert load_settings().database.url == "postgresql://care:pw@db:5433/eldercare"


def test_empty_database_url_means_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELDERCARE_DATABASE_URL", "")
    assert load_settings().database.url is None


@pytest.mark.parametrize("url", ["mysql://db/eldercare", "sqlite:///eldercare.db", "db:5432"])
def test_non_postgres_database_url_is_refused(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("ELDERCARE_DATABASE_URL", url)
    with pytest.raises(ConfigError, match="postgresql://"):
        load_settings()


def test_non_mqtt_broker_url_is_refused_by_load_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELDERCARE_MQTT_URL", "http://broker.example")
    with pytest.raises(ConfigError, match="mqtt:// or mqtts://"):
        load_settings()


def test_out_of_range_port_is_refused_with_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELDERCARE_API_PORT", "70000")
    with pytest.raises(ConfigError, match="invalid settings"):
        load_settings()


# --- MqttEndpoint ---


def test_mqtt_url_defaults_to_port_1883_without_tls() -> None:
    assert MqttEndpoint.parse("mqtt://h") == MqttEndpoint(
        host="h", port=1883, tls=False, username=None, password=None
    )


def test_mqtts_url_defaults_to_port_8883_with_tls_and_unquotes_credentials() -> None:
    endpoint = MqttEndpoint.parse("mqtts://user:p%40ss@h")
    assert endpoint == MqttEndpoint(host="h", port=8883, tls=True, username="user", password="p@ss")


def test_explicit_port_wins() -> None:
    endpoint = MqttEndpoint.parse("mqtts://h:9999")
    assert (endpoint.port, endpoint.tls) == (9999, True)


def test_endpoint_url_leaves_out_credentials() -> None:
    assert MqttEndpoint.parse("mqtts://user:secret@h").url() == "mqtts://h:8883"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://h", "must start with mqtt:// or mqtts://"),
        ("mqtt://", "has no host"),
        ("mqtt://h:notaport", "invalid port"),
        ("mqtt://h:70000", "invalid port"),
    ],
)
def test_bad_mqtt_url_raises_config_error(url: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        MqttEndpoint.parse(url)


def test_endpoint_without_url_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="no MQTT URL"):
        MqttSettings().endpoint()


# --- namespace ---


@pytest.mark.parametrize("namespace", ["eldercare", "acme/care-home_1", "a/b/c"])
def test_valid_namespace_is_accepted(namespace: str) -> None:
    assert MqttSettings(namespace=namespace).namespace == namespace


@pytest.mark.parametrize(
    "namespace", ["acme/+", "acme/#", "$SYS", "acme/", "/acme", "acme//homes", ""]
)
def test_namespace_with_wildcards_or_empty_levels_is_refused(namespace: str) -> None:
    with pytest.raises(ValidationError, match=r"no \+ # \$"):
        MqttSettings(namespace=namespace)


@pytest.mark.parametrize("namespace", ["acme/+", "acme/#", "$SYS"])
def test_namespace_with_wildcards_is_refused_by_load_settings(
    monkeypatch: pytest.MonkeyPatch, namespace: str
) -> None:
    monkeypatch.setenv("ELDERCARE_MQTT_NAMESPACE", namespace)
    with pytest.raises(ConfigError, match="namespace"):
        load_settings()


def test_namespace_with_trailing_newline_is_refused() -> None:
    with pytest.raises(ValidationError):
        MqttSettings(namespace="eldercare\n")


# --- the settings object ---


def test_importing_the_module_creates_no_settings_instance() -> None:
    made = [
        name
        for name, value in vars(settings_module).items()
        if isinstance(value, Settings | settings_module.BaseSettings)
    ]
    assert made == []


def test_with_urls_returns_a_copy_and_leaves_the_original_unchanged(tmp_path: Path) -> None:
    original = load_settings(state_dir=tmp_path)

    copy = original.with_urls(
        database_url="postgresql://localhost:5433/eldercare", mqtt_url="mqtt://localhost:18830"
    )

    assert copy is not original
    assert copy.database.url == "postgresql://localhost:5433/eldercare"
    assert copy.mqtt.url == "mqtt://localhost:18830"
    assert copy.mqtt.namespace == original.mqtt.namespace
    assert copy.state_dir == tmp_path
    assert original.database.url is None
    assert original.mqtt.url is None


def test_mqtt_url_with_port_zero_is_refused() -> None:
    with pytest.raises(ConfigError, match="invalid port"):
        MqttEndpoint.parse("mqtt://h:0")
