"""One way to build and connect a paho-mqtt client from settings (plain or TLS, credentials)."""

from __future__ import annotations

import ssl
import threading
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from eldercare.errors import ConfigError, ServiceError
from eldercare.settings import MqttSettings


def make_client(
    settings: MqttSettings, *, client_id: str, persistent_session: bool = False
) -> paho.Client:
    """A configured, unconnected client. A persistent session keeps QoS 1 messages while offline."""
    endpoint = settings.endpoint()
    client = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=not persistent_session,
        protocol=paho.MQTTv311,
    )
    if endpoint.username is not None:
        client.username_pw_set(endpoint.username, endpoint.password)
    if endpoint.tls:
        client.tls_set(
            ca_certs=str(settings.ca_file) if settings.ca_file else None,
            certfile=str(settings.cert_file) if settings.cert_file else None,
            keyfile=str(settings.key_file) if settings.key_file else None,
            cert_reqs=ssl.CERT_REQUIRED,
        )
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client


def connect(client: paho.Client, settings: MqttSettings, *, timeout: float = 10.0) -> None:
    """Connect and start the network loop; raise a clear error instead of hanging."""
    endpoint = settings.endpoint()
    connected = threading.Event()
    outcome: dict[str, Any] = {}
    previous = client.on_connect

    def on_connect(
        client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        outcome["reason"] = reason
        connected.set()
        if previous is not None:
            previous(client, userdata, flags, reason, properties)

    client.on_connect = on_connect
    try:
        client.connect(endpoint.host, endpoint.port, keepalive=30)
    except ssl.SSLError as exc:
        client.reinitialise()  # paho leaves the failed TLS socket open; close it now
        raise ConfigError(f"TLS handshake with {endpoint.url()} failed: {exc}") from exc
    except OSError as exc:
        client.reinitialise()
        raise ServiceError(f"cannot reach MQTT broker {endpoint.url()}: {exc}") from exc
    client.loop_start()
    if not connected.wait(timeout):
        client.loop_stop()
        raise ServiceError(f"MQTT broker {endpoint.url()} did not answer within {timeout:g} s")
    reason = outcome["reason"]
    if reason.is_failure:
        client.loop_stop()
        client.disconnect()
        raise ConfigError(f"MQTT broker {endpoint.url()} refused the connection: {reason}")
    client.on_connect = previous
