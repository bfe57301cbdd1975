"""Mosquitto password and ACL files, rendered from data (pure: no database, no file system).

Password file format (mosquitto 2.0, ``mosquitto_passwd``): one ``username:$7$iterations$salt$hash``
line per user, where ``$7$`` is PBKDF2-HMAC-SHA512 with a 12-byte salt and a 64-byte key, both
base64-encoded (mosquitto ``src/password_mosq.c``; checked here against ``mosquitto_passwd``).

ACL file (mosquitto.conf(5) ``acl_file``): once an ACL file is configured every topic is denied
unless a rule allows it. Rules after ``user <name>`` apply to that user only. Each device may:

* publish to ``{ns}/v1/{site}/{device_id}/{stream}`` for the contract's streams only, and
* subscribe to its own commands, ``{ns}/v1/{site}/{device_id}/cmd/#``.

Service accounts (ingest, analytics, alerts, the API, the broker healthcheck) may read and write the
whole namespace (``{ns}/#``, which includes ``{ns}/alerts/v1/...`` and device commands) and read
``$SYS/#``. Shared subscriptions (``$share/<group>/<filter>``) are checked against ``<filter>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from devices import CONTRACT_VERSION, Stream
from eldercare.errors import ConfigError

# Mosquitto's own default. Device secrets are 256-bit random values, so key stretching adds no
# protection against guessing, while every connect pays for it on the broker: a reconnect storm of
# thousands of devices after a network outage stays cheap at 101 iterations.
DEFAULT_ITERATIONS = 101
_SALT_BYTES = 12
_KEY_BYTES = 64
_HASH = re.compile(
    r"^\$7\$(?P<iterations>\d+)\$(?P<salt>[A-Za-z0-9+/=]+)\$(?P<key>[A-Za-z0-9+/=]+)$"
)
# Safe in a topic level, a password-file line and an ACL line: no / + # : or whitespace.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
COMMAND_LEVEL = "cmd"


def check_name(kind: str, value: str) -> str:
    """`value` if it can be a topic level and a broker username; ConfigError otherwise."""
    if not _NAME.fullmatch(value):
        raise ConfigError(
            f"{kind} {value!r}: use 1-128 letters, digits, '.', '_' or '-' (starting with a letter "
            "or digit); it becomes an MQTT topic level and a broker username"
        )
    return value


def generate_secret() -> str:
    """A new device password: 256 random bits, URL-safe so it fits in an mqtt:// URL."""
    return secrets.token_urlsafe(32)


def hash_password(
    password: str, *, iterations: int = DEFAULT_ITERATIONS, salt: bytes | None = None
) -> str:
    """The ``$7$`` PBKDF2-SHA512 hash mosquitto 2.0 reads from its password file."""
    salt = secrets.token_bytes(_SALT_BYTES) if salt is None else salt
    key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, _KEY_BYTES)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether `password` matches a ``$7$`` hash (constant-time comparison)."""
    match = _HASH.fullmatch(encoded)
    if match is None:
        return False
    salt = base64.b64decode(match["salt"])
    expected = base64.b64decode(match["key"])
    key = hashlib.pbkdf2_hmac(
        "sha512", password.encode(), salt, int(match["iterations"]), len(expected)
    )
    return hmac.compare_digest(key, expected)


def is_password_hash(encoded: str) -> bool:
    return _HASH.fullmatch(encoded) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceAccount:
    """A device's broker login: the username is the device id; only the hash is kept."""

    device_id: str
    site_id: str
    password_hash: str

    @property
    def username(self) -> str:
        return self.device_id


def device_publish_topics(namespace: str, site_id: str, device_id: str) -> tuple[str, ...]:
    """The exact topics a device may publish to: one per contract stream."""
    base = f"{namespace}/{CONTRACT_VERSION}/{site_id}/{device_id}"
    return tuple(f"{base}/{stream.value}" for stream in Stream)


def device_command_filter(namespace: str, site_id: str, device_id: str) -> str:
    """The topic filter a device subscribes to for its commands."""
    return f"{namespace}/{CONTRACT_VERSION}/{site_id}/{device_id}/{COMMAND_LEVEL}/#"


def parse_password_file(text: str) -> dict[str, str]:
    """username -> hash of a mosquitto password file (blank lines and # comments skipped)."""
    entries: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        username, sep, encoded = stripped.partition(":")
        if not sep or not username:
            raise ConfigError(f"password file line {number}: expected username:hash")
        entries[username] = encoded
    return entries


def render_password_file(
    devices: Sequence[DeviceAccount],
    *,
    keep: Mapping[str, str],
    managed_usernames: Iterable[str],
) -> str:
    """The password file: the `keep` entries (service accounts made with mosquitto_passwd) that are
    not device usernames, then every active device. `managed_usernames` are all device usernames
    ever issued, so a revoked device's old line is dropped rather than kept as a service."""
    managed = set(managed_usernames) | {device.username for device in devices}
    lines = ["# Written by `eldercare devices`; service accounts below are kept as found."]
    lines += [f"{user}:{encoded}" for user, encoded in sorted(keep.items()) if user not in managed]
    for device in sorted(devices, key=lambda d: d.username):
        if not is_password_hash(device.password_hash):
            raise ConfigError(f"device {device.device_id}: stored hash is not a $7$ hash")
        lines.append(f"{device.username}:{device.password_hash}")
    return "\n".join(lines) + "\n"


def render_acl(
    namespace: str, devices: Sequence[DeviceAccount], *, service_users: Iterable[str]
) -> str:
    """The ACL file: full namespace access for service accounts, own topics for each device."""
    lines = [
        "# Written by `eldercare devices`; regenerated on every provision/revoke, do not edit.",
        "# Every topic not allowed below is denied (mosquitto.conf(5), acl_file).",
    ]
    for user in sorted(set(service_users)):
        check_name("service account", user)
        lines += ["", f"user {user}", f"topic readwrite {namespace}/#", "topic read $SYS/#"]
    for device in sorted(devices, key=lambda d: d.username):
        lines += ["", f"user {device.username}"]
        lines += [
            f"topic write {topic}"
            for topic in device_publish_topics(namespace, device.site_id, device.device_id)
        ]
        lines.append(
            f"topic read {device_command_filter(namespace, device.site_id, device.device_id)}"
        )
    return "\n".join(lines) + "\n"
