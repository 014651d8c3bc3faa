"""Manual compaction (``sessions.compact``) in its two halves, against the fake OpenAI server.

At the door, ``session_compact_request`` only checks and enqueues; on the worker,
``session_compact_answer`` writes the summary and announces the outcome as the internal
``COMPACTION_EVENT``. The gateway's handler is tested in gateway/tests/test_sessions_compact.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import current_app

from agents.models import Agent, Run
from agents.runtime import enqueue, loop
from agents.runtime.context import history_for
from agents.services import compaction, runs
from agents.services.agents import agent_workspace_path
from agents.tests.compaction_helpers import MAIN, InlineWorker, conversation, use_fake_openai
from agents.tests.factories import RunFactory
from core import events
from sessions_app.models import Message, Session
from tests.fakes.llm_server import HttpError, Text
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.django_db(transaction=True)
Published = list[tuple[str, dict[str, Any]]]


@pytest.fixture
def fake(settings: Any, tmp_path: Path) -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        use_fake_openai(settings, server, tmp_path / "workspaces")
        yield server


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> Published:
    seen: Published = []

    def publisher(event: str, payload: dict[str, Any], **kwargs: Any) -> None:
        seen.append((event, json.loads(json.dumps(payload))))

    monkeypatch.setattr(events, "_publisher", publisher)
    return seen


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> InlineWorker:
    inline = InlineWorker(run=False)
    monkeypatch.setattr(compaction, "current_app", inline)
    return inline


def _replies(published: Published) -> list[dict[str, Any]]:
    return [p for e, p in published if e == compaction.COMPACTION_EVENT]


# --- the door ---------------------------------------------------------------------------------
def test_the_request_enqueues_the_task_by_name_on_the_llm_queue_without_calling_the_model(
    fake: FakeOpenAIServer, worker: InlineWorker
) -> None:
    conversation()
    compaction.session_compact_request(key=MAIN, request_id="req-1", instructions="be brief")

    assert fake.requests == []
    [(name, kwargs, options)] = worker.sent
    assert name == compaction.COMPACT_TASK == "agents.session_compact"
    assert kwargs == {"key": MAIN, "request_id": "req-1", "instructions": "be brief"}
    # Not started in time, the request expires unrun: its caller no longer waits.
    assert options["expires"] == compaction.manual_compaction_wait_s()
    assert name in current_app.tasks
    route = current_app.amqp.router.route({}, name, (), kwargs)
    assert route["queue"].name == "llm"


def test_the_request_refuses_unknown_and_busy_sessions_at_once(
    fake: FakeOpenAIServer, worker: InlineWorker
) -> None:
    with pytest.raises(compaction.CompactionError, match="no session"):
        compaction.session_compact_request(key="agent:main:nope", request_id="r")
    session = conversation()
    RunFactory.create(
        session=session, agent=Agent.objects.get(slug="main"), status=Run.Status.RUNNING
    )
    with pytest.raises(compaction.CompactionError, match="running"):
        compaction.session_compact_request(key=MAIN, request_id="r")
    assert worker.sent == []


# --- the worker -------------------------------------------------------------------------------
def test_the_worker_summarizes_old_turns_notes_them_in_daily_memory_and_replies(
    fake: FakeOpenAIServer,
    settings: Any,
    published: Published,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session = conversation()
    settings.COMPACTION_KEEP_RECENT_TOKENS = 60
    fake.script(Text("SUMMARY: four questions were asked"))

    compaction.session_compact_answer(key=MAIN, request_id="req-2", instructions="keep it short")

    [reply] = _replies(published)
    assert reply["requestId"] == "req-2"
    assert reply["sessionKey"] == MAIN
    assert reply["ok"] is True
    outcome = compaction.CompactionOutcome.from_json(reply["outcome"])
    assert outcome.compacted
    assert outcome.summarized >= 2
    summary_request = json.dumps(fake.requests[-1].body)
    assert "keep it short" in summary_request
    assert "question 0" in summary_request
    note = next((agent_workspace_path(Agent.objects.get(slug="main")) / "memory").glob("*.md"))
    assert "SUMMARY: four questions were asked" in note.read_text()
    # The next prompt starts from the summary, not from the summarized turns.
    session = Session.objects.get(pk=session.pk)
    assert session.compaction_count == 1
    history = history_for(session=session, run=None)
    assert history.summary == "SUMMARY: four questions were asked"
    assert "question 0" not in " ".join(m.text for m in history.messages)
    # The transcript keeps everything, with the compaction entry.
    roles = list(Message.objects.filter(session=session).values_list("role", flat=True))
    assert roles.count("compaction") == 1
    assert roles.count("user") == 4
    assert ("sessions.changed", "compact") in [(e, p.get("reason")) for e, p in published]
    # The next turn's model request starts from the summary too.
    monkeypatch.setattr(enqueue, "send", lambda task_name, pk: None)  # the turn runs here
    fake.script(Text("fresh"))
    run = runs.run_start(session_key=MAIN, message="next question", idempotency_key="t9").run
    loop.run_advance(run_pk=run.pk)
    sent = json.dumps(fake.requests[-1].body["messages"])
    assert "SUMMARY: four questions were asked" in sent
    assert "question 0" not in sent


def test_the_worker_replies_with_the_reason_when_there_is_nothing_to_compact(
    fake: FakeOpenAIServer, published: Published
) -> None:
    conversation(turns=1)
    compaction.session_compact_answer(key=MAIN, request_id="req-3")

    [reply] = _replies(published)
    assert reply["ok"] is True
    outcome = compaction.CompactionOutcome.from_json(reply["outcome"])
    assert not outcome.compacted
    assert "short enough" in outcome.reason
    assert fake.requests == []


def test_a_model_that_cannot_summarize_is_a_refusal_and_the_transcript_stays(
    fake: FakeOpenAIServer, settings: Any, published: Published
) -> None:
    session = conversation()
    settings.COMPACTION_KEEP_RECENT_TOKENS = 60
    fake.script(HttpError(400, message="bad request"))

    compaction.session_compact_answer(key=MAIN, request_id="req-4")

    [reply] = _replies(published)
    assert (reply["ok"], reply["outcome"], reply["crashed"]) == (False, None, False)
    assert reply["error"].startswith("the model could not write the summary")
    assert not Message.objects.filter(session=session, role="compaction").exists()
    assert Session.objects.get(pk=session.pk).compaction_count == 0


def test_a_crash_on_the_worker_is_still_replied_to_then_raised(
    fake: FakeOpenAIServer, published: Published, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation()

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(compaction, "session_compact_by_key", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        compaction.session_compact_answer(key=MAIN, request_id="req-5")
    [reply] = _replies(published)
    assert (reply["ok"], reply["crashed"]) == (False, True)
    assert "a bug" not in json.dumps(reply)


def test_the_task_is_the_worker_half(
    fake: FakeOpenAIServer, published: Published, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation(turns=1)
    worker = InlineWorker(run=True)
    monkeypatch.setattr(compaction, "current_app", worker)

    compaction.session_compact_request(key=MAIN, request_id="req-6")
    worker.join()

    assert worker.errors == []
    [reply] = _replies(published)
    assert reply["requestId"] == "req-6"
    assert reply["ok"] is True
