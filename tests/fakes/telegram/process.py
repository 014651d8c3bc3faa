"""The fake Bot API in its own process: ``python -m tests.fakes.telegram_server --port N``
prints ``listening <root url>`` when ready and serves until SIGTERM/SIGINT.

``FakeTelegramProcess`` starts that child and offers the in-process test-side methods
over the control endpoint; a bad request raises ``ValueError`` with the server's
explanation, a ``wait_for_sent`` that times out raises ``AssertionError``.
"""

from __future__ import annotations

import argparse
import base64
import json
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Self

from tests.fakes.telegram.server import FakeTelegramServer

REPO = Path(__file__).resolve().parents[3]


class FakeTelegramProcess:
    """A fake Bot API in a child process; use as a context manager."""

    def __init__(self, *, port: int = 0, startup_timeout_s: float = 10) -> None:
        self.port = port
        self.startup_timeout_s = startup_timeout_s
        self.proc: subprocess.Popen[str] | None = None
        self.root_url = ""

    @property
    def bot_api_url(self) -> str:
        return f"{self.root_url}/bot"

    @property
    def file_api_url(self) -> str:
        return f"{self.root_url}/file/bot"

    # -- lifecycle
    def start(self) -> Self:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.telegram_server", "--port", str(self.port)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self._first_line()
        if not line.startswith("listening "):
            self.stop()
            raise RuntimeError(f"the fake Telegram server did not start: {line!r}")
        self.root_url = line.split(" ", 1)[1].strip()
        return self

    def _first_line(self) -> str:
        assert self.proc is not None
        stdout = self.proc.stdout
        assert stdout is not None
        lines: list[str] = []
        # readline() has no timeout: read in a thread so a wedged child cannot hang the test.
        reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(self.startup_timeout_s)
        return lines[0] if lines else ""

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
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

    # -- the control endpoint
    def _call(
        self,
        action: str,
        payload: dict[str, Any] | None = None,
        *,
        timeout: float = 10,
        **query: Any,
    ) -> Any:
        url = f"{self.root_url}/_fake/{action}"
        args = {k: v for k, v in query.items() if v is not None}
        if args:
            url += "?" + urllib.parse.urlencode(args)
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(  # noqa: S310  (the loopback server we started)
            url,
            data=data,
            method="GET" if data is None else "POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                error = json.loads(exc.read()).get("error", "")
            except ValueError:
                error = ""
            message = error or f"HTTP {exc.code} from /_fake/{action}"
            if exc.code == 408:
                raise AssertionError(message) from None
            raise ValueError(message) from None

    def health(self) -> bool:
        return bool(self._call("health").get("ok"))

    def add_bot(self, token: str, **options: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("bot", {"token": token, **options})
        return result

    def add_chat(self, token: str, chat_id: int | str, **options: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("chat", {"token": token, "chat_id": chat_id, **options})
        return result

    def add_file(
        self, token: str, file_id: str, data: bytes, *, file_path: str | None = None
    ) -> str:
        encoded = base64.b64encode(data).decode()
        payload = {
            "token": token,
            "file_id": file_id,
            "data_base64": encoded,
            "file_path": file_path,
        }
        return str(self._call("file", payload)["file_path"])

    def push_message(self, token: str, **fields: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("push", {"token": token, **fields})
        return result

    def push_update(
        self, token: str, update: dict[str, Any], *, filtered: bool = False
    ) -> dict[str, Any]:
        payload = {"token": token, "update": update, "filtered": filtered}
        result: dict[str, Any] = self._call("push-update", payload)
        return result

    def push_batch(self, token: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Queue many messages in one control call (a burst arriving at once)."""
        result: list[dict[str, Any]] = self._call(
            "push-batch", {"token": token, "messages": messages}
        )
        return result

    def fail(self, method: str, status: int, count: int = 1, **options: Any) -> None:
        self._call("fail", {"method": method, "status": status, "count": count, **options})

    def hang(self, method: str, seconds: float, count: int = 1) -> None:
        self._call("hang", {"method": method, "seconds": seconds, "count": count})

    def held(self, method: str) -> int:
        return int(self._call("held", method=method)["held"])

    def sent_messages(self, token: str, chat_id: int | str | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("sent", {"token": token, "chat_id": chat_id})
        return result

    sent = sent_messages

    def edits(self, token: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("edits", {"token": token})
        return result

    def chat_actions(self, token: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("chat-actions", {"token": token})
        return result

    def calls(self, token: str, method: str | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("calls", {"token": token, "method": method})
        return result

    def wait_for_sent(self, token: str, count: int, *, timeout: float = 30) -> list[dict[str, Any]]:
        """Block until the bot has sent ``count`` messages; return them all."""
        payload = {"token": token, "count": count, "timeout": timeout}
        result: list[dict[str, Any]] = self._call("wait", payload, timeout=timeout + 5)
        return result

    def wait_for(self, token: str, count: int = 1, *, timeout: float = 10) -> list[dict[str, Any]]:
        return self.wait_for_sent(token, count, timeout=timeout)

    def webhook_of(self, token: str) -> dict[str, Any] | None:
        hook: dict[str, Any] | None = self._call("webhook", {"token": token})["webhook"]
        return hook

    def confirmed_offset(self, token: str) -> int:
        return int(self._call("confirmed", {"token": token})["offset"])

    def pending_updates(self, token: str) -> int:
        return int(self._call("pending", {"token": token})["pending"])

    def post_to_webhook(
        self, token: str, update: dict[str, Any], *, secret: str | None = None
    ) -> tuple[int, bytes]:
        answer = self._call("webhook-post", {"token": token, "update": update, "secret": secret})
        return int(answer["status"]), str(answer["body"]).encode()

    def deliver_to_webhook(self, token: str) -> list[int]:
        return [int(s) for s in self._call("webhook-deliver", {"token": token})["statuses"]]

    def reset(self) -> None:
        self._call("reset", {})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A fake Telegram Bot API server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    server = FakeTelegramServer(host=args.host, port=args.port).start()
    sys.stdout.write(f"listening {server.root_url}\n")
    sys.stdout.flush()
    done.wait()
    server.stop()
    return 0
