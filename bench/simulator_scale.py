"""Scale bench: one simulator process drives N devices at 1 Hz over MQTT.

Prints requested versus achieved messages per second, how late messages went out, and the CPU
the process used. Starts a private mosquitto on a free loopback port unless --mqtt-url is given.

    .venv/bin/python bench/simulator_scale.py [--devices 2000] [--seconds 60] [--per-device]

Default is gateway mode (one MQTT connection publishing for every device, as a bedside hub or
LoRa/BLE gateway does): one paho connection and thread per device does not fit 2,000 devices
in one Python process. --per-device opens one connection per device (as firmware does) to show
where that mode stops scaling.
"""

from __future__ import annotations

import argparse
import math
import resource
import shutil
import socket
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from eldercare.embedded import EmbeddedMosquitto
from eldercare.errors import EldercareError
from eldercare.settings import MqttSettings
from simulators import DeviceMessage, ScenarioConfig, ScenarioPublisher

ONE_HZ_MODELS = ("smart_mattress", "smart_pillow", "fingertip_oximeter")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=2000, help="devices reporting at 1 Hz")
    parser.add_argument("--seconds", type=float, default=60.0, help="wall seconds to run")
    parser.add_argument("--per-device", action="store_true", help="one connection per device")
    parser.add_argument("--qos", type=int, default=1, choices=(0, 1))
    parser.add_argument("--mqtt-url", default=None, help="broker (default: private mosquitto)")
    args = parser.parse_args()

    residents = math.ceil(args.devices / len(ONE_HZ_MODELS))
    config = ScenarioConfig(
        start=datetime.now(UTC).replace(microsecond=0),
        duration_s=args.seconds,
        residents=residents,
        seed=1,
        devices=ONE_HZ_MODELS,
    )
    devices = residents * len(ONE_HZ_MODELS)
    broker = None
    tmp = Path(tempfile.mkdtemp(prefix="simbench-"))
    url = args.mqtt_url
    if url is None:
        executable = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        broker = EmbeddedMosquitto(tmp, port=_free_port(), executable=executable)
        url = broker.start()
    try:
        settings = MqttSettings(url=url, namespace="bench")
        sent: list[tuple[float, float]] = []  # (wall clock, device second) per message

        def on_publish(message: DeviceMessage) -> None:
            sent.append((time.monotonic(), message.send_s))

        publisher = ScenarioPublisher(
            config, settings, gateway=not args.per_device, qos=args.qos, on_publish=on_publish
        )
        cpu0, began = _cpu_seconds(), time.monotonic()
        try:
            publisher.connect()
        except EldercareError as exc:
            print(f"connect failed after {time.monotonic() - began:.1f} s: {exc}")
            print("\n".join(getattr(exc, "__notes__", [])))
            raise SystemExit(1) from None
        connect_s = time.monotonic() - began
        stats = publisher.run(stop=threading.Event())
        wall = stats.wall_seconds
        publisher.close(timeout=30)
        cpu = _cpu_seconds() - cpu0
    finally:
        if broker is not None:
            broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    start_wall = sent[0][0] - sent[0][1] if sent else 0.0
    lateness = [at - (start_wall + second) for at, second in sent]
    births = devices
    vitals = stats.messages - births
    steady = list(lateness[births:]) or [0.0]  # after the birth messages
    requested = devices * 1.0
    print(f"mode: {'one connection per device' if args.per_device else 'gateway (1 connection)'}")
    print(f"devices: {devices} at 1 Hz ({residents} residents x {len(ONE_HZ_MODELS)} models)")
    print(f"connect: {connect_s:.2f} s")
    print(f"requested: {requested:,.0f} msg/s")
    # Rate over the middle of the run (whole seconds, away from start-up and the last second).
    first, last = 5.0, max(6.0, math.floor(wall) - 5.0)
    window = sum(1 for at, _ in sent[births:] if first <= at - start_wall < last)
    print(
        f"achieved:  {window / (last - first):,.0f} msg/s over wall seconds {first:.0f}-{last:.0f} "
        f"({vitals:,} vitals messages in {wall:.1f} s, QoS {args.qos})"
    )
    steady.sort()
    p50 = steady[len(steady) // 2]
    p99 = steady[min(len(steady) - 1, int(len(steady) * 0.99))]
    print(
        f"send lateness: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {steady[-1]:.2f} s"
    )
    total = time.monotonic() - began
    print(
        f"CPU (generation + MQTT, whole run): {cpu:.1f} s over {total:.1f} s = "
        f"{100 * cpu / total:.0f} % of one core"
    )


if __name__ == "__main__":
    main()
