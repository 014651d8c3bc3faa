"""The fake Bot API's HTTP side: a threaded server on loopback, one thread a connection.

Routes: ``/bot<token>/<method>`` (GET or POST, the method name in any case),
``GET /file/bot<token>/<file_path>`` (a registered file's bytes) and ``/_fake/<action>``
(the control endpoint, ``control.py``). Anything else is Telegram's 404 ``Not Found``.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import sys
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from tests.fakes.telegram import control
from tests.fakes.telegram.helpers import TestSide
from tests.fakes.telegram.wire import ApiError, ok_body, parse_params

MAX_BODY = 50 * 1024 * 1024  # Telegram's upload limit for bots


class FakeTelegramServer(TestSide):
    """The fake Bot API in this process; use as a context manager (or start/stop).

    Point the client at ``root_url``: ``telegram.Bot(token, base_url=f"{root}/bot",
    base_file_url=f"{root}/file/bot")`` (``bot_api_url`` and ``file_api_url`` spell them).
    The socket is bound at construction, so ``root_url`` is known before ``start()``.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__()
        self._http = _HTTPServer((host, port), _Handler)
        self._http.fake = self
        self._thread: threading.Thread | None = None
        self._sockets: set[socket.socket] = set()

    # -- lifecycle
    @property
    def root_url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    base_url = root_url

    @property
    def bot_api_url(self) -> str:
        """``base_url`` for ``telegram.Bot``."""
        return f"{self.root_url}/bot"

    @property
    def file_api_url(self) -> str:
        """``base_file_url`` for ``telegram.Bot``."""
        return f"{self.root_url}/file/bot"

    def start(self) -> Self:
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-telegram",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; end held polls and holds; drop kept-alive connections."""
        self._stopping.set()
        with self._lock:
            self._updates_cv.notify_all()
            self._sent_cv.notify_all()
            sockets = list(self._sockets)
        if self._thread is not None:
            self._http.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._http.server_close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- requests
    def _handle(self, handler: _Handler) -> None:
        url = urllib.parse.urlsplit(handler.path)
        path = urllib.parse.unquote(url.path)
        try:
            body = handler.read_body()
            if path.startswith("/_fake/"):
                verb = handler.command
                status, payload = control.dispatch(self, verb, path[7:], body, url.query)
                handler.reply(status, payload)
                return
            parts = path.strip("/").split("/")
            if len(parts) >= 3 and parts[0] == "file" and parts[1].startswith("bot"):
                data = self.file_bytes(parts[1][3:], "/".join(parts[2:]))
                if data is None:
                    raise ApiError(404, "Not Found")
                handler.reply(200, data, "application/octet-stream")
                return
            if len(parts) != 2 or not parts[0].startswith("bot") or not parts[1]:
                raise ApiError(404, "Not Found")
            if not self._hold(parts[1].lower(), handler):
                handler.close_connection = True  # the client left: never processed
                return
            params = parse_params(handler.headers.get("Content-Type", ""), body, url.query)
            handler.reply(200, ok_body(self.call(parts[0][3:], parts[1], params)))
        except ApiError as exc:
            if exc.raw_body is not None:
                handler.reply(exc.status, exc.raw_body.encode(), "text/html")
            else:
                handler.reply(exc.status, exc.body())
        except OSError:  # the client went away mid-answer
            handler.close_connection = True
        except Exception:  # a bug in the fake: say so loudly, answer like a broken server
            traceback.print_exc(file=sys.stderr)
            handler.reply(
                500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}
            )

    def _hold(self, method: str, handler: _Handler) -> bool:
        """Hold the call if ``hang`` scripted it; False if its client went away meanwhile."""
        with self._lock:
            queue = self._hangs.get(method)
            if not queue:
                return True
            seconds = queue.popleft()
            self._held[method] = self._held.get(method, 0) + 1
        try:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and not self._stopping.is_set():
                readable, _, _ = select.select([handler.connection], [], [], 0.05)
                if readable and not handler.connection.recv(1, socket.MSG_PEEK):
                    return False  # EOF: the client closed the connection
            return not self._stopping.is_set()
        finally:
            with self._lock:
                self._held[method] -= 1

    def _track(self, sock: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._sockets.add(sock)
            else:
                self._sockets.discard(sock)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 256
    fake: FakeTelegramServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client dropping a kept-alive connection is normal; report anything else."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are two writes: without this, Nagle and delayed ACKs add ~40 ms.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        self.server.fake._track(self.connection, add=False)
        with contextlib.suppress(OSError):
            super().finish()

    def do_GET(self) -> None:
        self.server.fake._handle(self)

    def do_POST(self) -> None:
        self.server.fake._handle(self)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: a test run should not print a line per request."""

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            raise ApiError(413, "Request Entity Too Large")
        return self.rfile.read(length) if length > 0 else b""

    def reply(self, status: int, payload: Any, content_type: str = "application/json") -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
