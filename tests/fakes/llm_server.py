"""Scriptable fake LLM HTTP server: the core shared by the Anthropic and OpenAI fakes.

A test queues *steps* (what the next request should get: a streamed text reply, tool
calls, an HTTP error, a broken stream, a hang...) and points the real SDK at the
server's ``base_url``. Each vendor module renders the steps in its own wire format; this
module owns the HTTP plumbing, the FIFO of steps, the request log and the control
endpoint that lets a test in another process script a server started with
``python -m tests.fakes.<vendor>_server --port N``.

Control endpoint (both modes; never recorded, never answered with request headers):

- ``POST /_fake/script``   body: a JSON list of steps, or ``{"steps": [...]}``; appends
- ``POST /_fake/default``  body: ``{"step": {...}}`` (a fixed default) or ``{"step": null}``
- ``GET  /_fake/requests`` the recorded requests, credentials redacted
- ``POST /_fake/reset``    clear the queue, the log and the default
- ``GET  /_fake/health``   ``{"ok": true}``

Only the standard library is used, so a process-mode server starts in well under a second.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import itertools
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, Self

REPO = Path(__file__).resolve().parents[2]

# Headers that carry credentials: recorded only as a redaction marker plus a digest.
SECRET_HEADERS = frozenset(
    {"authorization", "x-api-key", "api-key", "cookie", "proxy-authorization"}
)
REDACTED = "<redacted>"


# --- steps ------------------------------------------------------------------------------
@dataclass(frozen=True)
class FakeUsage:
    """Token counts a reply reports, provider neutral.

    ``input`` is the uncached prompt; OpenAI's ``prompt_tokens`` is rendered as
    ``input + cache_read + cache_write`` because OpenAI counts cached tokens inside it.
    """

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0


@dataclass(frozen=True)
class FakeToolCall:
    """A tool call the fake model makes; a ``str`` ``arguments`` is sent verbatim."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, separators=(",", ":"))


@dataclass(frozen=True)
class Text:
    """A text reply, streamed in ``chunks`` deltas with ``delay_s`` between them.

    ``stop`` is ``stop``, ``length`` (max tokens) or ``refusal`` (content filter).
    """

    kind: ClassVar[str] = "text"
    text: str
    chunks: int = 1
    delay_s: float = 0.0
    usage: FakeUsage | None = None
    stop: str = "stop"


@dataclass(frozen=True)
class ToolCalls:
    """A reply that calls tools, after an optional leading text.

    Each call's arguments JSON is streamed in ``fragments`` pieces.
    """

    kind: ClassVar[str] = "tool_calls"
    calls: tuple[FakeToolCall, ...]
    text: str = ""
    fragments: int = 2
    usage: FakeUsage | None = None


@dataclass(frozen=True)
class HttpError:
    """An HTTP error in the vendor's JSON shape.

    ``type`` and ``message`` default from the status; ``code`` is OpenAI's error code
    (``insufficient_quota``...); ``retry_after`` becomes a ``retry-after`` header.
    """

    kind: ClassVar[str] = "http_error"
    status: int
    type: str | None = None
    message: str | None = None
    code: str | None = None
    retry_after: str | None = None


@dataclass(frozen=True)
class ContextLength:
    """The vendor's real "prompt is too long" error (HTTP 400)."""

    kind: ClassVar[str] = "context_length"


@dataclass(frozen=True)
class StreamError:
    """Stream ``text`` in ``chunks`` deltas, then an error event (Anthropic ``event: error``)."""

    kind: ClassVar[str] = "stream_error"
    text: str = "partial"
    chunks: int = 1
    type: str = "overloaded_error"
    message: str = "Overloaded"
    code: str | None = None


@dataclass(frozen=True)
class Malformed:
    """Stream ``text``, then a ``data:`` line whose JSON does not parse."""

    kind: ClassVar[str] = "malformed"
    text: str = "partial"
    chunks: int = 1


@dataclass(frozen=True)
class Truncated:
    """Stream ``text``, then stop before the terminal event.

    ``abrupt`` closes the socket mid-body (a dropped connection); otherwise the HTTP body
    ends cleanly but without the vendor's terminal event.
    """

    kind: ClassVar[str] = "truncated"
    text: str = "partial"
    chunks: int = 1
    abrupt: bool = True


@dataclass(frozen=True)
class Hang:
    """Sleep ``seconds`` before answering (with ``then``, or the default responder)."""

    kind: ClassVar[str] = "hang"
    seconds: float
    then: Step | None = None


Step = Text | ToolCalls | HttpError | ContextLength | StreamError | Malformed | Truncated | Hang
STEP_TYPES: dict[str, type[Step]] = {
    cls.kind: cls
    for cls in (Text, ToolCalls, HttpError, ContextLength, StreamError, Malformed, Truncated, Hang)
}


def step_from_json(data: Mapping[str, Any]) -> Step:
    """Build a step from ``{"kind": ..., <fields>}``; raise ``ValueError`` saying what is wrong."""
    if not isinstance(data, Mapping):
        raise ValueError(f"a step must be a JSON object, not {type(data).__name__}")
    kind = data.get("kind")
    cls = STEP_TYPES.get(str(kind))
    if cls is None:
        raise ValueError(f"unknown step kind {kind!r}; use one of {', '.join(sorted(STEP_TYPES))}")
    values = {k: v for k, v in data.items() if k != "kind"}
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"step {kind!r} has no field(s) {', '.join(unknown)}")
    if isinstance(values.get("usage"), Mapping):
        values["usage"] = FakeUsage(**values["usage"])
    if "calls" in values:
        values["calls"] = tuple(FakeToolCall(**call) for call in values["calls"])
    if values.get("then") is not None:
        values["then"] = step_from_json(values["then"])
    try:
        return cls(**values)
    except TypeError as exc:
        raise ValueError(f"step {kind!r}: {exc}") from exc


def step_to_json(step: Step) -> dict[str, Any]:
    """The JSON form of ``step`` that ``step_from_json`` reads back."""
    out: dict[str, Any] = {"kind": step.kind}
    for f in dataclasses.fields(step):
        value = getattr(step, f.name)
        if f.name == "then" and value is not None:
            value = step_to_json(value)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = dataclasses.asdict(value)
        elif f.name == "calls":
            value = [dataclasses.asdict(call) for call in value]
        out[f.name] = value
    return out


# --- the request log --------------------------------------------------------------------
@dataclass(frozen=True)
class RecordedRequest:
    """One request the SDK sent. Credential headers read ``<redacted>``.

    ``credential_sha256`` is the digest of the API key sent (``x-api-key`` or the bearer
    token), so a test can check the right key was used without the key being stored.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    credential_sha256: str | None = None

    def credential_matches(self, api_key: str) -> bool:
        return self.credential_sha256 == _sha256(api_key)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RecordedRequest:
        return cls(**data)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _credential(headers: Mapping[str, str]) -> str | None:
    if "x-api-key" in headers:
        return headers["x-api-key"]
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:]
    return headers.get("api-key")


# --- helpers for the vendor renderers ---------------------------------------------------
def split_text(text: str, parts: int) -> list[str]:
    """Split ``text`` into ``parts`` non-empty pieces (fewer if it is shorter); joined, they give it."""
    if not text:
        return []
    parts = max(1, min(parts, len(text)))
    size, extra = divmod(len(text), parts)
    pieces, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        pieces.append(text[start:end])
        start = end
    return pieces


def sse(data: Any, event: str | None = None) -> bytes:
    """One SSE event; ``data`` is JSON-encoded unless it is already ``str``."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def estimate_tokens(text: str) -> int:
    """A deterministic token estimate (about four characters a token)."""
    return max(1, len(text) // 4)


class StreamRenderer:
    """Renders one reply in a vendor's wire format; one instance per response.

    The server calls ``start``, then ``text`` per chunk, ``tool_calls``, and ``finish``
    (or ``error`` / ``malformed`` for a broken stream). ``complete`` builds the
    non-streaming JSON body for the same reply.
    """

    def __init__(self, *, request: RecordedRequest, usage: FakeUsage, ids: Iterator[int]) -> None:
        self.request = request
        self.body: dict[str, Any] = request.body if isinstance(request.body, dict) else {}
        self.model = str(self.body.get("model", "fake-model"))
        self.usage = usage
        self.ids = ids
        self.created = int(time.time())

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self.ids):06d}"

    def start(self) -> Iterator[bytes]:
        raise NotImplementedError

    def text(self, chunk: str) -> Iterator[bytes]:
        raise NotImplementedError

    def tool_calls(self, calls: Sequence[FakeToolCall], fragments: int) -> Iterator[bytes]:
        raise NotImplementedError

    def finish(self, stop: str) -> Iterator[bytes]:
        raise NotImplementedError

    def error(self, type_: str, message: str, code: str | None) -> Iterator[bytes]:
        raise NotImplementedError

    def malformed(self) -> Iterator[bytes]:
        yield b'data: {"type": "broken", "text": "unterminated\n\n'

    def complete(self, text: str, calls: Sequence[FakeToolCall], stop: str) -> dict[str, Any]:
        raise NotImplementedError


# --- the server -------------------------------------------------------------------------
class _Pause:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


class _Abort:
    pass


Frame = bytes | _Pause | _Abort


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    fake: FakeLLMServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that drop a kept-alive connection; report anything else.

        The OpenAI SDK closes a stream at ``[DONE]`` without reading the end of the
        chunked body, so its connection is reset while the handler waits for the next
        request: that is normal, not a server bug.
        """
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Streamed SSE chunks are small writes; Nagle would hold them back by tens of ms.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def do_GET(self) -> None:
        self.server.fake._handle(self)

    def do_POST(self) -> None:
        self.server.fake._handle(self)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: a test run should not print a line per request."""


class FakeLLMServer:
    """Base of the vendor fakes: a threaded HTTP server on loopback with a step FIFO.

    Use as a context manager (or ``start()``/``stop()``). ``script(*steps)`` queues what
    the next requests get; with the queue empty, ``default_responder(request)`` decides
    (by default a text reply ``"echo: <last user text>"``). ``requests`` is the log.
    """

    vendor: ClassVar[str] = "fake"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._steps: deque[Step] = deque()
        self._requests: list[RecordedRequest] = []
        self._fixed_default: Step | None = None
        self._stopping = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._ids = itertools.count(1)
        self._http: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.default_responder: Callable[[RecordedRequest], Step] = self.echo_responder

    # -- lifecycle
    def start(self) -> Self:
        self._stopping.clear()
        http = _HTTPServer((self._host, self._port), _Handler)
        http.fake = self
        self._http = http
        self._thread = threading.Thread(
            target=http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake hanging handlers and drop kept-alive connections."""
        self._stopping.set()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=2)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        if self._http is None:
            raise RuntimeError("the fake server is not started; call start() or use `with`")
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def base_url(self) -> str:
        """What to pass to the SDK as ``base_url``."""
        return self.root_url

    # -- scripting
    def script(self, *steps: Step) -> None:
        """Queue ``steps``: each request takes the next one, first in first out."""
        with self._lock:
            self._steps.extend(steps)

    def set_default(self, step: Step | None) -> None:
        """Answer every unscripted request with ``step`` (``None``: back to echo)."""
        with self._lock:
            self._fixed_default = step

    def reset(self) -> None:
        with self._lock:
            self._steps.clear()
            self._requests.clear()
            self._fixed_default = None

    @property
    def pending(self) -> int:
        """How many scripted steps are still queued."""
        with self._lock:
            return len(self._steps)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def last_request(self) -> RecordedRequest:
        with self._lock:
            if not self._requests:
                raise AssertionError("the fake server has received no request")
            return self._requests[-1]

    def echo_responder(self, request: RecordedRequest) -> Step:
        if self._fixed_default is not None:
            return self._fixed_default
        return Text(text=f"echo: {self.last_user_text(request)}")

    # -- vendor hooks
    def api_for(self, method: str, path: str) -> str | None:
        """The API a request path belongs to, or ``None`` for a 404."""
        raise NotImplementedError

    def last_user_text(self, request: RecordedRequest) -> str:
        raise NotImplementedError

    def error_body(self, step: HttpError) -> dict[str, Any]:
        raise NotImplementedError

    def context_length_error(self, api: str) -> HttpError:
        raise NotImplementedError

    def renderer(self, api: str, request: RecordedRequest, usage: FakeUsage) -> StreamRenderer:
        raise NotImplementedError

    def response_headers(self) -> dict[str, str]:
        return {}

    # -- request handling
    def _handle(self, handler: _Handler) -> None:
        with self._lock:
            self._sockets.add(handler.connection)
        try:
            path = handler.path.split("?", 1)[0]
            length = int(handler.headers.get("content-length") or 0)
            raw = handler.rfile.read(length) if length else b""
            if path.startswith("/_fake/"):
                self._control(handler, handler.command, path, raw)
                return
            api = self.api_for(handler.command, path)
            if api is None:
                self._send_json(
                    handler, 404, self.error_body(HttpError(404, message=f"no route {path}"))
                )
                return
            request = self._record(handler, path, raw)
            with self._lock:
                step = self._steps.popleft() if self._steps else None
            if step is None:
                step = self.default_responder(request)
            self._respond(handler, api, request, step)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            handler.close_connection = True
        finally:
            with self._lock:
                self._sockets.discard(handler.connection)

    def _record(self, handler: _Handler, path: str, raw: bytes) -> RecordedRequest:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        credential = _credential(headers)
        safe = {k: (REDACTED if k in SECRET_HEADERS else v) for k, v in headers.items()}
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        request = RecordedRequest(
            method=handler.command,
            path=path,
            headers=safe,
            body=body,
            credential_sha256=_sha256(credential) if credential is not None else None,
        )
        with self._lock:
            self._requests.append(request)
        return request

    def _respond(self, handler: _Handler, api: str, request: RecordedRequest, step: Step) -> None:
        if isinstance(step, Hang):
            if self._stopping.wait(step.seconds):
                handler.close_connection = True
                return
            self._respond(handler, api, request, step.then or self.default_responder(request))
            return
        if isinstance(step, ContextLength):
            step = self.context_length_error(api)
        if isinstance(step, HttpError):
            headers = {"retry-after": step.retry_after} if step.retry_after else {}
            self._send_json(handler, step.status, self.error_body(step), headers)
            return
        body = request.body if isinstance(request.body, dict) else {}
        usage = self._usage_for(step, request)
        renderer = self.renderer(api, request, usage)
        if body.get("stream") is True:
            self._send_stream(handler, self._frames(renderer, step))
        else:
            self._send_complete(handler, renderer, step)

    def _usage_for(self, step: Step, request: RecordedRequest) -> FakeUsage:
        given = getattr(step, "usage", None)
        if isinstance(given, FakeUsage):
            return given
        text = getattr(step, "text", "")
        calls = "".join(c.arguments_json() for c in getattr(step, "calls", ()))
        prompt = json.dumps(request.body) if request.body is not None else ""
        return FakeUsage(input=estimate_tokens(prompt), output=estimate_tokens(text + calls))

    def _frames(self, renderer: StreamRenderer, step: Step) -> Iterator[Frame]:
        yield from renderer.start()
        text = getattr(step, "text", "")
        chunks = getattr(step, "chunks", 1)
        delay = getattr(step, "delay_s", 0.0)
        for i, chunk in enumerate(split_text(text, chunks)):
            if i and delay:
                yield _Pause(delay)
            yield from renderer.text(chunk)
        if isinstance(step, Text):
            yield from renderer.finish(step.stop)
        elif isinstance(step, ToolCalls):
            yield from renderer.tool_calls(step.calls, step.fragments)
            yield from renderer.finish("tool")
        elif isinstance(step, StreamError):
            yield from renderer.error(step.type, step.message, step.code)
        elif isinstance(step, Malformed):
            yield from renderer.malformed()
        elif isinstance(step, Truncated) and step.abrupt:
            yield _Abort()

    def _send_complete(self, handler: _Handler, renderer: StreamRenderer, step: Step) -> None:
        """Answer a non-streaming request with the same reply as one JSON body."""
        if isinstance(step, Text):
            self._send_json(handler, 200, renderer.complete(step.text, (), step.stop))
        elif isinstance(step, ToolCalls):
            self._send_json(handler, 200, renderer.complete(step.text, step.calls, "tool"))
        elif isinstance(step, StreamError):
            error = HttpError(529 if "overloaded" in step.type else 500, step.type, step.message)
            self._send_json(handler, error.status, self.error_body(error))
        else:  # Malformed / Truncated: a body that does not parse, or is cut short.
            raw = b'{"id": "broken'
            handler.send_response(200)
            handler.send_header("content-type", "application/json")
            handler.send_header(
                "content-length", str(len(raw) * (2 if step.kind == "truncated" else 1))
            )
            handler.end_headers()
            handler.wfile.write(raw)
            handler.close_connection = True

    def _send_json(
        self,
        handler: _Handler,
        status: int,
        body: Any,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        raw = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(raw)))
        for name, value in {**self.response_headers(), **(headers or {})}.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(raw)

    def _send_stream(self, handler: _Handler, frames: Iterator[Frame]) -> None:
        handler.send_response(200)
        handler.send_header("content-type", "text/event-stream; charset=utf-8")
        handler.send_header("cache-control", "no-cache")
        handler.send_header("transfer-encoding", "chunked")
        for name, value in self.response_headers().items():
            handler.send_header(name, value)
        handler.end_headers()
        for frame in frames:
            if isinstance(frame, _Pause) and not self._stopping.wait(frame.seconds):
                continue
            if isinstance(frame, _Pause | _Abort):  # a pause cut short by stop() aborts too
                # Cut the chunked body short: the client sees a dropped connection.
                handler.close_connection = True
                handler.connection.shutdown(socket.SHUT_RDWR)
                return
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
        handler.wfile.write(b"0\r\n\r\n")

    # -- control endpoint
    def _control(self, handler: _Handler, method: str, path: str, raw: bytes) -> None:
        try:
            payload: Any = json.loads(raw) if raw else None
            if method == "GET" and path == "/_fake/health":
                self._send_json(handler, 200, {"ok": True, "vendor": self.vendor})
            elif method == "GET" and path == "/_fake/requests":
                self._send_json(handler, 200, [r.to_json() for r in self.requests])
            elif method == "POST" and path == "/_fake/reset":
                self.reset()
                self._send_json(handler, 200, {"ok": True})
            elif method == "POST" and path == "/_fake/script":
                items = payload.get("steps") if isinstance(payload, dict) else payload
                if not isinstance(items, list):
                    raise ValueError('send a JSON list of steps, or {"steps": [...]}')
                steps = [step_from_json(item) for item in items]
                self.script(*steps)
                self._send_json(handler, 200, {"queued": len(steps), "pending": self.pending})
            elif method == "POST" and path == "/_fake/default":
                if not isinstance(payload, dict) or "step" not in payload:
                    raise ValueError('send {"step": {...}} or {"step": null}')
                step = payload["step"]
                self.set_default(None if step is None else step_from_json(step))
                self._send_json(handler, 200, {"ok": True})
            else:
                self._send_json(handler, 404, {"error": f"no control route {method} {path}"})
        except ValueError as exc:
            self._send_json(handler, 400, {"error": str(exc)})


# --- process mode -----------------------------------------------------------------------
def serve_main(server_cls: type[FakeLLMServer], argv: Sequence[str] | None = None) -> int:
    """Run ``server_cls`` until SIGTERM/SIGINT; print ``listening <root url>`` when ready."""
    parser = argparse.ArgumentParser(description=f"Fake {server_cls.vendor} API server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    server = server_cls(host=args.host, port=args.port).start()
    sys.stdout.write(f"listening {server.root_url}\n")
    sys.stdout.flush()
    done.wait()
    server.stop()
    return 0


class FakeServerProcess:
    """A fake server in a child process, scripted over its control endpoint.

    ``FakeServerProcess("openai")`` runs ``python -m tests.fakes.openai_server``. Use as a
    context manager; ``script``, ``set_default``, ``requests`` and ``reset`` mirror the
    in-process API.
    """

    def __init__(self, vendor: str, *, port: int = 0, startup_timeout_s: float = 10) -> None:
        if vendor not in ("openai", "anthropic"):
            raise ValueError(f"unknown fake vendor {vendor!r}; use openai or anthropic")
        self.vendor = vendor
        self.port = port
        self.startup_timeout_s = startup_timeout_s
        self.proc: subprocess.Popen[str] | None = None
        self.root_url = ""

    @property
    def base_url(self) -> str:
        return self.root_url + ("/v1" if self.vendor == "openai" else "")

    def start(self) -> Self:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"tests.fakes.{self.vendor}_server", "--port", str(self.port)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self._read_line()
        if not line.startswith("listening "):
            self.stop()
            raise RuntimeError(f"fake {self.vendor} server did not start: {line!r}")
        self.root_url = line.split(" ", 1)[1].strip()
        return self

    def _read_line(self) -> str:
        assert self.proc is not None
        stdout = self.proc.stdout
        assert stdout is not None
        result: list[str] = []
        # readline() has no timeout: read in a thread so a wedged child cannot hang the test.
        reader = threading.Thread(target=lambda: result.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(self.startup_timeout_s)
        return result[0] if result else ""

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(  # noqa: S310 (loopback URL we started)
            self.root_url + path,
            data=data,
            method=method,
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310
            return json.loads(resp.read())

    def script(self, *steps: Step) -> None:
        self._call("POST", "/_fake/script", [step_to_json(s) for s in steps])

    def set_default(self, step: Step | None) -> None:
        self._call("POST", "/_fake/default", {"step": None if step is None else step_to_json(step)})

    def requests(self) -> list[RecordedRequest]:
        return [RecordedRequest.from_json(r) for r in self._call("GET", "/_fake/requests")]

    def reset(self) -> None:
        self._call("POST", "/_fake/reset", {})
