"""An in-process MQTT broker (amqtt) for machines that have no Mosquitto on PATH.

`PythonBroker` runs an amqtt ``Broker`` in a background thread with its own event loop, so the
synchronous parts of eldercare (the CLI, tests) can start and stop it like a subprocess::

    with PythonBroker(port=1883) as broker:
        ...  # connect MQTT clients to broker.url

It is a development convenience: one plain TCP listener on the loopback interface, every client
accepted without credentials. Use Mosquitto for anything that is not a single developer's machine.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import threading
from types import TracebackType
from typing import Any, Self

from amqtt.broker import Broker
from amqtt.contexts import BrokerConfig, ListenerConfig, ListenerType
from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import OutgoingApplicationMessage, Session

from eldercare.errors import ConfigError, ServiceError

log = logging.getLogger(__name__)

# How long amqtt's own shutdown may take before connections it does not close are cut. amqtt needs
# milliseconds; only connections that never sent CONNECT make it wait (Python 3.12+).
_STRAGGLER_GRACE = 0.5

# amqtt logs every connection and state change at INFO/DEBUG; the `eldercare up` console should only
# show its warnings and errors. `transitions` is the state-machine library amqtt drives.
_CHATTY_LOGGERS = ("amqtt", "transitions")


class OpenLoopbackAuthPlugin(BaseAuthPlugin):
    """Accept every client, with or without credentials (loopback development broker only).

    amqtt's own ``AnonymousAuthPlugin(allow_anonymous=True)`` also tags every session it accepts as
    anonymous, and amqtt 0.12 deliberately drops persistent sessions of anonymous clients (it
    neither queues QoS 1/2 messages for them while they are offline nor keeps their subscriptions).
    ``eldercare.mqtt.make_client(persistent_session=True)`` relies on such sessions, as it may on
    Mosquitto with ``allow_anonymous true``, so this plugin accepts clients without that tag.
    """

    async def authenticate(self, *, session: Session) -> bool:
        """Every client is allowed: the listener is bound to the loopback interface."""
        return True


class _MosquittoCompatibleBroker(Broker):
    """amqtt's Broker with two MQTT 3.1.1 deviations of amqtt 0.12.1 corrected, and a clean stop.

    The two `_publish_*` overrides replace private amqtt methods; amqtt is pinned to 0.12.1 and
    tests/eldercare/test_pybroker.py fails if a new version changes what they rely on.
    """

    def __init__(self, config: BrokerConfig) -> None:
        super().__init__(config)
        self._connection_tasks: set[asyncio.Task[Any]] = set()

    async def stream_connected(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, listener_name: str
    ) -> None:
        """amqtt's TCP connection handler, tracked so shutdown can end every connection."""
        task = asyncio.current_task()
        if task is not None:
            self._connection_tasks.add(task)
        try:
            await super().stream_connected(reader, writer, listener_name)
        finally:
            if task is not None:
                self._connection_tasks.discard(task)
            # amqtt leaves some connections open when it is done with them (e.g. one closed by the
            # client before CONNECT) and does not close those it was cancelled on.
            writer.close()

    async def shutdown(self) -> None:
        """amqtt's shutdown, plus closing connections that never sent CONNECT.

        amqtt closes the connections of MQTT sessions only. A connection still waiting for its
        CONNECT would stay open, and on Python 3.12+ ``Server.wait_closed()`` inside amqtt's
        shutdown waits for it forever; so give amqtt a moment, then cut such connections.
        """
        shutting_down = asyncio.ensure_future(super().shutdown())
        await asyncio.wait({shutting_down}, timeout=_STRAGGLER_GRACE)
        stragglers = list(self._connection_tasks)
        for task in stragglers:
            task.cancel()
        await asyncio.gather(*stragglers, return_exceptions=True)
        await shutting_down

    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Session
    ) -> None:
        # amqtt 0.12.1 calls this on every CONNECT for every topic filter *any* client holds (even
        # filters emptied by UNSUBSCRIBE), so a client got retained messages it never subscribed
        # to, and got them twice once it did subscribe. Only the client's own subscriptions may
        # bring it retained messages [MQTT-3.3.1-6].
        holders = self.subscriptions.get(subscription[0], [])
        if any(holder.client_id == session.client_id for holder, _qos in holders):
            await super()._publish_retained_messages_for_subscription(subscription, session)

    async def _publish_session_retained_messages(self, session: Session) -> None:
        # amqtt 0.12.1 sends the QoS 1/2 messages it queued for an offline persistent session with
        # RETAIN=1. They match an established subscription, so RETAIN must be 0 [MQTT-3.3.1-9];
        # otherwise consumers that skip retained (stale) state would drop them, unlike on Mosquitto.
        handler = self._get_handler(session)
        if handler is None:
            return  # Same as amqtt: keep them queued until the client is attached.
        # Started in queue order so the client receives them in the order they were published.
        sending: list[asyncio.Future[OutgoingApplicationMessage]] = []
        while not session.retained_messages.empty():
            queued = session.retained_messages.get_nowait()
            publish = handler.mqtt_publish(queued.topic, queued.data, queued.qos, retain=False)
            sending.append(asyncio.ensure_future(publish))
        if sending:
            await asyncio.wait(sending)


def _ignore_cancelled_connections(
    loop: asyncio.AbstractEventLoop, context: dict[str, object]
) -> None:
    """Event-loop exception handler: drop the noise of connections cut off by shutdown.

    Connections still open when the broker stops (e.g. a client that never sent CONNECT) have their
    handler task cancelled as the loop ends; asyncio's stream machinery (3.11, early 3.12) then
    reports that cancellation as an "Exception in callback" with a traceback. Anything else is
    reported as usual.
    """
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


def _quiet_library_logging() -> None:
    """Lower amqtt's logging to WARNING unless the application configured those loggers itself."""
    for name in _CHATTY_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)


def _address_in_use(exc: BaseException) -> bool:
    """Whether `exc`, or an exception it was raised from, is "address already in use"."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno == errno.EADDRINUSE:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class PythonBroker:
    """An amqtt broker on 127.0.0.1:<port>, run in a background thread with its own event loop."""

    def __init__(self, *, host: str = "127.0.0.1", port: int) -> None:
        # Port 0 would let the OS pick a port that `url` could not report.
        if not 0 < port < 65536:
            raise ConfigError(f"MQTT broker port must be between 1 and 65535, not {port}")
        self._host = host
        self._port = port
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        # Guards the hand-over between the caller's thread and the broker thread: start() may give
        # up (timeout) before the broker thread has published its loop and task.
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._serve_task: asyncio.Task[None] | None = None
        self._stop_event: asyncio.Event | None = None
        self._abandoned = False

    @property
    def url(self) -> str:
        """The URL clients connect to, e.g. ``mqtt://127.0.0.1:1883``."""
        return f"mqtt://{self._bind_address()}"

    def _bind_address(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host  # IPv6 literal
        return f"{host}:{self._port}"

    def _config(self) -> BrokerConfig:
        """The amqtt 0.12 configuration: one TCP listener, open access, no $SYS topics."""
        return BrokerConfig(
            listeners={
                "default": ListenerConfig(type=ListenerType.TCP, bind=self._bind_address()),
            },
            # Giving `plugins` explicitly replaces amqtt's defaults, which include the $SYS
            # publisher (BrokerSysPlugin, every 20 s) and packet/event loggers. With no topic plugin
            # listed, no topic ACL applies. `sys_interval` stays unset: amqtt 0.12 deprecates it
            # with a DeprecationWarning.
            plugins={f"{__name__}.{OpenLoopbackAuthPlugin.__name__}": {}},
        )

    def _check_port_free(self) -> None:
        """Fail fast, with a message naming the port, if something already listens on it."""
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # Same option amqtt's listener uses, so a port left in TIME_WAIT by a previous run
            # counts as free, exactly as it will for the real bind.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((self._host, self._port))
            except OSError as exc:
                raise ServiceError(self._describe_start_failure(exc)) from exc

    def _describe_start_failure(self, exc: BaseException) -> str:
        where = f"{self._host}:{self._port}"
        if _address_in_use(exc):
            return (
                f"cannot start the Python MQTT broker: port {self._port} on {self._host} is already"
                " in use (another MQTT broker running?); stop it or choose another port"
            )
        return f"cannot start the Python MQTT broker on {where}: {exc}"

    def start(self, timeout: float = 10.0) -> None:
        """Start the broker; return once its port accepts TCP connections.

        Raises ServiceError if the broker cannot start (e.g. port in use) or does not start in time.
        """
        if self._thread is not None:
            raise ServiceError(f"the Python MQTT broker on {self.url} is already running")
        _quiet_library_logging()
        self._check_port_free()

        self._ready.clear()
        self._startup_error = None
        with self._lock:
            self._loop = self._serve_task = self._stop_event = None
            self._abandoned = False
        # Daemon: a broker someone forgot to stop must not keep the interpreter alive at exit.
        thread = threading.Thread(
            target=self._run, name=f"eldercare-pybroker-{self._port}", daemon=True
        )
        thread.start()

        if not self._ready.wait(timeout):
            self._abandon_startup()
            thread.join(timeout)
            raise ServiceError(
                f"the Python MQTT broker on {self._host}:{self._port} did not start within"
                f" {timeout:g} s"
            )
        if self._startup_error is not None:
            thread.join(timeout)
            error = self._startup_error
            raise ServiceError(self._describe_start_failure(error)) from error
        self._thread = thread
        log.info("Python MQTT broker listening on %s", self.url)

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the broker down (disconnecting clients) and join its thread. Safe to call twice."""
        thread = self._thread
        if thread is None:
            return
        with self._lock:
            loop, stop_event = self._loop, self._stop_event
        if loop is not None and stop_event is not None:
            try:
                loop.call_soon_threadsafe(stop_event.set)
            except RuntimeError:
                pass  # The loop is already closed: the broker thread has ended on its own.
        thread.join(timeout)
        if thread.is_alive():
            raise ServiceError(
                f"the Python MQTT broker on {self._host}:{self._port} did not stop within"
                f" {timeout:g} s"
            )
        self._thread = None
        log.info("Python MQTT broker on %s stopped", self.url)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _abandon_startup(self) -> None:
        """start() timed out: make the broker thread give up, wherever it is."""
        with self._lock:
            self._abandoned = True  # Seen by _serve() if it has not published its task yet.
            loop, task = self._loop, self._serve_task
        if loop is not None and task is not None:
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:
                pass  # The loop is already closed: the broker thread has ended on its own.

    def _run(self) -> None:
        """Thread body: run the broker on a fresh event loop until stop() or an abandoned start."""
        try:
            # asyncio.run also cancels whatever amqtt left running and closes the loop.
            asyncio.run(self._serve())
        except asyncio.CancelledError:
            pass  # start() timed out and cancelled _serve(); it reports the failure itself.
        except Exception as exc:
            if not self._ready.is_set():
                self._startup_error = exc  # start() turns this into a ServiceError
                self._ready.set()
            else:
                log.exception("Python MQTT broker on %s failed", self.url)

    async def _serve(self) -> None:
        stop_event = asyncio.Event()
        with self._lock:
            if self._abandoned:
                return
            self._loop = asyncio.get_running_loop()
            self._serve_task = asyncio.current_task()
            self._stop_event = stop_event
        self._loop.set_exception_handler(_ignore_cancelled_connections)

        # Created inside the running loop: amqtt binds its queues and futures to the current loop.
        broker = _MosquittoCompatibleBroker(self._config())
        try:
            # Returns after asyncio.start_server, which has called listen(): from here on the port
            # accepts TCP connections, so start() needs no probe connection of its own.
            await broker.start()
        except Exception as exc:
            self._startup_error = exc
            self._ready.set()
            return
        try:
            self._ready.set()
            await stop_event.wait()
        finally:
            # Also when cancelled by a start() that timed out just as the broker came up.
            await broker.shutdown()
