"""What a turn says on the wire: the ``chat`` and ``agent`` event shapes, and deltas.

One ``seq`` per run, incremented per ``agent`` event and carried by the ``chat`` event
that goes with it. Streamed text reaches clients twice: every chunk as an ``agent``
``assistant`` event, and ``chat`` ``delta`` events coalesced to at most one per
``DELTA_INTERVAL_S``. A reply that may still become the silent ``NO_REPLY`` is held back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agents.lib.prompt import HEARTBEAT_TOKEN
from agents.lib.prompt import SILENT_REPLY_TOKEN as SILENT_REPLY
from core import events
from core.clock import now_ms

DELTA_INTERVAL_S = 0.15


def publish_run_event(event: str, payload: dict[str, Any], *, session_key: str) -> None:
    """Publish an event of a run; never dropped for a slow client (only deltas are)."""
    events.publish(event, payload, session_key=session_key, drop_if_slow=False)


def queued_run_aborted(*, run_id: str, session_key: str, agent_slug: str) -> None:
    """``chat`` ``aborted`` for a run aborted before any worker took it (its only event)."""
    payload = chat_payload(
        run_id=run_id,
        session_key=session_key,
        agent_slug=agent_slug,
        seq=1,
        state="aborted",
        stopReason="rpc",
    )
    publish_run_event("chat", payload, session_key=session_key)


def assistant_message(text: str, *, timestamp: int | None = None) -> dict[str, Any]:
    """The assistant message a ``chat`` event carries (``timestamp`` in ms, default now)."""
    return {
        "role": "assistant",
        "content": [{"type": "text", "text": text}],
        "timestamp": now_ms() if timestamp is None else timestamp,
    }


def chat_payload(
    *, run_id: str, session_key: str, agent_slug: str, seq: int, state: str, **fields: Any
) -> dict[str, Any]:
    """The payload of a run's ``chat`` event (also rebuilt from the database by
    ``agents.runtime.replay`` for a gateway that missed a run's end)."""
    return {
        "runId": run_id,
        "sessionKey": session_key,
        "agentId": agent_slug,
        "seq": seq,
        "state": state,
        **fields,
    }


@dataclass
class Announcer:
    """The events of one turn, with its ``seq`` and the text streamed so far."""

    run_id: str
    session_key: str
    session_id: str
    agent_slug: str
    clock: Callable[[], float] = time.monotonic
    seq: int = 0
    text: str = ""
    pending: str = ""
    # A resumed turn's first delta replaces what clients accumulated before the restart.
    replace_next: bool = False
    # A heartbeat's text is shown whole at the end or not at all (an acknowledgement).
    hold_deltas: bool = False
    last_delta_at: float | None = None

    def agent(self, stream: str, data: dict[str, Any]) -> None:
        self.seq += 1
        publish_run_event(
            "agent",
            {
                "runId": self.run_id,
                "sessionKey": self.session_key,
                "sessionId": self.session_id,
                "agentId": self.agent_slug,
                "stream": stream,
                "data": data,
                "seq": self.seq,
                "ts": now_ms(),
            },
            session_key=self.session_key,
        )

    def chat(self, state: str, *, run_id: str | None = None, **fields: Any) -> None:
        events.publish(
            "chat",
            chat_payload(
                run_id=run_id or self.run_id,
                session_key=self.session_key,
                agent_slug=self.agent_slug,
                seq=self.seq,
                state=state,
                **fields,
            ),
            session_key=self.session_key,
            drop_if_slow=state == "delta",
        )

    def status(self, phase: str, **fields: Any) -> None:
        self.agent("run_status", {"phase": phase, **fields})
        self.chat("status", phase=phase, **fields)

    # streamed text --------------------------------------------------------------------
    def add_text(self, chunk: str) -> None:
        if not chunk:
            return
        self.text += chunk
        self.pending += chunk
        self.agent("assistant", {"text": self.text, "delta": chunk})
        now = self.clock()
        if self.last_delta_at is None or now - self.last_delta_at >= DELTA_INTERVAL_S:
            self.flush_delta()

    def reset_text(self) -> None:
        """A new model call starts: the next delta replaces what clients accumulated."""
        self.flush_delta()
        if self.text:
            self.replace_next = True
        self.text = ""
        self.pending = ""

    def flush_delta(self) -> None:
        head = self.text.strip()
        if self.hold_deltas or not self.pending:
            return
        if SILENT_REPLY.startswith(head) or HEARTBEAT_TOKEN.startswith(head):
            return  # nothing new, or it may still be NO_REPLY or a bare HEARTBEAT_OK
        fields: dict[str, Any] = {
            "deltaText": self.pending,
            "message": assistant_message(self.text),
        }
        if self.replace_next:
            fields["replace"] = True
            fields["deltaText"] = self.text
            self.replace_next = False
        self.chat("delta", **fields)
        self.pending = ""
        self.last_delta_at = self.clock()
