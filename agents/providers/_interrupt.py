"""Cut a thread's provider request short from another thread (abort, time limit, shutdown).

A stalled provider sends nothing: a thread blocked in ``recv`` only wakes when data
comes, the SDK's read timeout runs out (``AGENT_MODEL_TIMEOUT_S``, 120 s) or the
socket is shut down. Closing the SDK stream or its httpx response from another thread
does not wake it on Linux (``close`` of a socket another thread waits on is not seen by
that wait), and there is no response to close yet while the provider sits on the
headers. So the SDK clients get a network backend that notes which socket each thread
is reading or writing; ``interrupt(thread_id)`` shuts that socket down
(``shutdown(SHUT_RDWR)`` wakes the waiting thread at once, with end of file) and marks
the thread, so a request it starts or continues afterwards fails at once too. The SDK
reports the cut as a dropped connection (a ``ProviderError``); the run loop knows it
was stopped and does not count it against the key.

``clear(thread_id)`` lifts the mark when the run that was stopped has ended.
Pure Python (httpcore2, no Django, no SDK).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Iterable
from typing import Any

import httpcore2

from agents.providers.types import ProviderError

logger = logging.getLogger(__name__)

_lock = threading.Lock()
# thread ident -> the socket it is reading or writing right now.
_using: dict[int, socket.socket] = {}
# Threads whose request was interrupted: further reads and writes fail at once.
_interrupted: set[int] = set()


def interrupt(thread_id: int) -> bool:
    """Cut the request ``thread_id`` is making; True when a socket was shut down.

    Under the lock that the reader takes to leave its socket, so a socket that went back
    to the connection pool (and may serve another thread next) is never shut down.
    """
    with _lock:
        _interrupted.add(thread_id)
        sock = _using.get(thread_id)
        if sock is None:
            return False
        # socket.socket's shutdown, not SSLSocket's: that one also drops the SSL object
        # under the reading thread's feet.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        return True


def clear(thread_id: int) -> None:
    with _lock:
        _interrupted.discard(thread_id)


def interrupted(thread_id: int) -> bool:
    with _lock:
        return thread_id in _interrupted


def interrupted_error(name: str) -> ProviderError | None:
    """The error for a request this thread's run cut itself, else None.

    Not retriable: the key did nothing wrong, so failover must neither cool it down nor
    move on to the next one (compaction's summary call included).
    """
    if not interrupted(threading.get_ident()):
        return None
    return ProviderError(
        f"{name}: the request was cut off (abort, time limit or shutdown)", reason="interrupted"
    )


class _Interrupted(httpcore2.ReadError):
    def __init__(self) -> None:
        super().__init__("the request was interrupted (abort, time limit or shutdown)")


class _TrackedStream(httpcore2.NetworkStream):
    """A network stream whose reads and writes the owning thread registers."""

    def __init__(self, inner: httpcore2.NetworkStream) -> None:
        self._inner = inner

    def _enter(self) -> int:
        sock = self._inner.get_extra_info("socket")
        tid = threading.get_ident()
        with _lock:
            if tid in _interrupted:
                raise _Interrupted
            if isinstance(sock, socket.socket):
                _using[tid] = sock
        return tid

    @staticmethod
    def _leave(tid: int) -> None:
        with _lock:
            _using.pop(tid, None)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        tid = self._enter()
        try:
            return self._inner.read(max_bytes, timeout)
        finally:
            self._leave(tid)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        tid = self._enter()
        try:
            self._inner.write(buffer, timeout)
        finally:
            self._leave(tid)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore2.NetworkStream:
        return _TrackedStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class TrackedBackend(httpcore2.NetworkBackend):
    """Wraps httpcore's sync backend so every stream it opens is interruptible."""

    def __init__(self, inner: httpcore2.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.NetworkStream:
        return _TrackedStream(
            self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        )

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.NetworkStream:
        return _TrackedStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def make_interruptible(http_client: Any) -> bool:
    """Give every connection pool of an httpx2 client the tracking backend.

    The SDK's own client is kept (its timeouts, limits and proxy mounts); only the
    pools' network backend is wrapped. False when the client does not look as expected
    (an SDK upgrade): requests then still work, and the watchdog's fallback (ending the
    run in the database) still applies, but a stall is no longer cut at once. A test
    checks this stays True for both SDKs.
    """
    transports = [getattr(http_client, "_transport", None)]
    transports += list(getattr(http_client, "_mounts", {}).values())
    wrapped = False
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is None:
            continue
        if not isinstance(backend, TrackedBackend):
            pool._network_backend = TrackedBackend(backend)  # type: ignore[union-attr]
        wrapped = True
    if not wrapped:
        logger.warning("provider HTTP client has no pool to track: stalls are not cut at once")
    return wrapped
