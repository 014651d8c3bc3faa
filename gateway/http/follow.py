"""Follow one run from an HTTP request: its text deltas and its end, as the bus brings them.

The request subscribes to this process's event bus (``gateway.bus``, the same fan-out the
WebSocket connections use; in team mode it is fed over Redis, and ``wait_listening`` makes
sure this process receives before the run starts) and keeps the events of its run id
only. Events are wake-ups (STYLE.md): when nothing arrives for ``CHECK_AFTER_S``, or the
end comes without its text (a run merged into another by a queue mode), the run's row is
read once (``agents.services.runs.run_status``), never polled in a tight loop.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from agents.lib.prompt import SILENT_REPLY_TOKEN
from agents.services.runs import run_status
from gateway import bus
from gateway.http.common import db

CHECK_AFTER_S = 3.0
# How long a request waits for its run beyond the run's own limit.
GRACE_S = 30.0


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class End:
    state: str  # final | error | aborted | timeout
    text: str = ""
    error: str = ""
    error_kind: str = ""
    usage: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.state in ("final", "aborted")


def _message_text(message: Any) -> str | None:
    if not isinstance(message, dict):
        return None
    blocks = message.get("content") or []
    return "".join(b.get("text", "") for b in blocks if isinstance(b, dict))


def _reply(text: str | None) -> str:
    text = text or ""
    return "" if text.strip() == SILENT_REPLY_TOKEN else text


def _end_from_status(run_id: str) -> End | None:
    status = run_status(run_id=run_id)
    if status is None or not status.finished:
        return None
    state = {"succeeded": "final", "aborted": "aborted"}.get(status.status, "error")
    return End(
        state,
        _reply(status.reply_text),
        error=status.error_message,
        error_kind=status.error_kind,
        usage=dict(status.usage),
    )


class _Relay:
    """What the bus holds: a weak link to the follower, so a follower dropped without
    ``close`` (a streamed answer whose client left before it began) is detached at the
    next event instead of staying subscribed."""

    def __init__(self, follower: RunFollower) -> None:
        self.ref = weakref.ref(follower)

    def deliver_event(self, event: dict[str, Any]) -> None:
        follower = self.ref()
        if follower is None:
            bus.detach(self)
        else:
            follower.deliver_event(event)


class RunFollower:
    """Keeps the events of one run from the bus (open it before the run starts, so none
    is missed: ``async with``, or ``open()`` then ``close()``)."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._relay = _Relay(self)

    def deliver_event(self, event: dict[str, Any]) -> None:
        payload = event.get("payload")
        if isinstance(payload, dict) and payload.get("runId") == self.run_id:
            self.queue.put_nowait(event)

    async def open(self) -> RunFollower:
        bus.attach(self._relay)
        await bus.wait_listening()
        return self

    def close(self) -> None:
        bus.detach(self._relay)

    async def __aenter__(self) -> RunFollower:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def _translate(self, event: dict[str, Any]) -> Delta | End | None:
        payload = event["payload"]
        if event.get("event") == "agent":
            data = payload.get("data") or {}
            if payload.get("stream") == "assistant" and data.get("delta"):
                return Delta(str(data["delta"]))
            return None
        if event.get("event") != "chat" or payload.get("state") not in (
            "final",
            "error",
            "aborted",
        ):
            return None
        state = payload["state"]
        return End(
            state,
            _reply(_message_text(payload.get("message"))),
            error=str(payload.get("errorMessage") or ""),
            error_kind=str(payload.get("errorKind") or ""),
            usage=dict(payload.get("usage") or {}),
        )

    async def events(self) -> AsyncIterator[Delta | End]:
        """The run's text deltas, then its ``End`` (``timeout`` past the run's limit)."""
        deadline = time.monotonic() + float(settings.AGENT_RUN_TIMEOUT_S) + GRACE_S
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                yield End("timeout", error="the run did not end in time")
                return
            try:
                event = await asyncio.wait_for(self.queue.get(), min(CHECK_AFTER_S, left))
            except TimeoutError:
                end = await db(_end_from_status, self.run_id)
                if end is not None:
                    yield end
                    return
                continue
            item = self._translate(event)
            if (
                isinstance(item, End)
                and item.state == "final"
                and "message" not in event["payload"]
            ):
                # A merged run's end, or a silent reply: the transcript has the text.
                item = await db(_end_from_status, self.run_id) or item
            if item is not None:
                yield item
                if isinstance(item, End):
                    return

    async def wait_end(self) -> End:
        """Wait for the run's end (deltas skipped)."""
        async for item in self.events():
            if isinstance(item, End):
                return item
        return End("timeout", error="the run did not end in time")  # pragma: no cover
