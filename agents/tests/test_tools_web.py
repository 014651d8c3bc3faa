"""web_fetch: a real local HTTP server, the SSRF guard, redirects, pinning and caps."""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agents.providers import ToolCall
from agents.tools import web
from agents.tools.base import ToolContext, ToolOutput, execute, registered_tools

PAGE = b"""<!doctype html><html><head><title>Test  Page</title>
<style>body { color: red }</style><script>alert("steal")</script></head>
<body><h1>Hello</h1><p>First <b>bold</b> paragraph.</p><ul><li>one</li><li>two</li></ul>
<pre>  indented
    code</pre></body></html>"""


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        routes = {
            "/page": lambda: self._send(200, PAGE, "text/html; charset=utf-8"),
            "/json": lambda: self._send(200, b'{"a":1,"b":[1,2]}', "application/json"),
            "/text": lambda: self._send(
                200, "plain \u00e9\n".encode(), "text/plain; charset=utf-8"
            ),
            "/png": lambda: self._send(200, b"\x89PNG\r\n", "image/png"),
            "/missing": lambda: self._send(404, b"<p>not here</p>", "text/html"),
            "/host": lambda: self._send(200, str(self.headers["Host"]).encode(), "text/plain"),
            "/to-page": lambda: self._send(302, b"", "text/plain", Location="/page"),
            "/to-metadata": lambda: self._send(
                302, b"", "text/plain", Location="http://169.254.169.254/latest/meta-data/"
            ),
            "/loop": lambda: self._send(302, b"", "text/plain", Location="/loop"),
            "/big": self._big,
        }
        routes.get(self.path, lambda: self._send(404, b"no route", "text/plain"))()

    def _big(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        line = b"x" * 1023 + b"\n"
        try:
            for _ in range(3 * 1024):  # 3 MB, more than the 2 MB cap
                self.wfile.write(line)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """Base URL (http://127.0.0.1:PORT) of a local test server."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def allow_local(settings: Any) -> None:
    settings.WEB_FETCH_ALLOWED_HOSTS = ["127.0.0.1"]


def fetch(url: str, tmp_path: Path, **args: Any) -> ToolOutput:
    ctx = ToolContext(agent_slug="main", session_key="k", run_id="r1", workspace=tmp_path)
    call = ToolCall("c1", "web_fetch", json.dumps({"url": url, **args}))
    return execute(call, ctx, registered_tools())


def refused(url: str, tmp_path: Path) -> str:
    out = fetch(url, tmp_path)
    assert out.is_error, out.content
    return out.content


# --- allowed fetches -------------------------------------------------------------------
def test_html_is_fetched_as_readable_text_marked_untrusted(
    server: str, allow_local: None, tmp_path: Path
) -> None:
    out = fetch(f"{server}/page", tmp_path)
    assert not out.is_error, out.content
    assert out.untrusted
    assert out.content.startswith("<<<EXTERNAL_UNTRUSTED_CONTENT>>>")
    assert "# Test Page" in out.content
    assert "# Hello" in out.content
    assert "First bold paragraph." in out.content
    assert "- one\n- two" in out.content
    assert "  indented\n    code" in out.content
    assert "steal" not in out.content
    assert "color: red" not in out.content
    assert out.meta == {
        "status": 200,
        "contentType": "text/html",
        "finalUrl": f"{server}/page",
        "bytes": len(PAGE),
        "truncated": False,
    }


def test_json_and_plain_text_pass_through(server: str, allow_local: None, tmp_path: Path) -> None:
    out = fetch(f"{server}/json", tmp_path)
    assert '"a": 1' in out.content
    assert fetch(f"{server}/text", tmp_path).content.count("plain \u00e9") == 1


def test_binary_content_and_http_errors_are_error_results(
    server: str, allow_local: None, tmp_path: Path
) -> None:
    assert "image/png, which web_fetch cannot show" in refused(f"{server}/png", tmp_path)
    missing = fetch(f"{server}/missing", tmp_path)
    assert missing.is_error
    assert missing.meta["status"] == 404
    assert "not here" in missing.content


def test_redirects_are_followed_and_reported(
    server: str, allow_local: None, tmp_path: Path
) -> None:
    out = fetch(f"{server}/to-page", tmp_path)
    assert out.meta["finalUrl"] == f"{server}/page"
    assert "more than 5 redirects" in refused(f"{server}/loop", tmp_path)


def test_the_download_stops_at_two_megabytes(
    server: str, allow_local: None, tmp_path: Path
) -> None:
    out = fetch(f"{server}/big", tmp_path, max_chars=1000)
    assert out.meta["bytes"] == web.MAX_BYTES
    assert out.meta["truncated"] is True
    assert "download stopped at 2 MB" in out.content
    assert "text cut at 1000 characters" in out.content


# --- the SSRF guard --------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost/",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
    ],
)
def test_private_and_local_addresses_are_refused(url: str, tmp_path: Path) -> None:
    message = refused(url, tmp_path)
    assert "non-public address" in message
    assert "WEB_FETCH_ALLOWED_HOSTS" in message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://user:pw@example.com/", "user name or password"),
        ("file:///etc/passwd", "only http:// and https://"),
        ("ftp://example.com/x", "only http:// and https://"),
        ("gopher://127.0.0.1:6379/_INFO", "only http:// and https://"),
    ],
)
def test_other_schemes_and_credentials_are_refused(url: str, expected: str, tmp_path: Path) -> None:
    assert expected in refused(url, tmp_path)


def test_a_local_server_is_refused_unless_allowed(server: str, tmp_path: Path) -> None:
    assert "non-public address" in refused(f"{server}/page", tmp_path)


def test_a_redirect_to_a_private_address_is_refused(
    server: str, allow_local: None, tmp_path: Path
) -> None:
    message = refused(f"{server}/to-metadata", tmp_path)
    assert "169.254.169.254" in message
    assert "non-public address" in message


def _fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[list[str]]]) -> list[str]:
    """Make getaddrinfo answer ``answers[host]`` (one list per call); return the calls."""
    real = socket.getaddrinfo
    calls: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in answers:
            return real(host, port, *args, **kwargs)
        calls.append(host)
        ips = answers[host][min(len(calls), len(answers[host])) - 1]
        return [
            (
                socket.AF_INET6 if ":" in ip else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (ip, port),
            )
            for ip in ips
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return calls


def test_a_hostname_resolving_to_loopback_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fake_dns(monkeypatch, {"evil.test": [["127.0.0.1"]], "mixed.test": [["8.8.8.8", "10.0.0.5"]]})
    assert "resolves to 127.0.0.1" in refused("http://evil.test/", tmp_path)
    assert "resolves to 10.0.0.5" in refused("https://mixed.test/", tmp_path)


def test_the_connection_is_pinned_to_the_checked_address(
    server: str, settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """DNS rebinding: a second lookup would answer differently, but none is made."""
    settings.WEB_FETCH_ALLOWED_HOSTS = ["pinned.test"]
    calls = _fake_dns(monkeypatch, {"pinned.test": [["127.0.0.1"], ["10.255.255.1"]]})
    port = server.rsplit(":", 1)[1]
    out = fetch(f"http://pinned.test:{port}/host", tmp_path)
    assert not out.is_error, out.content
    assert f"pinned.test:{port}" in out.content  # the Host header names the host
    assert calls == ["pinned.test"]


def test_an_allowed_host_is_matched_case_insensitively(
    server: str, settings: Any, tmp_path: Path
) -> None:
    settings.WEB_FETCH_ALLOWED_HOSTS = ["LOCALHOST."]
    port = server.rsplit(":", 1)[1]
    out = fetch(f"http://LocalHost:{port}/text", tmp_path)
    assert not out.is_error, out.content


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.0.1", False),
        ("100.100.100.100", False),
        ("169.254.169.254", False),
        ("255.255.255.255", False),
        ("240.0.0.1", False),
        ("::", False),
        ("::ffff:10.0.0.1", False),
        ("64:ff9b::a00:1", False),
        ("2002:a00:1::", False),
        ("fec0::1", False),
        ("ff02::1", False),
    ],
)
def test_is_public(address: str, public: bool) -> None:
    assert web.is_public(ipaddress.ip_address(address)) is public


def test_html_to_text_survives_broken_markup() -> None:
    text = web.html_to_text("<html><head><title>T</title><body><p>a<div>b</p>c<script>x")
    assert text.splitlines()[0] == "# T"
    assert "a" in text
    assert "c" in text
    assert "x" not in text.replace("# T", "")
