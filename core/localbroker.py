"""Embedded mode's broker, shared with worker processes over a local socket.

Embedded mode has no broker server: its queues are kombu's in-process memory queues
(``core.kombu_memory``). With ``OPENCLAW_WORKER_PROCESSES`` the gateway process also
serves them on an abstract Unix socket (Linux; nothing on disk), guarded by a random
key given to the workers it starts: each worker process runs Celery with this module's
``Transport``, which puts and gets messages there, and sends the events its runs
publish back to the gateway, whose sockets hold the clients (``relay_event``).

Like the memory transport, messages live in the gateway's memory: a task a worker
process held when it died, or everything queued when the gateway dies, is not
redelivered by the broker. The work itself is never lost: it is a leased row (inbox,
run, outbox) that the sweeper and start-up recovery re-drive (``core.leases``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from multiprocessing.connection import Client, Connection, Listener
from queue import Empty
from time import monotonic
from typing import Any

from kombu.transport import virtual

from core import kombu_memory

logger = logging.getLogger(__name__)

SOCKET_ENV = "OPENCLAW_BROKER_SOCKET"
KEY_ENV = "OPENCLAW_BROKER_KEY"
# The longest a worker's get waits in the gateway before it looks around (shutdown).
GET_WAIT_MAX_S = 2.0
# Set in a worker process (gateway.workers.watch_parent): called when the connection to
# the gateway's broker is lost, before the error is raised. When the gateway died, it
# ends the process as the gateway's pipe closing does, instead of Celery's worker
# reporting an "unrecoverable error" with a traceback first.
on_lost: Callable[[], None] | None = None


class BrokerServer:
    """The gateway side: serves the memory queues and takes the workers' events."""

    def __init__(self, *, on_event: Any) -> None:
        self.key = os.urandom(32)
        self.address = f"\0openclaw-broker-{os.getpid()}-{os.urandom(6).hex()}"
        self.on_event = on_event
        self._listener: Listener | None = None
        self._connections: set[Connection] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def env(self) -> dict[str, str]:
        """What a worker process needs to reach this broker."""
        return {SOCKET_ENV: self.address.replace("\0", "@", 1), KEY_ENV: self.key.hex()}

    def start(self) -> None:
        self._listener = Listener(self.address, family="AF_UNIX", authkey=self.key)
        threading.Thread(target=self._accept, name="broker-accept", daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            conn.close()
        kombu_memory.wake_all()

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopped.is_set():
            try:
                conn = self._listener.accept()
            except OSError:
                return  # closed by stop()
            except Exception:  # a peer without the key (AuthenticationError) or gone
                logger.warning("broker: refused a connection", exc_info=True)
                continue
            with self._lock:
                self._connections.add(conn)
            threading.Thread(
                target=self._serve, args=(conn,), name="broker-conn", daemon=True
            ).start()

    def _serve(self, conn: Connection) -> None:
        try:
            while not self._stopped.is_set():
                request = conn.recv()
                reply = self._handle(request)
                if reply is _NO_REPLY:
                    continue
                try:
                    conn.send(reply)
                except (OSError, EOFError):
                    if request[0] == "get" and reply is not None:
                        # The worker died while waiting: the message it was given goes
                        # back to its queue for another worker.
                        kombu_memory.put(reply[0], reply[1])
                    raise
        except (EOFError, OSError):
            pass  # the worker process went away (or stop() closed it)
        except Exception:
            logger.exception("broker: a worker connection failed")
        finally:
            with self._lock:
                self._connections.discard(conn)
            conn.close()

    def _handle(self, request: tuple[Any, ...]) -> Any:
        op = request[0]
        if op == "put":
            kombu_memory.put(request[1], request[2])
            return _NO_REPLY
        if op == "get":
            queues, timeout = request[1], min(float(request[2]), GET_WAIT_MAX_S)
            return kombu_memory.get_any(queues, timeout, stopped=self._stopped)
        if op == "event":
            try:
                self.on_event(request[1])
            except Exception:
                logger.exception("broker: relaying an event failed")
            return _NO_REPLY
        if op == "size":
            return kombu_memory.size(request[1])
        if op == "purge":
            return kombu_memory.purge(request[1])
        raise ValueError(f"unknown broker request {op!r}")


_NO_REPLY = object()


def _address() -> str:
    value = os.environ.get(SOCKET_ENV, "")
    if not value:
        raise RuntimeError(f"{SOCKET_ENV} is not set: worker processes are started by the gateway")
    return "\0" + value[1:] if value.startswith("@") else value


def _key() -> bytes:
    return bytes.fromhex(os.environ.get(KEY_ENV, ""))


def connect() -> Connection:
    """A new connection to the gateway's broker (one per thread that uses it)."""
    return Client(_address(), family="AF_UNIX", authkey=_key())


class _Relay:
    """This worker process's line for events, shared by its threads."""

    def __init__(self) -> None:
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        with self._lock:
            try:
                if self._conn is None:
                    self._conn = connect()
                self._conn.send(("event", message))
            except (OSError, EOFError):
                # The gateway is gone or restarting: events are wake-ups, clients read
                # the state they announce from the database.
                self._conn = None
                logger.warning("broker: the gateway did not take an event")


_relay = _Relay()


def relay_event(message: dict[str, Any]) -> None:
    """Hand an event (a ``gateway.bus`` message) to the gateway process's sockets."""
    _relay.send(message)


class Channel(virtual.Channel):
    """A kombu channel whose queues are the gateway's (one socket per channel)."""

    do_restore = False
    supports_fanout = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._conn: Connection | None = None
        self._conn_lock = threading.Lock()
        self._freed = threading.Event()

    def _request(self, *request: Any, reply: bool = True) -> Any:
        with self._conn_lock:
            if self._conn is None:
                self._conn = connect()
            try:
                self._conn.send(request)
                return self._conn.recv() if reply else None
            except (OSError, EOFError) as exc:
                self._conn.close()
                self._conn = None
                if on_lost is not None:
                    on_lost()  # a worker process whose gateway died ends here, quietly
                raise ConnectionError(f"lost the gateway's broker: {exc}") from exc

    def _put(self, queue: str, message: Any, **kwargs: Any) -> None:
        self._request("put", queue, message, reply=False)

    def _get(self, queue: str, timeout: float | None = None) -> Any:
        got = self._request("get", [queue], 0)
        if got is None:
            raise Empty()
        return got[1]

    def _get_many(self, queues: Any, timeout: float | None = None) -> None:
        got = self._request("get", list(queues), GET_WAIT_MAX_S if timeout is None else timeout)
        if got is None:
            raise Empty()
        queue, message = got
        transport: Any = getattr(self, "connection", None)
        if transport is None:  # closed meanwhile (the worker is stopping): give it back
            with contextlib.suppress(ConnectionError):
                self._request("put", queue, message, reply=False)
            raise Empty()
        transport._deliver(message, queue)

    def drain_events(self, timeout: float | None = None, callback: Any = None) -> Any:
        if self._consumers and not self.qos.can_consume():
            # Every prefetch slot is taken: wait for an ack instead of spinning.
            self._freed.clear()
            self._freed.wait(GET_WAIT_MAX_S if timeout is None else timeout)
            raise Empty()
        return super().drain_events(timeout=timeout, callback=callback)

    def basic_ack(self, delivery_tag: Any, multiple: bool = False) -> None:
        super().basic_ack(delivery_tag, multiple)
        self._freed.set()

    def basic_reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        super().basic_reject(delivery_tag, requeue)
        self._freed.set()

    def _size(self, queue: str) -> int:
        return int(self._request("size", queue))

    def _purge(self, queue: str) -> int:
        return int(self._request("purge", queue))

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        pass  # the gateway makes a queue on first use

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        return True

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        super().close()
        with self._conn_lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class Transport(virtual.Transport):
    """``CELERY_BROKER_TRANSPORT`` of a worker process started by the gateway."""

    Channel = Channel
    driver_type = "openclaw-local"
    driver_name = "openclaw-local"
    polling_interval = 0.0  # gets wait in the gateway: nothing to sleep between them

    # The stubs of kombu's base and virtual transports disagree on this signature.
    def drain_events(self, connection: Any, timeout: float | None = None) -> None:  # type: ignore[override]
        started = monotonic()
        assert self.cycle is not None
        while True:
            try:
                self.cycle.get(self._deliver, timeout=timeout)
                return
            except Empty:
                if timeout is not None and monotonic() - started >= timeout:
                    raise TimeoutError() from None

    def driver_version(self) -> str:
        return "1"
