"""``sessions.compact``: checked at the door, summarized on a worker, one answer on the wire.

The handler runs as the consumer runs it (on an event loop, with a connection whose
``watch_reply`` is the real ``gateway.subscriptions``); the worker is a thread running the
task by name; its reply travels through the ``core.events`` port back to the waiter.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from agents.models import Agent, Run
from agents.services import compaction
from agents.tests.compaction_helpers import MAIN, InlineWorker, conversation, use_fake_openai
from agents.tests.factories import RunFactory
from core import events
from gateway import scopes as gw_scopes
from gateway.frames import ErrorCode
from gateway.methods import REGISTRY, compact_reply
from gateway.methods import sessions as session_methods
from gateway.methods.registry import CallContext, Connection, MethodError
from gateway.subscriptions import Subscriptions
from sessions_app import selectors
from sessions_app.models import Message, Session
from tests.fakes.llm_server import HttpError, Text
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.django_db(transaction=True)


class _Connection:
    """The part of the consumer an async handler uses, with the consumer's waiters."""

    conn_id = "compact-test"

    def __init__(self) -> None:
        self.subs = Subscriptions()

    def watch_reply(self, request_id: str) -> asyncio.Future[dict[str, Any]]:
        return self.subs.watch_reply(request_id)


@pytest.fixture
def fake(settings: Any, tmp_path: Path) -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        use_fake_openai(settings, server, tmp_path / "workspaces")
        yield server


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> InlineWorker:
    inline = InlineWorker(run=True)
    monkeypatch.setattr(compaction, "current_app", inline)
    return inline


def compact(params: dict[str, Any], *, connected: bool = True) -> Any:
    """Call sessions.compact on an event loop; published events reach its connection."""
    method = REGISTRY["sessions.compact"]
    assert method.is_async
    connection = _Connection()
    ctx = CallContext(
        conn_id=connection.conn_id,
        role="operator",
        scopes=frozenset({gw_scopes.ADMIN}),
        client_id="cli",
        client_mode="cli",
        device_id=None,
        caps=frozenset(),
        connection=cast("Connection", connection) if connected else None,
    )

    async def run() -> Any:
        loop = asyncio.get_running_loop()

        def publish(event: str, payload: dict[str, Any], **kwargs: Any) -> None:
            message = {"event": event, "payload": json.loads(json.dumps(payload))}
            loop.call_soon_threadsafe(connection.subs.resolve, message)

        previous = events._publisher
        events.register_publisher(publish)
        try:
            return await method.handler(ctx, method.params.model_validate(params))
        finally:
            events.register_publisher(previous)
            await asyncio.sleep(0)  # a cancelled future's done-callbacks run soon after
            assert connection.subs.reply_waiters == {}  # answered or given up: forgotten

    return asyncio.run(run())


def test_compact_summarizes_on_the_worker_and_answers_once(
    fake: FakeOpenAIServer, worker: InlineWorker, settings: Any
) -> None:
    session = conversation()
    settings.COMPACTION_KEEP_RECENT_TOKENS = 60
    fake.script(Text("SUMMARY: four questions were asked"))

    answer = compact({"key": "main", "instructions": "keep it short"})

    assert answer == {
        "ok": True,
        "key": MAIN,
        "compacted": True,
        "kept": answer["kept"],
        "summarized": answer["summarized"],
        "tokensBefore": answer["tokensBefore"],
        "tokensAfter": answer["tokensAfter"],
    }
    assert answer["summarized"] >= 2
    # The model was called by the worker's thread, not by the handler's.
    [thread] = worker.threads
    assert thread.name == "worker-agents.session_compact"
    assert "keep it short" in json.dumps(fake.requests[-1].body)
    assert Session.objects.get(pk=session.pk).compaction_count == 1
    # chat.history still shows everything, with the compaction entry.
    history = selectors.chat_history(key=MAIN, limit=100).messages
    assert [m["role"] for m in history].count("compaction") == 1
    assert any("question 0" in json.dumps(m) for m in history)


def test_compact_refuses_a_running_session_and_says_why_short_ones_are_left(
    fake: FakeOpenAIServer, worker: InlineWorker
) -> None:
    session = conversation(turns=1)
    run = RunFactory.create(
        session=session, agent=Agent.objects.get(slug="main"), status=Run.Status.RUNNING
    )
    with pytest.raises(MethodError, match="running") as refused:
        compact({"key": "main"})
    assert refused.value.code == ErrorCode.INVALID_REQUEST
    assert worker.sent == []  # refused at the door, no worker involved

    Run.objects.filter(pk=run.pk).update(status=Run.Status.SUCCEEDED)
    answer = compact({"key": "main"})
    assert answer == {"ok": True, "key": MAIN, "compacted": False, "reason": answer["reason"]}
    assert "short enough" in answer["reason"]

    with pytest.raises(MethodError, match="no session"):
        compact({"key": "agent:main:nope"})


def test_a_summary_the_model_refuses_is_the_error_answer(
    fake: FakeOpenAIServer, worker: InlineWorker, settings: Any
) -> None:
    conversation()
    settings.COMPACTION_KEEP_RECENT_TOKENS = 60
    fake.script(HttpError(400, message="bad request"))

    with pytest.raises(MethodError, match="could not write the summary") as failed:
        compact({"key": "main"})
    assert failed.value.code == ErrorCode.INVALID_REQUEST


def test_a_worker_crash_is_an_unavailable_answer_pointing_at_the_worker_log(
    fake: FakeOpenAIServer, worker: InlineWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation()

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(compaction, "session_compact_by_key", broken)
    with pytest.raises(MethodError, match="see the worker log") as failed:
        compact({"key": "main"})
    assert failed.value.code == ErrorCode.UNAVAILABLE
    worker.join()
    assert [str(e) for e in worker.errors] == ["a bug"]


def test_no_worker_reply_in_time_is_a_clear_timeout(
    fake: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation()
    idle = InlineWorker(run=False)  # the task is queued, no worker takes it
    monkeypatch.setattr(compaction, "current_app", idle)
    monkeypatch.setattr(session_methods, "manual_compaction_wait_s", lambda: 0.2)

    with pytest.raises(MethodError, match=r"did not finish within 0\.2s") as late:
        compact({"key": "main"})
    assert late.value.code == ErrorCode.UNAVAILABLE
    assert "chat.history" in late.value.message
    assert len(idle.sent) == 1


def test_compact_needs_a_live_connection_to_wait_on(fake: FakeOpenAIServer) -> None:
    conversation()
    with pytest.raises(MethodError, match="live WebSocket connection") as refused:
        compact({"key": "main"}, connected=False)
    assert refused.value.code == ErrorCode.UNAVAILABLE


def test_a_lost_reply_event_is_answered_from_the_compaction_entry(
    fake: FakeOpenAIServer,
    worker: InlineWorker,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Team mode's channel layer drops a group message when a channel is full or the
    # message expired: the worker's reply never comes, but its entry is in the database.
    conversation()
    settings.COMPACTION_KEEP_RECENT_TOKENS = 60
    fake.script(Text("SUMMARY: four questions were asked"))
    monkeypatch.setattr(compaction, "_announce_outcome", lambda **kwargs: None)
    monkeypatch.setattr(compact_reply, "COMPACT_RECHECK_S", 0.05)

    answer = compact({"key": "main"})

    [entry] = Message.objects.filter(session__key=MAIN, role=Message.Role.COMPACTION)
    assert entry.details["requestId"].startswith("compact:")
    assert answer == {
        "ok": True,
        "key": MAIN,
        "compacted": True,
        "kept": entry.details["kept"],
        "summarized": entry.details["summarized"],
        "tokensBefore": entry.details["tokensBefore"],
        "tokensAfter": entry.details["tokensAfter"],
    }
    assert answer["summarized"] >= 2
    assert answer["kept"] >= 1
    # Another request's id finds nothing.
    assert selectors.compaction_details(session_key=MAIN, request_id="compact:nope") is None
