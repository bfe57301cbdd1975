"""The one settings object, built by `load_settings()` and passed down; never made at import time.

Environment variables use the prefix ``ELDERCARE_`` and one underscore between a group and its
field: ``ELDERCARE_DATABASE_URL``, ``ELDERCARE_MQTT_URL``, ``ELDERCARE_MQTT_NAMESPACE``,
``ELDERCARE_API_PORT``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

import platformdirs
from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from eldercare.errors import ConfigError

_NAMESPACE = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*")


@dataclass(frozen=True, slots=True)
class MqttEndpoint:
    """A parsed broker URL: ``mqtt://user:pass@host:1883`` or ``mqtts://…`` (TLS, default 8883)."""

    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> MqttEndpoint:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ConfigError(f"MQTT URL {url!r} must start with mqtt:// or mqtts://")
        if not parts.hostname:
            raise ConfigError(f"MQTT URL {url!r} has no host")
        tls = parts.scheme == "mqtts"
        try:
            port = parts.port if parts.port is not None else (8883 if tls else 1883)
        except ValueError as exc:
            raise ConfigError(f"MQTT URL {url!r} has an invalid port") from exc
        if not 0 < port < 65536:
            raise ConfigError(f"MQTT URL {url!r} has an invalid port")
        return cls(
            host=parts.hostname,
            port=port,
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    def url(self) -> str:
        """The URL without credentials, safe to print."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


class DatabaseSettings(BaseModel):
    url: str | None = Field(
        default=None,
        description="PostgreSQL URL; unset means an embedded server in the state directory.",
    )
    pool_min: int = Field(default=1, ge=1)
    pool_max: int = Field(default=8, ge=1)
    timescale: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="Use TimescaleDB when the extension is available (auto), require it, or never.",
    )
    # Applied by `eldercare db policies` (eldercare/timescale_ops.py); migration 0003's values.
    compress_after_days: int = Field(
        default=7, ge=1, description="Compress raw readings older than this (TimescaleDB)."
    )
    retention_days: int = Field(
        default=400, ge=1, description="Delete raw readings older than this."
    )
    rollup_refresh_hours: int = Field(
        default=2, ge=1, description="Window the per-minute rollups are refreshed over."
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        # psycopg accepts both schemes; normalise so logs and comparisons are stable.
        return "postgresql://" + value.split("://", 1)[1]


class MqttSettings(BaseModel):
    url: str | None = Field(
        default=None,
        description="Broker URL (mqtt:// or mqtts://, credentials allowed); unset means embedded.",
    )
    namespace: str = Field(default="eldercare", description="First topic level of every topic.")
    ca_file: Path | None = Field(
        default=None, description="CA bundle to verify an mqtts:// broker."
    )
    cert_file: Path | None = Field(default=None, description="Client certificate (optional).")
    key_file: Path | None = Field(default=None, description="Client certificate key (optional).")
    embedded_broker: Literal["auto", "mosquitto", "python"] = Field(
        default="auto", description="Embedded broker: mosquitto when on PATH (auto), or Python."
    )
    embedded_port: int = Field(default=18830, ge=1, le=65535)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        MqttEndpoint.parse(value)
        return value

    @field_validator("namespace")
    @classmethod
    def _check_namespace(cls, value: str) -> str:
        if not _NAMESPACE.fullmatch(value):
            raise ValueError("use letters, digits, '-', '_' and '/' between levels (no + # $)")
        return value

    def endpoint(self) -> MqttEndpoint:
        if self.url is None:
            raise ConfigError("no MQTT URL configured (embedded broker not started)")
        return MqttEndpoint.parse(self.url)


class ApiSettings(BaseModel):
    host: str = Field(default="127.0.0.1", description="Address the web server binds.")
    port: int = Field(default=8080, ge=0, le=65535)
    session_hours: float = Field(
        default=12, gt=0, le=24 * 7, description="Staff login sessions last this long (a shift)."
    )
    secure_cookies: bool = Field(
        default=False, description="Send the session cookie over HTTPS only (set behind TLS)."
    )
    ssl_certfile: Path | None = Field(
        default=None, description="TLS certificate chain (PEM); set with ssl_keyfile for HTTPS."
    )
    ssl_keyfile: Path | None = Field(default=None, description="TLS private key (PEM).")


class AnalyticsSettings(BaseModel):
    partition: str | None = Field(
        default=None,
        pattern=r"^[0-9]+/[1-9][0-9]*$",
        description="k/n: this worker handles the residents of partition k of n (scale-out).",
    )

    @field_validator("partition")
    @classmethod
    def _check_partition(cls, value: str | None) -> str | None:
        if value is not None:
            k, n = (int(part) for part in value.split("/"))
            if k >= n:
                raise ValueError(f"partition {value}: k must be below n")
        return value

    poll_interval_s: float = Field(
        default=0.5, gt=0, description="How often new readings are read."
    )


class IngestSettings(BaseModel):
    batch_size: int = Field(default=2000, ge=1, description="Messages per write transaction (max).")
    batch_age_ms: int = Field(
        default=100, ge=1, description="Longest a message waits in the queue before its batch."
    )
    queue_size: int = Field(
        default=20_000, ge=1, description="Bounded hand-off queue; when full, the callback waits."
    )
    shared_group: str | None = Field(
        default=None,
        description="Share the load with other workers through $share/<group>/... subscriptions.",
    )
    metrics_host: str = Field(default="127.0.0.1", description="Address of the /metrics server.")
    metrics_port: int = Field(
        default=9464, ge=0, le=65535, description="Prometheus /metrics port; 0 disables it."
    )


class BrokerSettings(BaseModel):
    """Files of the Mosquitto broker that `eldercare devices` writes (docs/deployment.md)."""

    password_file: Path = Field(
        default=Path("deploy/mosquitto/auth/passwd"), description="Mosquitto password_file."
    )
    acl_file: Path = Field(
        default=Path("deploy/mosquitto/auth/acl"), description="Mosquitto acl_file."
    )
    service_users: list[str] = Field(
        default_factory=list,
        description="Broker users with full namespace access (default: the MQTT URL's user).",
    )
    pid_file: Path | None = Field(
        default=None, description="Broker PID file: send it SIGHUP after writing the files."
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ELDERCARE_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        env_file=".env",
        extra="ignore",
    )

    database: DatabaseSettings = DatabaseSettings()
    mqtt: MqttSettings = MqttSettings()
    api: ApiSettings = ApiSettings()
    analytics: AnalyticsSettings = AnalyticsSettings()
    broker: BrokerSettings = BrokerSettings()
    ingest: IngestSettings = IngestSettings()
    state_dir: Path = Field(
        default_factory=lambda: platformdirs.user_state_path("eldercare"),
        description="Where embedded services keep their data.",
    )

    def with_urls(self, *, database_url: str, mqtt_url: str) -> Settings:
        """A copy pointing at started (embedded) services."""
        return self.model_copy(
            update={
                "database": self.database.model_copy(update={"url": database_url}),
                "mqtt": self.mqtt.model_copy(update={"url": mqtt_url}),
            }
        )


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment (and ``.env``); keyword overrides win."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ConfigError(f"invalid settings: {exc}") from exc
