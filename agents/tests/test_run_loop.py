"""The agent loop against the real SDKs and the fake provider servers (tests/fakes/).

Runs are driven in-process: ``run_start`` queues, ``run_advance`` runs the turn on this
thread (the task's enqueue is captured), events are captured from the publisher port.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from agents.models import Agent, AuthProfileState, ModelProvider, Run, RunStep
from agents.runtime import claim, enqueue, failover
from agents.runtime import loop as run_loop
from agents.services import runs
from agents.services.agents import agent_workspace_path
from core import events, redact, ttlcache
from sessions_app.models import Message, Session
from sessions_app.services import session_message_append
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.llm_server import (
    ContextLength,
    FakeToolCall,
    Hang,
    HttpError,
    Malformed,
    Text,
    ToolCalls,
    Truncated,
)
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.django_db(transaction=True)
Published = list[tuple[str, dict[str, Any]]]
KEY = "sk-test-openai-0123456789abcdef"


# --- fixtures ---------------------------------------------------------------------------
@pytest.fixture
def openai_fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
def anthropic_fake() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _runtime_settings(settings: Any, tmp_path: Path) -> None:
    settings.WORKSPACES_DIR = tmp_path / "workspaces"
    settings.AGENT_MODEL_TIMEOUT_S = 5
    settings.OPENCLAW_MODEL = ""
    settings.OPENCLAW_MODEL_FALLBACKS = []
    settings.ANTHROPIC_API_KEY = ""
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""
    settings.OPENAI_API = "chat"
    redact.forget()
    ttlcache.forget_all()


@pytest.fixture
def use_openai(settings: Any, openai_fake: FakeOpenAIServer) -> FakeOpenAIServer:
    settings.OPENAI_API_KEY = KEY
    settings.OPENAI_BASE_URL = openai_fake.base_url
    settings.OPENCLAW_MODEL = "openai/gpt-4o-mini"
    return openai_fake


@pytest.fixture
def use_anthropic(settings: Any, anthropic_fake: FakeAnthropicServer) -> FakeAnthropicServer:
    settings.ANTHROPIC_API_KEY = "sk-ant-test-0123456789"
    settings.ANTHROPIC_BASE_URL = anthropic_fake.base_url
    return anthropic_fake


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
def published() -> Iterator[Published]:
    captured: Published = []
    lock = threading.Lock()

    def publisher(event: str, payload: dict[str, Any], **kwargs: Any) -> None:
        json.dumps(payload)
        with lock:
            captured.append((event, payload))

    previous = events._publisher
    events.register_publisher(publisher)
    yield captured
    events.register_publisher(previous)


@pytest.fixture
def agent() -> Agent:
    return Agent.objects.create(slug="main", name="Main", is_default=True)


def start(text: str = "hello", run_id: str = "r1", key: str = "agent:main:main") -> Run:
    return runs.run_start(session_key=key, message=text, idempotency_key=run_id).run


def advance(run: Run) -> Run:
    run_loop.run_advance(run_pk=run.pk)
    return Run.objects.get(pk=run.pk)


def chats(published: Published, run_id: str = "r1") -> list[dict[str, Any]]:
    return [p for e, p in published if e == "chat" and p["runId"] == run_id]


def transcript(run_key: str = "agent:main:main") -> list[tuple[str, str]]:
    return [
        (m.role, m.text or json.dumps(m.content))
        for m in Message.objects.filter(session__key=run_key).order_by("seq")
    ]


# --- full turns with a tool call, per provider ------------------------------------------
def _tool_turn_asserts(run: Run, published: Published, workspace: Path) -> None:
    assert run.status == Run.Status.SUCCEEDED, run.error_message
    assert (workspace / "note.txt").read_text() == "hi from the model"
    roles = [m.role for m in Message.objects.filter(session=run.session).order_by("seq")]
    assert roles == ["user", "assistant", "tool", "assistant"]
    tool_msg = Message.objects.get(session=run.session, role="tool")
    assert tool_msg.details["toolName"] == "write"
    assert not tool_msg.details["isError"]
    call_msg = Message.objects.filter(session=run.session, role="assistant").order_by("seq")[0]
    assert call_msg.content[-1]["type"] == "toolCall"
    assert call_msg.content[-1]["arguments"]["path"] == "note.txt"
    steps = list(run.steps.order_by("step_no").values_list("kind", "status"))
    assert steps == [("model_call", "done"), ("tool_call", "done"), ("model_call", "done")]
    tool_events = [p["data"] for e, p in published if e == "agent" and p["stream"] == "tool"]
    assert [d["phase"] for d in tool_events] == ["start", "result"]
    assert tool_events[1]["isError"] is False
    final = chats(published)[-1]
    assert final["state"] == "final"
    assert final["message"]["content"][0]["text"] == "All done."


WRITE_CALL = FakeToolCall(
    name="write", arguments={"path": "note.txt", "content": "hi from the model"}, id="call_1"
)


def test_openai_chat_turn_with_a_tool_call(
    agent: Agent, use_openai: FakeOpenAIServer, enqueued: list[int], published: Published
) -> None:
    use_openai.script(ToolCalls((WRITE_CALL,), text="Writing it."), Text("All done.", chunks=3))
    run = advance(start("write a note"))

    _tool_turn_asserts(run, published, agent_workspace_path(agent))
    second = use_openai.requests[1].body
    tool_message = next(m for m in second["messages"] if m["role"] == "tool")
    assert tool_message["tool_call_id"] == "call_1"
    assert "note.txt" in tool_message["content"]
    assert second["messages"][0]["role"] == "system"
    assert KEY not in json.dumps(second)
    assert any(t["function"]["name"] == "exec" for t in second["tools"])


def test_openai_responses_turn_with_a_tool_call(
    agent: Agent,
    use_openai: FakeOpenAIServer,
    settings: Any,
    enqueued: list[int],
    published: Published,
) -> None:
    settings.OPENAI_API = "responses"
    use_openai.script(ToolCalls((WRITE_CALL,)), Text("All done."))
    run = advance(start("write a note"))

    _tool_turn_asserts(run, published, agent_workspace_path(agent))
    assert use_openai.requests[0].path.endswith("/responses")
    items = use_openai.requests[1].body["input"]
    output = next(i for i in items if i.get("type") == "function_call_output")
    assert output["call_id"] == "call_1"


def test_anthropic_turn_with_a_tool_call(
    agent: Agent,
    use_anthropic: FakeAnthropicServer,
    enqueued: list[int],
    published: Published,
) -> None:
    use_anthropic.script(ToolCalls((WRITE_CALL,), text="Writing."), Text("All done."))
    run = advance(start("write a note"))

    assert run.model == "anthropic/claude-sonnet-4-6"
    _tool_turn_asserts(run, published, agent_workspace_path(agent))
    second = use_anthropic.requests[1].body
    result_block = second["messages"][-1]["content"][0]
    assert result_block["type"] == "tool_result"
    assert result_block["tool_use_id"] == "call_1"
    assert second["system"]


# --- failover and cooldowns -------------------------------------------------------------
@pytest.mark.parametrize(
    ("step", "reason", "retry_reason"),
    [
        (HttpError(429, retry_after="0"), "rate_limit", "rate_limit"),
        (HttpError(500), "server", "server"),
        (HttpError(503), "overloaded", "rate_limit"),
        (HttpError(401), "auth", "auth"),
        (Hang(3.0), "timeout", "timeout"),
        (Malformed(), "malformed", "malformed"),
        (Truncated(), "truncated", "truncated"),
    ],
)
def test_failover_to_the_next_key_on_each_retriable_error(
    agent: Agent,
    use_openai: FakeOpenAIServer,
    settings: Any,
    enqueued: list[int],
    published: Published,
    step: Any,
    reason: str,
    retry_reason: str,
) -> None:
    settings.AGENT_MODEL_TIMEOUT_S = 1
    # The admin key is tried first (it fails); the environment key answers.
    row = ModelProvider.objects.create(
        provider="openai",
        api=ModelProvider.Api.OPENAI_CHAT,
        base_url=use_openai.base_url,
        api_key="sk-failing-0123456789",
    )
    with FakeOpenAIServer() as backup:
        settings.OPENAI_BASE_URL = backup.base_url
        use_openai.script(step)
        backup.script(Text("answered by the backup key"))
        run = advance(start())

    assert run.status == Run.Status.SUCCEEDED, run.error_message
    statuses = [c for c in chats(published) if c["state"] == "status" and "retry" in c]
    assert statuses[0]["retry"] == {"attempt": 2, "maxAttempts": 3, "reason": retry_reason}
    assert chats(published)[-1]["message"]["content"][0]["text"] == "answered by the backup key"
    state = AuthProfileState.objects.get(profile_id=row.profile_id)
    assert state.error_count == 1
    assert state.last_error_reason == reason
    assert state.cooldown_until is not None
    cooldown = (state.cooldown_until - timezone.now()).total_seconds()
    assert 50 < cooldown <= 60


def test_fallback_model_after_the_primary_fails(
    agent: Agent,
    use_openai: FakeOpenAIServer,
    use_anthropic: FakeAnthropicServer,
    enqueued: list[int],
    published: Published,
) -> None:
    agent.model_primary = "openai/gpt-4o-mini"
    agent.model_fallbacks = ["anthropic/claude-haiku-4-5"]
    agent.save()
    use_openai.script(HttpError(529, type="overloaded_error"))
    use_anthropic.script(Text("from the fallback"))
    run = advance(start())

    assert run.status == Run.Status.SUCCEEDED
    assert run.model == "anthropic/claude-haiku-4-5"
    assert use_anthropic.requests[0].body["model"] == "claude-haiku-4-5"


def test_a_runs_own_model_fails_over_to_the_agents_fallbacks(
    agent: Agent,
    use_openai: FakeOpenAIServer,
    use_anthropic: FakeAnthropicServer,
    enqueued: list[int],
) -> None:
    # A heartbeat's heartbeat.model: the run's primary, the agent's fallbacks after it.
    agent.model_primary = "openai/gpt-4o-mini"
    agent.model_fallbacks = ["anthropic/claude-haiku-4-5"]
    agent.save()
    use_openai.script(HttpError(529, type="overloaded_error"))
    use_anthropic.script(Text("from the fallback"))
    run = runs.run_start(
        session_key="agent:main:main", message="hi", idempotency_key="r1", model="openai/o3"
    ).run
    run = advance(run)

    assert run.status == Run.Status.SUCCEEDED, run.error_message
    assert [r.body["model"] for r in use_openai.requests] == ["o3"]
    assert run.model == "anthropic/claude-haiku-4-5"
    assert use_anthropic.requests[0].body["model"] == "claude-haiku-4-5"


def test_cooldowns_grow_and_a_success_clears_them(agent: Agent) -> None:
    from agents.providers import ProviderError

    error = ProviderError("x", reason="rate_limit")
    spans = []
    for _ in range(5):
        until = failover.record_failure("openai:env", error)
        spans.append(round((until - timezone.now()).total_seconds() / 60))
    assert spans == [1, 5, 25, 60, 60]
    failover.record_success("openai:env")
    state = AuthProfileState.objects.get(profile_id="openai:env")
    assert (state.error_count, state.cooldown_until) == (0, None)


def test_a_key_in_cooldown_is_left_out_of_the_plan(
    agent: Agent, use_openai: FakeOpenAIServer, settings: Any
) -> None:
    row = ModelProvider.objects.create(
        provider="openai",
        api="openai-chat",
        base_url="http://127.0.0.1:9/v1",
        api_key="sk-row-123456789",
    )
    from agents.providers import ProviderError

    until = failover.record_failure(row.profile_id, ProviderError("x", reason="rate_limit"))
    planned = failover.plan(["openai/gpt-4o-mini"], max_attempts=3)
    assert [a.profile.id for a in planned.attempts] == ["openai:env"]
    assert [(a.profile.id, a.cooling_until) for a in planned.cooling] == [(row.profile_id, until)]
    assert planned.cooling[0].cooling_reason == "rate_limit"

    failover.record_failure("openai:env", ProviderError("x", reason="overloaded"))
    with pytest.raises(failover.AllInCooldownError, match="usable again at"):
        failover.plan_attempts(["openai/gpt-4o-mini"], max_attempts=3)


def test_every_attempt_failing_ends_with_error_kind(
    agent: Agent,
    use_openai: FakeOpenAIServer,
    settings: Any,
    enqueued: list[int],
    published: Published,
) -> None:
    # One key: after its 429 it cools down for 60 s, past this run's limit: no retry.
    settings.AGENT_RUN_TIMEOUT_S = 5
    use_openai.set_default(HttpError(429, retry_after="0"))
    run = advance(start())

    assert run.status == Run.Status.FAILED
    assert run.error_kind == "rate_limit"
    final = chats(published)[-1]
    assert final["state"] == "error"
    assert final["errorKind"] == "rate_limit"
    assert "429" in final["errorMessage"]
    assert "openai:env until" in final["errorMessage"]
    assert "usable again at" in final["errorMessage"]
    assert len(use_openai.requests) == 1
    step = RunStep.objects.get(run=run, kind="model_call")
    assert step.status == "failed"
    assert step.output["failover"][0].startswith("openai/gpt-4o-mini via openai:env failed")


def test_a_bad_request_is_not_retried(
    agent: Agent, use_openai: FakeOpenAIServer, enqueued: list[int], published: Published
) -> None:
    use_openai.script(HttpError(400, message="unsupported parameter"))
    run = advance(start())

    assert run.status == Run.Status.FAILED
    assert len(use_openai.requests) == 1
    assert "unsupported parameter" in chats(published)[-1]["errorMessage"]


def test_no_provider_configured_fails_with_what_to_set(
    agent: Agent, enqueued: list[int], published: Published
) -> None:
    run = advance(start())

    assert run.status == Run.Status.FAILED
    message = chats(published)[-1]["errorMessage"]
    assert "OPENAI_API_KEY" in message
    assert "ANTHROPIC_API_KEY" in message
    assert "Model providers" in message


def test_a_lone_key_gets_a_sensible_default_model(
    agent: Agent, openai_fake: FakeOpenAIServer, settings: Any, enqueued: list[int]
) -> None:
    settings.OPENAI_API_KEY = KEY
    settings.OPENAI_BASE_URL = openai_fake.base_url
    run = advance(start())

    assert run.status == Run.Status.SUCCEEDED
    assert openai_fake.requests[0].body["model"] == "gpt-4o-mini"


# --- context length → compaction, not failover ------------------------------------------
def test_context_length_error_compacts_then_retries(
    agent: Agent, use_openai: FakeOpenAIServer, enqueued: list[int], published: Published
) -> None:
    for i in range(3):
        use_openai.script(Text(f"answer {i}"))
        advance(start(f"question {i} " + "words " * 50, run_id=f"old{i}"))
    use_openai.script(ContextLength(), Text("SUMMARY of the old questions"), Text("fits now"))
    run = advance(start("the new question"))

    assert run.status == Run.Status.SUCCEEDED, run.error_message
    compaction = Message.objects.get(session=run.session, role="compaction")
    assert compaction.text == "SUMMARY of the old questions"
    assert compaction.details["firstKeptSeq"] > 1
    retried = use_openai.requests[-1].body["messages"]
    joined = json.dumps(retried)
    assert "SUMMARY of the old questions" in joined
    assert "question 0" not in joined
    phases = [
        p["data"]["phase"] for e, p in published if e == "agent" and p["stream"] == "compaction"
    ]
    assert phases == ["start", "end"]
    assert run.session.__class__.objects.get(pk=run.session.pk).compaction_count == 1


# --- abort mid-stream -------------------------------------------------------------------
def test_abort_mid_stream_keeps_the_partial_reply(
    agent: Agent, use_openai: FakeOpenAIServer, enqueued: list[int], published: Published
) -> None:
    use_openai.script(Text("one two three four five six seven eight", chunks=8, delay_s=0.2))
    run = start()
    worker = threading.Thread(target=run_loop.run_advance, kwargs={"run_pk": run.pk})
    worker.start()
    deadline = time.monotonic() + 10
    while not any(e == "agent" and p.get("stream") == "assistant" for e, p in published):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert runs.run_abort(session_key="agent:main:main") == ["r1"]
    worker.join(10)

    run.refresh_from_db()
    assert run.status == Run.Status.ABORTED
    final = chats(published)[-1]
    assert final["state"] == "aborted"
    assert final["stopReason"] == "rpc"
    partial = Message.objects.get(session=run.session, role="assistant")
    assert partial.stop_reason == "aborted"
    assert 0 < len(partial.text) < len("one two three four five six seven eight")


# --- resume (in-process; the SIGKILL version is tests/test_run_resume_process.py) --------
def test_resume_does_not_repeat_a_finished_tool_and_reruns_the_model_call(
    agent: Agent, use_openai: FakeOpenAIServer, enqueued: list[int], published: Published
) -> None:
    run = start("append please")
    ws = agent_workspace_path(agent)
    ws.mkdir(parents=True, exist_ok=True)
    call = FakeToolCall(name="exec", arguments={"command": "echo ran >> ran.txt"}, id="call_x")
    # First worker: the model asks for exec, exec runs, then the worker "dies" in the
    # second model call (simulated: the step stays running and the lease is taken back).
    use_openai.script(ToolCalls((call,)), Hang(30))
    worker = threading.Thread(target=run_loop.run_advance, kwargs={"run_pk": run.pk}, daemon=True)
    worker.start()
    deadline = time.monotonic() + 10
    while len(use_openai.requests) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    Run.objects.filter(pk=run.pk).update(
        status=Run.Status.QUEUED, lease_owner="", lease_expires_at=None
    )
    use_openai.reset()
    use_openai.script(Text("finished"))
    run = advance(run)

    assert run.status == Run.Status.SUCCEEDED, run.error_message
    assert (ws / "ran.txt").read_text() == "ran\n"
    kinds = list(run.steps.order_by("step_no").values_list("kind", "status"))
    assert kinds == [
        ("model_call", "done"),
        ("tool_call", "done"),
        ("model_call", "failed"),
        ("model_call", "done"),
    ]
    # The model saw exec's recorded result; exec itself did not run again.
    replayed = [m for m in use_openai.requests[0].body["messages"] if m["role"] == "tool"]
    assert len(replayed) == 1
    assert replayed[0]["tool_call_id"] == "call_x"


def test_a_tool_found_running_is_not_run_again(
    agent: Agent, use_openai: FakeOpenAIServer, enqueued: list[int], published: Published
) -> None:
    run = start("append please")
    ws = agent_workspace_path(agent)
    ws.mkdir(parents=True, exist_ok=True)
    # A previous worker recorded the model's tool call and started the tool, then died.
    call = FakeToolCall(name="exec", arguments={"command": "echo late >> late.txt"}, id="c1")
    RunStep.objects.create(
        run=run,
        step_no=1,
        kind="model_call",
        status="done",
        output={"toolCalls": [{"id": "c1", "name": "exec", "arguments": call.arguments_json()}]},
    )
    RunStep.objects.create(
        run=run, step_no=2, kind="tool_call", status="running", tool_name="exec", tool_call_id="c1"
    )
    session_message_append(
        session=run.session,
        role="assistant",
        content=[{"type": "toolCall", "id": "c1", "name": "exec", "arguments": call.arguments}],
        run_public_id=run.public_id,
        stop_reason="toolUse",
    )
    Run.objects.filter(pk=run.pk).update(started_at=timezone.now())
    use_openai.script(Text("ok, I will check first"))
    run = advance(run)

    assert run.status == Run.Status.SUCCEEDED
    assert not (ws / "late.txt").exists()
    tool_result = next(m for m in use_openai.requests[0].body["messages"] if m["role"] == "tool")
    assert "interrupted" in tool_result["content"]


# --- bad input from the model -----------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (FakeToolCall(name="no_such_tool", arguments={}, id="c1"), "no tool named"),
        (FakeToolCall(name="write", arguments={"path": 3}, id="c1"), "schema"),
        (FakeToolCall(name="write", arguments='{"path": "x", ', id="c1"), "not valid JSON"),
    ],
)
def test_bad_tool_calls_are_reported_to_the_model(
    agent: Agent,
    use_openai: FakeOpenAIServer,
    enqueued: list[int],
    published: Published,
    call: FakeToolCall,
    expected: str,
) -> None:
    use_openai.script(ToolCalls((call,)), Text("sorry, fixed"))
    run = advance(start())

    assert run.status == Run.Status.SUCCEEDED
    tool_result = next(m for m in use_openai.requests[1].body["messages"] if m["role"] == "tool")
    assert expected in tool_result["content"]
    step = RunStep.objects.get(run=run, kind="tool_call")
    assert step.status == "failed"
    assert expected in step.error


def test_a_tool_printing_100_mb_is_capped_and_the_session_stays_usable(
    agent: Agent, use_openai: FakeOpenAIServer, enqueued: list[int], published: Published
) -> None:
    flood = FakeToolCall(
        name="exec",
        arguments={"command": "head -c 100000000 /dev/zero | tr '\\0' a"},
        id="c1",
    )
    use_openai.script(ToolCalls((flood,)), Text("that was a lot"), Text("second turn ok"))
    run = advance(start())
    assert run.status == Run.Status.SUCCEEDED
    tool_message = Message.objects.get(session=run.session, role="tool")
    assert len(tool_message.text) < 100_000
    assert advance(start("again", run_id="r2")).status == Run.Status.SUCCEEDED


def test_a_hanging_tool_times_out(
    agent: Agent, use_openai: FakeOpenAIServer, enqueued: list[int], published: Published
) -> None:
    hang = FakeToolCall(name="exec", arguments={"command": "sleep 30", "timeout": 1}, id="c1")
    use_openai.script(ToolCalls((hang,)), Text("it hung"))
    began = time.monotonic()
    run = advance(start())
    assert time.monotonic() - began < 15
    assert run.status == Run.Status.SUCCEEDED
    step = RunStep.objects.get(run=run, kind="tool_call")
    assert step.output["isError"] is True


def test_step_limit_ends_the_run_with_a_clear_error(
    agent: Agent,
    use_openai: FakeOpenAIServer,
    settings: Any,
    enqueued: list[int],
    published: Published,
) -> None:
    use_openai.set_default(ToolCalls((FakeToolCall(name="ls", arguments={}),)))
    run = start()
    Run.objects.filter(pk=run.pk).update(max_steps=4)
    run = advance(run)

    assert run.status == Run.Status.FAILED
    assert "steps without a final answer" in run.error_message


# --- secrets ----------------------------------------------------------------------------
def test_secrets_never_reach_the_model_through_a_tool_result(
    agent: Agent,
    use_openai: FakeOpenAIServer,
    enqueued: list[int],
    published: Published,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ws = agent_workspace_path(agent)
    ws.mkdir(parents=True, exist_ok=True)
    (ws / "leak.txt").write_text(f"the key is {KEY}\n")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    calls = (
        FakeToolCall(name="read", arguments={"path": "leak.txt"}, id="c1"),
        FakeToolCall(name="exec", arguments={"command": "env"}, id="c2"),
    )
    use_openai.script(ToolCalls(calls), Text("done"))
    run = advance(start())

    assert run.status == Run.Status.SUCCEEDED
    sent = json.dumps([r.body for r in use_openai.requests])
    assert KEY not in sent
    assert "[redacted]" in sent
    assert not Message.objects.filter(content__icontains=KEY).exists()


# --- queue modes ------------------------------------------------------------------------
def _set_mode(mode: str) -> None:
    from sessions_app.services import session_patch

    session_patch(key="agent:main:main", changes={"queue_mode": mode})


def _two_queued(mode: str) -> tuple[Run, Run]:
    """Two messages queued in the main session, the session in queue ``mode``."""
    start("first", "r1")
    _set_mode(mode)
    return Run.objects.get(run_id="r1"), start("second", "r2")


def test_collect_merges_queued_messages_into_one_turn(
    agent: Agent, use_openai: FakeOpenAIServer, enqueued: list[int], published: Published
) -> None:
    r1 = start("first", "r1")
    start("second", "r2")
    start("third", "r3")
    use_openai.script(Text("one answer for all"))
    advance(r1)

    statuses = dict(Run.objects.values_list("run_id", "status"))
    assert statuses == {"r1": "succeeded", "r2": "merged", "r3": "merged"}
    assert len(use_openai.requests) == 1
    users = [m for m in use_openai.requests[0].body["messages"] if m["role"] == "user"]
    assert [u["content"] for u in users] == ["first", "second", "third"]
    assert [c["state"] for c in chats(published, "r2")] == ["final"]
    assert runs.run_status(run_id="r3").reply_text == "one answer for all"  # type: ignore[union-attr]
    assert not Run.objects.filter(status="queued").exists()


def test_followup_answers_each_message_in_its_own_turn(
    agent: Agent, use_openai: FakeOpenAIServer, enqueued: list[int], published: Published
) -> None:
    r1, r2 = _two_queued("followup")
    use_openai.script(Text("answer one"), Text("answer two"))
    advance(r1)
    advance(r2)

    assert dict(Run.objects.values_list("run_id", "status")) == {
        "r1": "succeeded",
        "r2": "succeeded",
    }
    second = use_openai.requests[1].body["messages"]
    assert [m["role"] for m in second if m["role"] != "system"] == ["user", "assistant", "user"]


def test_interrupt_aborts_the_running_turn_and_answers_the_newest(
    agent: Agent, use_openai: FakeOpenAIServer, enqueued: list[int], published: Published
) -> None:
    r1 = start("long task", "r1")
    _set_mode("interrupt")
    use_openai.script(Text("a b c d e f g h i j", chunks=10, delay_s=0.2), Text("newest answered"))
    worker = threading.Thread(target=run_loop.run_advance, kwargs={"run_pk": r1.pk})
    worker.start()
    deadline = time.monotonic() + 10
    while not Run.objects.filter(pk=r1.pk, status="running").exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    r2 = start("never mind, do this", "r2")
    worker.join(10)
    assert Run.objects.get(pk=r1.pk).status == Run.Status.ABORTED
    assert advance(r2).status == Run.Status.SUCCEEDED
    assert chats(published, "r2")[-1]["message"]["content"][0]["text"] == "newest answered"


def test_steer_injects_a_message_at_the_next_tool_boundary(
    agent: Agent, use_openai: FakeOpenAIServer, enqueued: list[int], published: Published
) -> None:
    r1 = start("do a slow thing", "r1")
    _set_mode("steer")
    slow = FakeToolCall(name="exec", arguments={"command": "sleep 1; echo slept"}, id="c1")
    use_openai.script(ToolCalls((slow,)), Text("done, and noted the steer"))
    worker = threading.Thread(target=run_loop.run_advance, kwargs={"run_pk": r1.pk})
    worker.start()
    deadline = time.monotonic() + 10
    while not RunStep.objects.filter(run=r1, kind="tool_call").exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    start("also mention the weather", "r2")
    worker.join(15)

    assert dict(Run.objects.values_list("run_id", "status")) == {"r1": "succeeded", "r2": "merged"}
    assert len(use_openai.requests) == 2
    roles = [
        (m["role"], m.get("content") if m["role"] == "user" else None)
        for m in use_openai.requests[1].body["messages"]
        if m["role"] != "system"
    ]
    assert roles[-1] == ("user", "also mention the weather")
    assert roles[-2][0] == "tool"


def test_steer_falls_back_to_followup_when_the_turn_ends_first(
    agent: Agent, use_openai: FakeOpenAIServer, enqueued: list[int], published: Published
) -> None:
    r1, r2 = _two_queued("steer")
    use_openai.script(Text("answer one"), Text("answer two"))
    advance(r1)
    assert Run.objects.get(pk=r2.pk).status == Run.Status.QUEUED
    assert advance(r2).status == Run.Status.SUCCEEDED


# --- compaction by hand: agents/tests/test_compaction_manual.py, gateway/tests/test_sessions_compact.py


def test_queue_mode_is_patched_per_session_and_validated(agent: Agent, enqueued: list[int]) -> None:
    from gateway.methods.registry import MethodError
    from gateway.tests.test_methods_catalog import call

    start()
    call("sessions.patch", {"key": "main", "queueMode": "followup"})
    assert Session.objects.get(key="agent:main:main").queue_mode == "followup"
    with pytest.raises(MethodError, match="queueMode 'sideways' is not one of"):
        call("sessions.patch", {"key": "main", "queueMode": "sideways"})
    call("sessions.patch", {"key": "main", "queueMode": None})
    assert Session.objects.get(key="agent:main:main").queue_mode == ""


# --- found in review: ids, resumes, limits ----------------------------------------------
def test_repeated_and_overlong_tool_call_ids_run_each_call_once(
    agent: Agent, use_openai: FakeOpenAIServer, enqueued: list[int], published: Published
) -> None:
    long_id = "call_" + "x" * 300  # longer than RunStep.tool_call_id
    first = FakeToolCall(
        name="exec", arguments={"command": "echo FIRST >> log.txt; echo FIRST"}, id="call_0"
    )
    second = FakeToolCall(
        name="exec", arguments={"command": "echo SECOND >> log.txt; echo SECOND"}, id="call_0"
    )
    third = FakeToolCall(
        name="exec", arguments={"command": "echo THIRD >> log.txt; echo THIRD"}, id=long_id
    )
    use_openai.script(ToolCalls((first,)), ToolCalls((second,)), ToolCalls((third,)), Text("done"))
    run = advance(start())

    assert run.status == Run.Status.SUCCEEDED, run.error_message
    ws = agent_workspace_path(agent)
    assert (ws / "log.txt").read_text() == "FIRST\nSECOND\nTHIRD\n"
    last = use_openai.requests[-1].body["messages"]
    results = [m["content"] for m in last if m["role"] == "tool"]
    assert [r.split("\n")[0] for r in results] == ["FIRST", "SECOND", "THIRD"]
    tool_ids = [m["tool_call_id"] for m in last if m["role"] == "tool"]
    assert tool_ids == ["call_0", "call_0", long_id]


def test_runs_merged_before_a_restart_end_with_the_resumed_turn(
    agent: Agent, use_openai: FakeOpenAIServer, enqueued: list[int], published: Published
) -> None:
    r1 = start("first", "r1")
    start("second", "r2")
    owner = "dead-worker"
    assert claim.run_claim(run_pk=r1.pk, owner=owner) is not None  # merges r2
    assert Run.objects.get(run_id="r2").status == Run.Status.MERGED
    # The worker died; the sweeper hands r1 back.
    Run.objects.filter(pk=r1.pk).update(
        status=Run.Status.QUEUED, lease_owner="", lease_expires_at=None
    )
    use_openai.script(Text("one answer"))
    advance(r1)

    r2 = Run.objects.get(run_id="r2")
    assert r2.finished_at is not None
    assert [c["state"] for c in chats(published, "r2")] == ["final"]
    assert runs.run_status(run_id="r2").reply_text == "one answer"  # type: ignore[union-attr]


def test_an_aborted_turn_does_not_swallow_messages_queued_meanwhile(
    agent: Agent, use_openai: FakeOpenAIServer, enqueued: list[int], published: Published
) -> None:
    r1 = start("first", "r1")
    start("second", "r2")
    Run.objects.filter(pk=r1.pk).update(cancel_requested=True)
    advance(r1)

    assert Run.objects.get(run_id="r1").status == Run.Status.ABORTED
    assert Run.objects.get(run_id="r2").status == Run.Status.QUEUED
    use_openai.script(Text("second answered"))
    assert advance(Run.objects.get(run_id="r2")).status == Run.Status.SUCCEEDED


def test_the_step_limit_comes_from_the_setting(
    agent: Agent, use_openai: FakeOpenAIServer, settings: Any, enqueued: list[int]
) -> None:
    settings.AGENT_MAX_STEPS = 3
    use_openai.set_default(ToolCalls((FakeToolCall(name="ls", arguments={}),)))
    run = start()
    assert run.max_steps == 3
    run = advance(run)
    assert run.status == Run.Status.FAILED
    assert RunStep.objects.filter(run=run, kind="tool_call").count() == 1


def test_every_fallback_model_gets_an_attempt_whatever_the_primarys_keys(
    agent: Agent, use_openai: FakeOpenAIServer, settings: Any
) -> None:
    settings.ANTHROPIC_API_KEY = "sk-ant-test-0123456789"
    for n in range(3):
        ModelProvider.objects.create(
            provider="openai", api="openai-chat", api_key=f"sk-more-{n}-123456789", priority=n
        )
    plan = failover.plan_attempts(
        ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"], max_attempts=3
    )
    assert [a.model_ref for a in plan].count("anthropic/claude-haiku-4-5") == 1
    assert len(plan) == 3


def test_exec_outside_the_main_session_is_sandboxed_by_default(
    agent: Agent, use_openai: FakeOpenAIServer, enqueued: list[int], published: Published
) -> None:
    from agents.tools.sandbox import sandbox_available

    assert agent.sandbox_mode == Agent.SandboxMode.NON_MAIN  # the model's default
    call = FakeToolCall(name="exec", arguments={"command": "echo hi"}, id="c1")
    use_openai.script(ToolCalls((call,)), Text("ok"), ToolCalls((call,)), Text("ok"))
    main_run = advance(start("in main", run_id="m1"))
    other_run = advance(start("elsewhere", run_id="o1", key="agent:main:telegram:direct:42"))

    main_step = RunStep.objects.get(run=main_run, kind="tool_call")
    assert main_step.output["meta"]["sandboxed"] is False
    other_step = RunStep.objects.get(run=other_run, kind="tool_call")
    if sandbox_available():
        assert other_step.output["meta"]["sandboxed"] is True
    else:
        assert "sandboxed exec needs" in other_step.output["content"]
