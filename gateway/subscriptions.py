"""What one connection hears: the filter between published events and its socket.

An event reaches a connection only if its role and scopes allow it (nodes hear only
``tick`` and ``shutdown``; other events need their scope, ``operator.read`` by default)
and, for session events, if the connection subscribed: ``sessions.changed`` needs
``sessions.subscribe``, ``session.message`` needs ``sessions.messages.subscribe``, and
``agent`` tool events go only to connections that started a run in the session with
``caps: ["tool-events"]`` (OpenClaw never broadcasts them).

Handlers waiting for an outcome watch for it here: a run's final ``chat`` event
(``agent``, ``agent.wait``) or a worker's internal reply (``sessions.compact``). Internal
replies resolve their waiter and never reach a socket.
"""

from __future__ import annotations

import asyncio
from typing import Any

from agents.services.compaction import COMPACTION_EVENT
from gateway import scopes as gw_scopes
from gateway import state
from gateway.connect import Principal

# Events any authenticated operator may receive; everything else needs its scope.
UNGUARDED_EVENTS = frozenset({"tick", "shutdown", "presence", "health"})
SESSION_FILTERED_EVENTS = frozenset({"sessions.changed"})
FINAL_CHAT_STATES = frozenset({"final", "error", "aborted"})
# Worker replies to one waiting request (payload ``requestId``): internal, never sent.
REPLY_EVENTS = frozenset({COMPACTION_EVENT})


def _allowed(message: dict[str, Any], principal: Principal) -> bool:
    """Whether the principal's role and scopes let it see this event at all."""
    event = message["event"]
    if principal.role != "operator":
        return event in ("tick", "shutdown")
    scope = message.get("scope")
    if scope is None and event not in UNGUARDED_EVENTS:
        scope = gw_scopes.READ
    return scope is None or gw_scopes.satisfies(principal.scopes, scope)


class Subscriptions:
    """One connection's subscriptions and waiting handlers (used on the event loop)."""

    def __init__(self) -> None:
        self.sessions: set[str] | None = set()  # None = every session
        self.messages: set[str] = set()
        # Sessions whose tool events this connection gets (see the module docstring).
        self.tool_event_sessions: set[str] = set()
        self.run_waiters: dict[str, list[asyncio.Future[dict[str, Any]]]] = {}
        self.reply_waiters: dict[str, asyncio.Future[dict[str, Any]]] = {}

    # --- what to hear ------------------------------------------------------------------
    def subscribe_sessions(self, keys: list[str] | None) -> None:
        if keys is None:
            self.sessions = None
        elif self.sessions is not None:
            self.sessions.update(keys)

    def unsubscribe_sessions(self, keys: list[str] | None) -> None:
        if keys is None:
            self.sessions = set()
        elif self.sessions is not None:
            self.sessions.difference_update(keys)

    def subscribe_messages(self, key: str, on: bool) -> None:
        if on:
            self.messages.add(key)
        else:
            self.messages.discard(key)

    def _subscribed(self, session_key: str | None) -> bool:
        if self.sessions is None:
            return True
        return session_key is not None and session_key in self.sessions

    def _wants(self, event: str, payload: dict[str, Any], session_key: str | None) -> bool:
        if event in SESSION_FILTERED_EVENTS:
            return self._subscribed(session_key)
        if event == "session.message":
            return session_key in self.messages
        if event == "agent" and payload.get("stream") == "tool":
            return session_key in self.tool_event_sessions
        return True

    def admit(self, message: dict[str, Any], principal: Principal) -> dict[str, Any] | None:
        """The payload to send for this published event, or None if it is not for us."""
        event = message["event"]
        if event in REPLY_EVENTS or not _allowed(message, principal):
            return None
        payload: dict[str, Any] = message["payload"]
        if event == "health" and isinstance(payload, dict):
            payload = state.health_for(payload, principal.scopes)
        return payload if self._wants(event, payload, message.get("sessionKey")) else None

    # --- who waits -----------------------------------------------------------------------
    def watch_run(self, run_id: str) -> asyncio.Future[dict[str, Any]]:
        """Return a future resolved by the run's final/error/aborted chat event."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.run_waiters.setdefault(run_id, []).append(future)
        return future

    def watch_reply(self, request_id: str) -> asyncio.Future[dict[str, Any]]:
        """Return a future resolved by the worker's reply event carrying ``request_id``.

        A future given up on (cancelled, e.g. by a timeout) is forgotten at once.
        """
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.reply_waiters[request_id] = future

        def forget(done: asyncio.Future[dict[str, Any]]) -> None:
            if self.reply_waiters.get(request_id) is done:
                del self.reply_waiters[request_id]

        future.add_done_callback(forget)
        return future

    def resolve(self, message: dict[str, Any]) -> None:
        """Hand an event to the handlers waiting for it."""
        event = message["event"]
        payload = message["payload"]
        if event == "chat" and payload.get("state") in FINAL_CHAT_STATES:
            for future in self.run_waiters.pop(payload.get("runId", ""), []):
                if not future.done():
                    future.set_result(payload)
        elif event in REPLY_EVENTS:
            waiter = self.reply_waiters.get(str(payload.get("requestId", "")))
            if waiter is not None and not waiter.done():
                waiter.set_result(payload)

    def cancel_waiters(self) -> None:
        for waiters in self.run_waiters.values():
            for future in waiters:
                future.cancel()
        for future in list(self.reply_waiters.values()):
            future.cancel()
