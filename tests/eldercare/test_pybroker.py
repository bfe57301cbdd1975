"""PythonBroker against real paho-mqtt clients: delivery, retained messages, last will, persistent
sessions, and the start/stop lifecycle. Every wait is bounded by WAIT."""

from __future__ import annotations

import asyncio
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator

import paho.mqtt.client as mqtt
import pytest
from amqtt.broker import Broker
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from eldercare.errors import ServiceError
from eldercare.pybroker import PythonBroker

HOST = "127.0.0.1"
# Upper bound for any single wait; on a healthy machine each one takes milliseconds.
WAIT = 10.0
# How long to watch for a message that must *not* arrive (duplicates, a will after a clean
# disconnect). Delivery on loopback takes well under a millisecond, so this is generous.
QUIET = 0.3


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_of(broker: PythonBroker) -> int:
    return int(broker.url.rsplit(":", 1)[1])


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Poll `predicate` until it holds; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.01)


class Peer:
    """A paho-mqtt 2.x MQTT 3.1.1 client that records what it receives."""

    def __init__(self, port: int, *, client_id: str = "", clean_session: bool = True) -> None:
        self.port = port
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_session,
            protocol=MQTTProtocolVersion.MQTTv311,
            # A test decides itself when to reconnect; paho must not do it behind its back.
            reconnect_on_failure=False,
        )
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.subacks: queue.Queue[tuple[int, list[ReasonCode]]] = queue.Queue()
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.session_present: bool | None = None
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: object,
    ) -> None:
        assert not reason_code.is_failure, f"broker refused the connection: {reason_code}"
        self.session_present = flags.session_present
        self.connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: object, *args: object) -> None:
        self.disconnected.set()

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: object,
    ) -> None:
        self.subacks.put((mid, reason_codes))

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        self.messages.put(message)

    def connect(self) -> Peer:
        """Connect and run the network loop in paho's thread; return once CONNACK arrived."""
        self.client.connect(HOST, self.port, keepalive=30)
        self.client.loop_start()
        assert self.connected.wait(WAIT), "no CONNACK from the broker"
        return self

    def subscribe(self, topic: str, qos: int = 1) -> None:
        """Subscribe and wait for the SUBACK granting `qos`."""
        result, mid = self.client.subscribe(topic, qos=qos)
        assert result == mqtt.MQTT_ERR_SUCCESS
        acked_mid, reason_codes = self.subacks.get(timeout=WAIT)
        assert acked_mid == mid
        assert [code.value for code in reason_codes] == [qos]

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Publish and wait until the broker acknowledged it (PUBACK for QoS 1)."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(timeout=WAIT)
        assert info.is_published(), f"broker did not acknowledge {payload!r} on {topic}"

    def receive(self, count: int) -> list[mqtt.MQTTMessage]:
        """The next `count` messages; fail if they do not all arrive within WAIT."""
        deadline = time.monotonic() + WAIT
        received: list[mqtt.MQTTMessage] = []
        while len(received) < count:
            remaining = deadline - time.monotonic()
            try:
                received.append(self.messages.get(timeout=max(remaining, 0.0)))
            except queue.Empty:
                pytest.fail(f"received {len(received)} of {count} messages within {WAIT:g} s")
        return received

    def assert_nothing_more(self) -> None:
        """No further message arrives (no duplicates, nothing unexpected)."""
        try:
            extra = self.messages.get(timeout=QUIET)
        except queue.Empty:
            return
        pytest.fail(f"unexpected extra message {extra.payload!r} on {extra.topic}")

    def close(self) -> None:
        """Disconnect cleanly (if still connected), stop the network thread, free the sockets."""
        self.client.disconnect()
        self.client.loop_stop()
        release_sockets(self.client)


def release_sockets(client: mqtt.Client) -> None:
    """Close all of a paho client's sockets now.

    paho 2.2 closes its internal wake-up socketpair only in ``Client.__del__``; a client in a
    reference cycle (callbacks bound to an object holding the client) reaches that only via the
    garbage collector, which then reports ResourceWarnings (paho issue #627). ``reinitialise()`` is
    paho's public way to close them.
    """
    client.reinitialise()


@pytest.fixture
def broker() -> Iterator[PythonBroker]:
    running = PythonBroker(port=free_port())
    running.start()
    yield running
    running.stop()


@pytest.fixture
def peers(broker: PythonBroker) -> Iterator[Callable[..., Peer]]:
    """Make connected clients of `broker`; all are closed before the broker stops."""
    made: list[Peer] = []
    port = port_of(broker)

    def make(*, client_id: str = "", clean_session: bool = True) -> Peer:
        peer = Peer(port, client_id=client_id, clean_session=clean_session)
        made.append(peer)
        return peer.connect()

    yield make
    for peer in made:
        peer.close()


def test_url_names_host_and_port() -> None:
    assert PythonBroker(port=18831).url == "mqtt://127.0.0.1:18831"


def test_qos1_messages_arrive_complete_and_in_order(peers: Callable[..., Peer]) -> None:
    topic = "eldercare/test/qos1"
    subscriber = peers()
    subscriber.subscribe(topic, qos=1)
    publisher = peers()

    sent = [f"reading-{n:04d}".encode() for n in range(500)]
    infos = [publisher.client.publish(topic, payload, qos=1) for payload in sent]
    for info in infos:
        info.wait_for_publish(timeout=WAIT)
        assert info.is_published()

    received = subscriber.receive(len(sent))
    assert [message.payload for message in received] == sent
    assert {message.qos for message in received} == {1}
    subscriber.assert_nothing_more()


def test_retained_message_reaches_a_later_subscriber_only(peers: Callable[..., Peer]) -> None:
    topic = "eldercare/test/retained/room-12"
    publisher = peers()
    # The publisher also subscribes: amqtt stores a retained message before it fans the message
    # out, so once this echo is back the message is certainly retained.
    publisher.subscribe(topic)
    publisher.publish(topic, b"occupied", retain=True)
    assert publisher.receive(1)[0].payload == b"occupied"

    latecomer = peers()
    # Connects after the retained message but never subscribes to it (stock amqtt 0.12.1 would
    # send it anyway, because another client holds a matching subscription).
    bystander = peers()
    latecomer.subscribe(topic)
    (message,) = latecomer.receive(1)
    assert (message.topic, message.payload, message.retain) == (topic, b"occupied", True)
    latecomer.assert_nothing_more()  # exactly once (stock amqtt 0.12.1 sends it twice)
    bystander.assert_nothing_more()


def test_last_will_is_published_when_a_client_vanishes(
    broker: PythonBroker, peers: Callable[..., Peer]
) -> None:
    topic = "eldercare/test/will/bed-7"
    watcher = peers()
    watcher.subscribe(topic)
    port = port_of(broker)

    # Control: a clean DISCONNECT must discard the will.
    polite = Peer(port, client_id="will-polite")
    polite.client.will_set(topic, b"polite-offline", qos=1)
    polite.connect()
    polite.close()

    # The victim runs paho's network loop in this thread (no loop_start), so nothing else touches
    # its socket when we cut the TCP connection without sending DISCONNECT: to the broker this looks
    # exactly like a device losing power or network.
    victim = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id="will-victim",
        protocol=MQTTProtocolVersion.MQTTv311,
        reconnect_on_failure=False,
    )
    victim.will_set(topic, b"victim-offline", qos=1)
    connected = threading.Event()
    victim.on_connect = lambda *_: connected.set()
    victim.connect(HOST, port, keepalive=30)
    wait_until(
        lambda: victim.loop(timeout=0.05) == mqtt.MQTT_ERR_SUCCESS and connected.is_set(),
        "the victim's CONNACK",
    )
    victim_socket = victim.socket()
    assert isinstance(victim_socket, socket.socket)
    victim_socket.shutdown(socket.SHUT_RDWR)
    victim_socket.close()
    release_sockets(victim)

    (will,) = watcher.receive(1)
    assert (will.topic, will.payload, will.qos) == (topic, b"victim-offline", 1)
    watcher.assert_nothing_more()


def test_persistent_session_gets_messages_sent_while_offline(
    broker: PythonBroker, peers: Callable[..., Peer]
) -> None:
    topic = "eldercare/test/persistent/alerts"
    client_id = "eldercare-test-persistent"
    port = port_of(broker)

    first = Peer(port, client_id=client_id, clean_session=False).connect()
    assert first.session_present is False
    first.subscribe(topic, qos=1)
    first.close()

    # A second subscriber on the same topic: once it has every message, the broker has fanned all
    # of them out, i.e. queued them for the offline session too.
    witness = peers()
    witness.subscribe(topic)
    publisher = peers()
    sent = [f"alert-{n}".encode() for n in range(20)]
    for payload in sent:
        publisher.publish(topic, payload)
    assert [message.payload for message in witness.receive(len(sent))] == sent

    again = Peer(port, client_id=client_id, clean_session=False)
    try:
        again.connect()
        assert again.session_present is True
        received = again.receive(len(sent))
        assert sorted(message.payload for message in received) == sorted(sent)
        assert [message.payload for message in received] == sent
        assert {message.qos for message in received} == {1}
        # Queued for a subscription, not a retained message [MQTT-3.3.1-9].
        assert not any(message.retain for message in received)
        again.assert_nothing_more()
    finally:
        again.close()


def test_start_on_a_busy_port_fails_fast_naming_the_port() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind((HOST, 0))
        squatter.listen()
        port = int(squatter.getsockname()[1])
        broker = PythonBroker(port=port)

        started = time.monotonic()
        with pytest.raises(ServiceError, match=rf"port {port}\b.*already in use"):
            broker.start(timeout=5)
        assert time.monotonic() - started < 1.0
        broker.stop()  # nothing is running: a no-op


def test_port_taken_between_check_and_bind_is_reported_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pre-check can race with another process; amqtt's own bind failure maps the same way."""
    monkeypatch.setattr(PythonBroker, "_check_port_free", lambda self: None)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind((HOST, 0))
        squatter.listen()
        port = int(squatter.getsockname()[1])
        broker = PythonBroker(port=port)

        started = time.monotonic()
        with pytest.raises(ServiceError, match=rf"port {port}\b.*already in use"):
            broker.start(timeout=5)
        assert time.monotonic() - started < 1.0
        assert not any(t.name == f"eldercare-pybroker-{port}" for t in threading.enumerate())


def test_start_gives_up_after_its_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    async def never_starts(self: Broker) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(Broker, "start", never_starts)
    port = free_port()
    broker = PythonBroker(port=port)
    started = time.monotonic()
    with pytest.raises(ServiceError, match=rf"{port} did not start within 0.2 s"):
        broker.start(timeout=0.2)
    assert time.monotonic() - started < 1.0
    # The abandoned broker thread was cancelled, not left running.
    assert not any(t.name == f"eldercare-pybroker-{port}" for t in threading.enumerate())
    broker.stop()  # nothing is running: a no-op


def test_stop_is_idempotent_and_frees_the_port() -> None:
    port = free_port()
    broker = PythonBroker(port=port)
    broker.start()
    client = Peer(port).connect()
    # A TCP connection that never sends CONNECT: amqtt itself would leave it open (and on Python
    # 3.12+ wait for it forever while shutting down).
    idle = socket.create_connection((HOST, port), timeout=WAIT)

    started = time.monotonic()
    broker.stop()
    broker.stop()
    assert time.monotonic() - started < 2.0

    # stop() closed both connections and the broker thread is gone.
    assert client.disconnected.wait(WAIT)
    client.close()
    with idle:
        assert idle.recv(1) == b""
    assert not any(t.name == f"eldercare-pybroker-{port}" for t in threading.enumerate())
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((HOST, port), timeout=WAIT).close()

    # The port is free for the next broker, and a stopped PythonBroker can be started again.
    with broker:
        Peer(port).connect().close()
