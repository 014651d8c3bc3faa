"""Runs: start (idempotent), advance with the placeholder provider, abort, redelivery."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agents import tasks
from agents.models import Agent, Run
from agents.providers import (
    ModelRequest,
    ProviderError,
    StreamDone,
    StreamEvent,
    TextDelta,
    Usage,
)
from agents.providers import placeholder as placeholder_module
from agents.runtime import claim, enqueue, model_call
from agents.runtime import loop as run_loop
from agents.services import runs
from agents.tasks import run_advance_task
from core import events
from sessions_app.models import Message, Session

pytestmark = pytest.mark.django_db
Published = list[tuple[str, dict[str, Any]]]
OnCommit = Callable[..., Any]


@pytest.fixture(autouse=True)
def _no_chunk_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(placeholder_module, "CHUNK_DELAY_S", 0.0)


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Run pks handed to the broker (on commit); nothing really runs."""
    pks: list[int] = []

    def send(task_name: str, run_pk: int) -> None:
        assert task_name == enqueue.RUN_ADVANCE_TASK
        pks.append(run_pk)

    monkeypatch.setattr(enqueue, "send", send)
    return pks


@pytest.fixture
def checks() -> list[Callable[[str, dict[str, Any]], None]]:
    """Assertions run inside the publisher, at the moment an event goes out."""
    return []


@pytest.fixture
def published(checks: list[Callable[[str, dict[str, Any]], None]]) -> Iterator[Published]:
    captured: Published = []

    def publisher(event: str, payload: dict[str, Any], **kwargs: Any) -> None:
        json.dumps(payload)
        for check in checks:
            check(event, payload)
        captured.append((event, payload))

    previous = events._publisher
    events.register_publisher(publisher)
    yield captured
    events.register_publisher(previous)


@pytest.fixture
def agent() -> Agent:
    return Agent.objects.create(slug="main", name="Main", is_default=True)


def _start(key: str = "agent:main:main", text: str = "hello there", run_id: str = "r1") -> Run:
    return runs.run_start(session_key=key, message=text, idempotency_key=run_id).run


def _summary(published: Published) -> list[str]:
    out = []
    for event, payload in published:
        if event == "chat":
            out.append(f"chat:{payload['state']}")
        elif event == "agent":
            phase = payload["data"].get("phase")
            out.append(f"agent:{payload['stream']}" + (f":{phase}" if phase else ""))
        else:
            out.append(event)
    return out


# --- run_start --------------------------------------------------------------------------
def test_start_creates_session_user_message_and_queued_run(
    agent: Agent, enqueued: list[int], django_capture_on_commit_callbacks: OnCommit
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        start = runs.run_start(session_key="main", message="hi", idempotency_key="abc")

    run = start.run
    assert start.created
    assert (run.run_id, run.status, run.model) == ("abc", Run.Status.QUEUED, "placeholder/echo")
    assert run.session.key == "agent:main:main"
    message = Message.objects.get(session=run.session)
    assert (message.seq, message.role, message.text) == (1, "user", "hi")
    assert message.run_public_id == run.public_id
    assert run.trigger_seq == 1
    assert enqueued == [run.pk]


def test_start_is_idempotent_on_the_key(
    agent: Agent, enqueued: list[int], django_capture_on_commit_callbacks: OnCommit
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        first = runs.run_start(session_key="main", message="hi", idempotency_key="same")
    with django_capture_on_commit_callbacks(execute=True):
        again = runs.run_start(session_key="main", message="hi", idempotency_key="same")

    assert not again.created
    assert again.run.pk == first.run.pk
    assert Run.objects.count() == 1
    assert Message.objects.count() == 1
    assert enqueued == [first.run.pk]


@pytest.mark.parametrize(
    ("kwargs", "with_ops", "error"),
    [
        ({"session_key": "agent:x"}, False, "malformed session key"),
        ({"session_key": "main", "agent_slug": "nope"}, False, "unknown agent id"),
        ({"session_key": "agent:ops:main"}, False, "names agent 'ops'"),
        ({"session_key": "agent:main:main", "agent_slug": "ops"}, True, "does not match"),
        ({"session_key": "main", "idempotency_key": " "}, False, "idempotencyKey is required"),
        ({"session_key": "main", "model": "openai/" + "x" * 200}, False, "model is longer"),
    ],
)
def test_start_refuses_bad_targets(
    agent: Agent, kwargs: dict[str, Any], with_ops: bool, error: str
) -> None:
    if with_ops:
        Agent.objects.create(slug="ops")
    params: dict[str, Any] = {"message": "hi", "idempotency_key": "k", **kwargs}

    with pytest.raises(runs.RunError, match=error):
        runs.run_start(**params)
    assert not Run.objects.exists()


def test_agent_without_a_key_uses_its_main_session(agent: Agent) -> None:
    Agent.objects.create(slug="ops")

    run = runs.run_start(session_key=None, message="hi", idempotency_key="k", agent_slug="ops").run

    assert run.session.key == "agent:ops:main"
    assert run.agent.slug == "ops"


def test_a_model_for_one_run_is_its_primary_and_leaves_the_session_as_it_was(
    agent: Agent, enqueued: list[int]
) -> None:
    runs.run_start(session_key="main", message="hi", idempotency_key="k0")
    Session.objects.filter(key="agent:main:main").update(model_override="openai/gpt-4o")

    run = runs.run_start(
        session_key="main", message="hi", idempotency_key="k1", model=" anthropic/claude-x "
    ).run
    after = runs.run_start(session_key="main", message="hi", idempotency_key="k2").run

    assert (run.model_override, run.model) == ("anthropic/claude-x", "anthropic/claude-x")
    assert (after.model_override, after.model) == ("", "openai/gpt-4o")
    assert Session.objects.get(key="agent:main:main").model_override == "openai/gpt-4o"


# --- run_advance -----------------------------------------------------------------------
def test_a_turn_publishes_events_in_order_and_persists_before_the_final(
    agent: Agent,
    enqueued: list[int],
    published: Published,
    checks: list[Callable[[str, dict[str, Any]], None]],
    django_capture_on_commit_callbacks: OnCommit,
) -> None:
    run = _start(text="What is 2+2?")
    expected = placeholder_module.REPLY_PREFIX + "What is 2+2?"

    def reply_is_stored_before_final(event: str, payload: dict[str, Any]) -> None:
        if event == "chat" and payload["state"] == "final":
            stored = Message.objects.get(run_public_id=run.public_id, role="assistant")
            assert stored.text == expected
            assert Run.objects.get(pk=run.pk).status == Run.Status.SUCCEEDED

    checks.append(reply_is_stored_before_final)
    published.clear()
    clock = iter(float(i) for i in range(1000))  # 1 s per reading: no coalescing
    with django_capture_on_commit_callbacks(execute=True):
        run_loop.run_advance(run_pk=run.pk, clock=lambda: next(clock))

    summary = _summary(published)
    assert summary[:3] == [
        "agent:run_status:starting_model",
        "chat:status",
        "agent:lifecycle:start",
    ]
    assert summary[-5:] == [
        "session.message",
        "agent:usage",
        "agent:lifecycle:end",
        "chat:final",
        "sessions.changed",
    ]
    chat = [p for e, p in published if e == "chat"]
    agent_events = [p for e, p in published if e == "agent"]
    assert [p["seq"] for p in agent_events] == list(range(1, len(agent_events) + 1))
    assert all(p["runId"] == "r1" and p["sessionKey"] == "agent:main:main" for p in chat)
    deltas = [p for p in chat if p["state"] == "delta"]
    assert len(deltas) == len(placeholder_module._split(expected, placeholder_module.CHUNKS))
    assert "".join(d["deltaText"] for d in deltas) == expected
    assert deltas[-1]["message"]["content"] == [{"type": "text", "text": expected}]
    assert [d["seq"] for d in deltas] == sorted(d["seq"] for d in deltas)
    assistant = [p["data"] for p in agent_events if p["stream"] == "assistant"]
    assert assistant[-1]["text"] == expected
    final = chat[-1]
    assert final["state"] == "final"
    assert final["stopReason"] == "stop"
    assert final["message"]["content"][0]["text"] == expected
    assert final["usage"]["output"] > 0
    usage = next(p["data"] for p in agent_events if p["stream"] == "usage")
    assert usage["outputTokens"] == final["usage"]["output"]

    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED
    assert run.started_at is not None
    assert run.finished_at is not None
    assert run.lease_owner == ""
    status = runs.run_status(run_id="r1")
    assert status is not None
    assert status.reply_text == expected


def test_deltas_are_coalesced_to_one_per_150_ms(
    agent: Agent,
    enqueued: list[int],
    published: Published,
    django_capture_on_commit_callbacks: OnCommit,
) -> None:
    run = _start(text="one two three four five six seven eight")
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        run_loop.run_advance(run_pk=run.pk, clock=lambda: 0.0)  # time stands still

    chat = [p for e, p in published if e == "chat"]
    deltas = [p for p in chat if p["state"] == "delta"]
    # The first chunk goes out at once; the rest is held and flushed before the final.
    assert len(deltas) == 2
    full = chat[-1]["message"]["content"][0]["text"]
    assert deltas[0]["deltaText"] + deltas[1]["deltaText"] == full
    assert deltas[1]["message"]["content"][0]["text"] == full
    assert [p["state"] for p in chat][-2:] == ["delta", "final"]


def test_a_redelivered_task_does_nothing(
    agent: Agent,
    enqueued: list[int],
    published: Published,
    django_capture_on_commit_callbacks: OnCommit,
) -> None:
    run = _start()
    with django_capture_on_commit_callbacks(execute=True):
        run_loop.run_advance(run_pk=run.pk)
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        run_loop.run_advance(run_pk=run.pk)
        run_loop.run_advance(run_pk=999_999)  # a row that is gone

    assert published == []
    assert Message.objects.filter(role="assistant").count() == 1


def test_a_running_run_with_a_live_lease_is_left_alone(
    agent: Agent, enqueued: list[int], published: Published
) -> None:
    run = _start()
    assert claim.run_claim(run_pk=run.pk, owner="other-worker") is not None
    published.clear()

    run_loop.run_advance(run_pk=run.pk)

    assert published == []
    run.refresh_from_db()
    assert (run.status, run.lease_owner) == (Run.Status.RUNNING, "other-worker")


def test_one_run_per_session_at_a_time_and_the_next_is_kicked(
    settings: Any,
    agent: Agent,
    enqueued: list[int],
    published: Published,
    django_capture_on_commit_callbacks: OnCommit,
) -> None:
    settings.AGENT_QUEUE_MODE = "followup"  # collect would merge the second into the first
    first = _start(run_id="first")
    second = _start(run_id="second", text="next")
    assert claim.run_claim(run_pk=first.pk, owner="w1") is not None

    run_loop.run_advance(run_pk=second.pk)  # busy: stays queued
    second.refresh_from_db()
    assert second.status == Run.Status.QUEUED

    Run.objects.filter(pk=first.pk).update(status=Run.Status.QUEUED, lease_owner="")
    enqueued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        run_loop.run_advance(run_pk=first.pk)
    assert enqueued == [second.pk]


def test_abort_of_a_queued_run_ends_it_at_once(
    agent: Agent,
    enqueued: list[int],
    published: Published,
    django_capture_on_commit_callbacks: OnCommit,
) -> None:
    run = _start()
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        aborted = runs.run_abort(session_key="main")

    assert aborted == ["r1"]
    run.refresh_from_db()
    assert run.status == Run.Status.ABORTED
    assert [(e, p["state"], p["stopReason"]) for e, p in published] == [("chat", "aborted", "rpc")]
    published.clear()
    run_loop.run_advance(run_pk=run.pk)
    assert published == []


def test_abort_rejects_a_run_of_another_session(agent: Agent, enqueued: list[int]) -> None:
    _start(key="agent:main:other")

    with pytest.raises(runs.RunError, match="belongs to session agent:main:other"):
        runs.run_abort(session_key="main", run_id="r1")
    assert runs.run_abort(session_key="main", run_id="unknown") == []


class _AbortingProvider:
    """Streams two chunks; the user aborts after the first."""

    def stream(self, request: ModelRequest) -> Iterator[StreamEvent]:
        yield TextDelta("partial ")
        runs.run_abort(session_key="agent:main:main")
        yield TextDelta("never shown")
        yield StreamDone(usage=Usage(1, 2))


def test_abort_while_running_keeps_the_partial_reply(
    agent: Agent,
    enqueued: list[int],
    published: Published,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: OnCommit,
) -> None:
    monkeypatch.setattr(model_call, "provider_client", lambda profile, **kw: _AbortingProvider())
    run = _start()
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        run_loop.run_advance(run_pk=run.pk, clock=lambda: 0.0)

    run.refresh_from_db()
    assert run.status == Run.Status.ABORTED
    partial = Message.objects.get(role="assistant")
    assert (partial.text, partial.stop_reason) == ("partial ", "aborted")
    last_chat = [p for e, p in published if e == "chat"][-1]
    assert last_chat["state"] == "aborted"
    assert last_chat["stopReason"] == "rpc"
    assert last_chat["message"]["content"][0]["text"] == "partial "
    end = [p for e, p in published if e == "agent"][-1]["data"]
    assert (end["phase"], end["aborted"]) == ("end", True)


class _FailingProvider:
    def stream(self, request: ModelRequest) -> Iterator[StreamEvent]:
        yield TextDelta("so")
        raise ProviderError("the provider is rate limiting us", reason="rate_limit")


def test_a_provider_error_fails_the_run_with_an_error_event(
    settings: Any,
    agent: Agent,
    enqueued: list[int],
    published: Published,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: OnCommit,
) -> None:
    monkeypatch.setattr(model_call, "provider_client", lambda profile, **kw: _FailingProvider())
    # The only key's cooldown (60 s) ends after the run's limit: no wait, no second call.
    settings.AGENT_RUN_TIMEOUT_S = 5
    run = _start()
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        run_loop.run_advance(run_pk=run.pk)

    run.refresh_from_db()
    assert (run.status, run.error_kind) == (Run.Status.FAILED, "rate_limit")
    error = [p for e, p in published if e == "chat"][-1]
    assert error["state"] == "error"
    assert error["errorKind"] == "rate_limit"
    assert error["errorMessage"].startswith("the provider is rate limiting us; then every key")
    assert "placeholder:builtin until" in error["errorMessage"]
    assert [p for e, p in published if e == "agent"][-1]["data"]["phase"] == "error"
    assert not Message.objects.filter(role="assistant").exists()


def test_the_task_calls_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(tasks, "run_advance", lambda *, run_pk: calls.append(run_pk))

    run_advance_task(7)

    assert calls == [7]
    assert run_advance_task.name == "agents.run_advance"


def test_runs_are_registered_with_the_sweeper() -> None:
    from core.leases import work_kinds

    kind = next(k for k in work_kinds() if k.label == "runs")
    assert kind.task_name == "agents.run_advance"


def test_session_survives_for_history(agent: Agent, enqueued: list[int]) -> None:
    run = _start()
    assert Session.objects.get(pk=run.session_id).last_seq == 1
