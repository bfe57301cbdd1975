"""The pure rendering of Mosquitto's password and ACL files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from eldercare.broker_files import (
    DeviceAccount,
    check_name,
    device_command_filter,
    device_publish_topics,
    generate_secret,
    hash_password,
    parse_password_file,
    render_acl,
    render_password_file,
    verify_password,
)
from eldercare.errors import ConfigError

MOSQUITTO_PASSWD = Path("/usr/bin/mosquitto_passwd")


def test_hash_round_trips_and_rejects_a_wrong_password() -> None:
    encoded = hash_password("s3cret")
    assert encoded.startswith("$7$101$")
    assert verify_password("s3cret", encoded)
    assert not verify_password("s3cret!", encoded)
    assert not verify_password("s3cret", "not-a-hash")


def test_two_hashes_of_one_password_differ_by_salt() -> None:
    assert hash_password("same") != hash_password("same")


@pytest.mark.skipif(not MOSQUITTO_PASSWD.exists(), reason="mosquitto_passwd not installed")
def test_hashes_made_by_mosquitto_passwd_verify_here(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    subprocess.run(
        [str(MOSQUITTO_PASSWD), "-c", "-b", str(path), "svc", "from-the-tool"],
        check=True,
        timeout=10,
        capture_output=True,
    )
    entries = parse_password_file(path.read_text(encoding="utf-8"))
    assert verify_password("from-the-tool", entries["svc"])


def test_generated_secrets_are_long_unique_and_url_safe() -> None:
    secrets = {generate_secret() for _ in range(50)}
    assert len(secrets) == 50
    assert all(len(s) >= 43 and s.replace("-", "").replace("_", "").isalnum() for s in secrets)


@pytest.mark.parametrize("bad", ["", "a/b", "a+b", "a#", "a:b", "a b", "-lead", "x" * 129])
def test_names_that_cannot_be_a_topic_level_or_username_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError):
        check_name("device id", bad)


def _device(device_id: str, site_id: str = "site-a") -> DeviceAccount:
    return DeviceAccount(device_id=device_id, site_id=site_id, password_hash=hash_password("x"))


def test_password_file_keeps_services_and_drops_revoked_devices() -> None:
    kept = {"svc": "$7$101$a$b", "old-device": "$7$101$c$d"}
    text = render_password_file(
        [_device("dev-1")], keep=kept, managed_usernames={"old-device", "dev-1"}
    )
    entries = parse_password_file(text)
    assert set(entries) == {"svc", "dev-1"}
    assert verify_password("x", entries["dev-1"])


def test_acl_gives_each_device_only_its_own_topics_and_services_the_namespace() -> None:
    text = render_acl("ns", [_device("dev-2"), _device("dev-1")], service_users=["svc"])
    blocks = {
        block.splitlines()[0]: block.splitlines()[1:]
        for block in text.split("\n\n")
        if block.startswith("user ")
    }
    assert blocks["user svc"] == ["topic readwrite ns/#", "topic read $SYS/#"]
    assert blocks["user dev-1"] == [
        *(f"topic write {t}" for t in device_publish_topics("ns", "site-a", "dev-1")),
        "topic read ns/v1/site-a/dev-1/cmd/#",
    ]
    assert all("dev-2" in line for line in blocks["user dev-2"])
    # No wildcard lets a device write anywhere but its own exact topics.
    for user in ("user dev-1", "user dev-2"):
        writes = [line for line in blocks[user] if line.startswith("topic write")]
        assert writes and not any("+" in line or "#" in line for line in writes)


def test_device_topics_follow_the_contract() -> None:
    assert "ns/v1/s/d/vitals" in device_publish_topics("ns", "s", "d")
    assert "ns/v1/s/d/status" in device_publish_topics("ns", "s", "d")
    assert device_command_filter("ns", "s", "d") == "ns/v1/s/d/cmd/#"
