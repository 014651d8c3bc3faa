"""Limits that limit: the run's time limit, abort and cooldowns, with stalled providers.

The run watchdog (``agents.runtime.watchdog``) holds a turn to its time limit and to
``chat.abort`` even while its provider stalls (Celery's threads pool enforces no time
limit, and the loop reads its flags only between chunks); a key in cooldown is not
called. Real SDKs against the fake servers of ``tests/fakes``; the turn runs on a
worker thread when the test must act while it runs.
"""

# The fixtures shared with test_run_loop are imported, then named as parameters.
# ruff: noqa: F811

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agents.models import Agent, AuthProfileState, ModelProvider, Run, RunStep
from agents.providers import ModelRequest, StreamDone, StreamEvent, TextDelta, Usage
from agents.runtime import failover, model_call
from agents.runtime import loop as run_loop
from agents.runtime import watchdog as watchdog_module
from agents.services import runs
from agents.tests.test_run_loop import (  # noqa: F401  (fixtures)
    Published,
    _runtime_settings,
    advance,
    agent,
    anthropic_fake,
    chats,
    enqueued,
    openai_fake,
    published,
    start,
    use_anthropic,
    use_openai,
)
from sessions_app.models import Message
from tests.fakes.llm_server import FakeLLMServer, Hang, HttpError, Step, Text
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.django_db(transaction=True)

STALLS: dict[str, Step] = {
    # The provider sits on the request: no response, nothing to close but the socket.
    "before the headers": Hang(3600),
    # The provider sent a first chunk, then nothing.
    "mid-stream": Text("partial words then silence", chunks=2, delay_s=3600),
}


def _wait_for(what: str, probe: Callable[[], object], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def _in_thread(run: Run) -> threading.Thread:
    worker = threading.Thread(target=run_loop.run_advance, kwargs={"run_pk": run.pk}, daemon=True)
    worker.start()
    return worker


def _stalled(fake: FakeLLMServer, stall: str, published: Published) -> None:
    """Wait until the turn's request is stalled at ``stall``."""
    _wait_for("the model request", lambda: fake.requests)
    if stall == "mid-stream":
        _wait_for(
            "the first chunk",
            lambda: any(e == "agent" and p["stream"] == "assistant" for e, p in published),
        )
    time.sleep(0.3)  # blocked in recv by now


def _cooling(profile_id: str) -> bool:
    return AuthProfileState.objects.filter(
        profile_id=profile_id, cooldown_until__isnull=False
    ).exists()


@pytest.fixture
def stall_timeouts(settings: Any) -> None:
    """A one-second run limit; the SDK's own read timeout far beyond it."""
    settings.AGENT_RUN_TIMEOUT_S = 1
    settings.AGENT_MODEL_TIMEOUT_S = 60


# --- 1. the hard time limit, in any pool ------------------------------------------------
@pytest.mark.parametrize("stall", sorted(STALLS))
def test_a_stalled_stream_ends_the_run_at_its_time_limit(
    agent: Agent,
    use_openai: FakeOpenAIServer,
    stall_timeouts: None,
    enqueued: list[int],
    published: Published,
    stall: str,
) -> None:
    use_openai.script(STALLS[stall])
    began = time.monotonic()
    run = advance(start())
    elapsed = time.monotonic() - began

    assert (run.status, run.error_kind) == (Run.Status.FAILED, "timeout"), run.error_message
    assert elapsed < 1 + watchdog_module.GRACE_S + 1.5, elapsed
    final = chats(published)[-1]
    assert (final["state"], final["errorKind"]) == ("error", "timeout")
    assert "OPENCLAW_RUN_TIMEOUT_S" in final["errorMessage"]
    assert "while calling openai/gpt-4o-mini via openai:env" in final["errorMessage"]
    step = RunStep.objects.get(run=run, kind="model_call")
    assert step.status == RunStep.Status.FAILED
    assert "OPENCLAW_RUN_TIMEOUT_S" in step.error
    assert len(use_openai.requests) == 1
    assert not _cooling("openai:env")  # the key did nothing wrong


class _DeafProvider:
    """A provider stuck where closing a socket does not reach it (not the watchdog's cut)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def stream(self, request: ModelRequest) -> Iterator[StreamEvent]:
        self.release.wait(30)
        yield TextDelta("too late")
        yield StreamDone(usage=Usage(1, 1))


def test_a_turn_stuck_past_its_limit_is_ended_by_the_watchdog_and_writes_nothing_after(
    agent: Agent,
    use_openai: FakeOpenAIServer,
    stall_timeouts: None,
    enqueued: list[int],
    published: Published,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(watchdog_module, "HARD_GRACE_S", 0.5)
    deaf = _DeafProvider()
    monkeypatch.setattr(model_call, "provider_client", lambda profile, **kw: deaf)
    run = start()
    began = time.monotonic()
    worker = _in_thread(run)
    _wait_for(
        "the watchdog to end the run",
        lambda: Run.objects.filter(pk=run.pk, status=Run.Status.FAILED).exists(),
    )
    elapsed = time.monotonic() - began

    assert elapsed < 1 + watchdog_module.GRACE_S + 0.5 + 1.5, elapsed
    assert worker.is_alive()  # still stuck: the run was ended without it
    run.refresh_from_db()
    assert (run.error_kind, run.lease_owner) == ("timeout", "")
    assert "OPENCLAW_RUN_TIMEOUT_S" in run.error_message
    ended = [c["state"] for c in chats(published) if c["state"] in ("final", "error", "aborted")]
    assert ended == ["error"]
    assert RunStep.objects.get(run=run, kind="model_call").status == RunStep.Status.FAILED

    deaf.release.set()
    worker.join(5)
    assert not worker.is_alive()
    # The stuck thread found its lease gone: no second ending, no reply written.
    ended = [c["state"] for c in chats(published) if c["state"] in ("final", "error", "aborted")]
    assert ended == ["error"]
    after = Run.objects.get(pk=run.pk)
    assert (after.status, after.finished_at) == (Run.Status.FAILED, run.finished_at)
    assert not Message.objects.filter(session=run.session, role="assistant").exists()
    assert watchdog_module.watchdog().in_flight() == []


# --- 2. chat.abort while the provider stalls --------------------------------------------
@pytest.mark.parametrize(
    ("vendor", "stall"),
    [
        ("openai", "before the headers"),
        ("openai", "mid-stream"),
        ("anthropic", "before the headers"),
        ("anthropic", "mid-stream"),
    ],
)
def test_abort_cuts_a_stalled_stream_within_a_second(
    agent: Agent,
    settings: Any,
    enqueued: list[int],
    published: Published,
    request: pytest.FixtureRequest,
    vendor: str,
    stall: str,
) -> None:
    fake: FakeLLMServer = request.getfixturevalue(f"use_{vendor}")
    settings.AGENT_MODEL_TIMEOUT_S = 60
    fake.script(STALLS[stall])
    run = start()
    worker = _in_thread(run)
    _stalled(fake, stall, published)

    began = time.monotonic()
    assert runs.run_abort(session_key="agent:main:main") == ["r1"]
    worker.join(5)
    elapsed = time.monotonic() - began

    run.refresh_from_db()
    assert run.status == Run.Status.ABORTED
    assert elapsed < 1.5, elapsed
    assert chats(published)[-1]["state"] == "aborted"
    if stall == "mid-stream":
        partial = Message.objects.get(session=run.session, role="assistant")
        assert partial.stop_reason == "aborted"
        assert partial.text.startswith("partial")
    assert len(fake.requests) == 1
    assert not AuthProfileState.objects.filter(cooldown_until__isnull=False).exists()


def test_an_abort_from_another_process_is_seen_by_the_watchdog_poll(
    agent: Agent,
    use_openai: FakeOpenAIServer,
    settings: Any,
    enqueued: list[int],
    published: Published,
) -> None:
    """Team mode: the flag is set by another host; only the poll can see it."""
    settings.AGENT_MODEL_TIMEOUT_S = 60
    use_openai.script(STALLS["before the headers"])
    run = start()
    worker = _in_thread(run)
    _stalled(use_openai, "before the headers", published)

    began = time.monotonic()
    Run.objects.filter(pk=run.pk).update(cancel_requested=True)  # no wake-up in this process
    worker.join(5)
    elapsed = time.monotonic() - began

    assert Run.objects.get(pk=run.pk).status == Run.Status.ABORTED
    assert elapsed < watchdog_module.POLL_S + 1.0, elapsed


def test_a_fast_turn_costs_the_watchdog_no_query(
    agent: Agent,
    use_openai: FakeOpenAIServer,
    enqueued: list[int],
    published: Published,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert advance(start("warm up", "w1")).status == Run.Status.SUCCEEDED  # SDK imported
    looks: list[int] = []
    look = watchdog_module.Watchdog._look

    def counting(self: watchdog_module.Watchdog, flights: list[watchdog_module.Flight]) -> None:
        looks.append(len(flights))
        look(self, flights)

    monkeypatch.setattr(watchdog_module.Watchdog, "_look", counting)
    assert advance(start("fast", "r1")).status == Run.Status.SUCCEEDED
    time.sleep(watchdog_module.POLL_S * 3)  # idle now

    assert looks == []
    assert watchdog_module.watchdog().in_flight() == []


# --- 3. a key in cooldown is not called -------------------------------------------------
def test_after_a_429_on_the_only_key_the_next_turn_does_not_call_it_during_the_cooldown(
    agent: Agent,
    use_openai: FakeOpenAIServer,
    settings: Any,
    enqueued: list[int],
    published: Published,
) -> None:
    settings.AGENT_RUN_TIMEOUT_S = 30  # shorter than the first cooldown (60 s)
    use_openai.script(HttpError(429, retry_after="0"))
    first = advance(start("one", "r1"))
    assert (first.status, first.error_kind) == (Run.Status.FAILED, "rate_limit")
    assert len(use_openai.requests) == 1

    began = time.monotonic()
    second = advance(start("two", "r2"))

    assert time.monotonic() - began < 2  # fails at once, no waiting
    assert len(use_openai.requests) == 1  # the rate-limited key was not called
    assert (second.status, second.error_kind) == (Run.Status.FAILED, "rate_limit")
    error = chats(published, "r2")[-1]
    assert error["errorKind"] == "rate_limit"
    assert "openai:env until" in error["errorMessage"]
    assert "usable again at" in error["errorMessage"]
    step = RunStep.objects.get(run=second, kind="model_call")
    assert step.status == RunStep.Status.FAILED
    assert step.output["failover"][0].startswith(
        "skipped openai:env for openai/gpt-4o-mini: in cooldown until"
    )


def test_a_key_in_cooldown_is_skipped_for_another_key(
    agent: Agent,
    use_openai: FakeOpenAIServer,
    settings: Any,
    enqueued: list[int],
    published: Published,
) -> None:
    row = ModelProvider.objects.create(
        provider="openai",
        api=ModelProvider.Api.OPENAI_CHAT,
        base_url=use_openai.base_url,
        api_key="sk-limited-0123456789",
    )
    with FakeOpenAIServer() as other:
        settings.OPENAI_BASE_URL = other.base_url  # the environment key's server
        use_openai.script(HttpError(429, retry_after="0"))
        other.script(Text("from the second key"), Text("again from the second key"))
        assert advance(start("one", "r1")).status == Run.Status.SUCCEEDED
        assert (len(use_openai.requests), len(other.requests)) == (1, 1)

        second = advance(start("two", "r2"))

        assert second.status == Run.Status.SUCCEEDED
        assert (len(use_openai.requests), len(other.requests)) == (1, 2)
    assert chats(published, "r2")[-1]["message"]["content"][0]["text"] == (
        "again from the second key"
    )
    step = RunStep.objects.get(run=second, kind="model_call")
    assert step.output["profile"] == "openai:env"
    assert step.output["failover"] == [step.output["failover"][0]]
    assert step.output["failover"][0].startswith(f"skipped {row.profile_id} for openai/")
    # No retry status: nothing failed in this turn, the key was simply not called.
    assert not [c for c in chats(published, "r2") if c["state"] == "status" and "retry" in c]


def test_a_model_whose_keys_cool_down_is_skipped_for_the_fallback_model(
    agent: Agent,
    use_openai: FakeOpenAIServer,
    use_anthropic: FakeLLMServer,
    enqueued: list[int],
    published: Published,
) -> None:
    agent.model_primary = "openai/gpt-4o-mini"
    agent.model_fallbacks = ["anthropic/claude-haiku-4-5"]
    agent.save()
    use_openai.script(HttpError(429, retry_after="0"))
    use_anthropic.script(Text("fallback one"), Text("fallback two"))
    assert advance(start("one", "r1")).status == Run.Status.SUCCEEDED

    second = advance(start("two", "r2"))

    assert second.status == Run.Status.SUCCEEDED
    assert second.model == "anthropic/claude-haiku-4-5"
    assert len(use_openai.requests) == 1
    assert len(use_anthropic.requests) == 2
    step = RunStep.objects.get(run=second, kind="model_call")
    assert step.output["failover"][0].startswith("skipped openai:env for openai/gpt-4o-mini")


def test_when_every_key_cools_down_the_turn_waits_for_the_first_and_says_so(
    agent: Agent,
    use_openai: FakeOpenAIServer,
    enqueued: list[int],
    published: Published,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(failover, "COOLDOWN_STEPS_S", (1, 1, 1, 1))
    use_openai.script(HttpError(429, retry_after="0"), Text("after the cooldown"))
    began = time.monotonic()
    run = advance(start())
    elapsed = time.monotonic() - began

    assert run.status == Run.Status.SUCCEEDED, run.error_message
    assert len(use_openai.requests) == 2
    assert elapsed >= 0.9
    waits = [c for c in chats(published) if c["state"] == "status" and "waitMs" in c]
    assert len(waits) == 1
    assert 0 < waits[0]["waitMs"] <= 1000
    assert waits[0]["retry"] == {"attempt": 2, "maxAttempts": 3, "reason": "rate_limit"}
    assert "every key is in cooldown: waiting" in waits[0]["message"]
    notes = RunStep.objects.get(run=run, kind="model_call").output["failover"]
    assert notes[0].startswith("openai/gpt-4o-mini via openai:env failed (rate_limit)")
    assert notes[-1].startswith("waited 1 s for the cooldown of openai:env")


def test_abort_while_waiting_for_a_cooldown_ends_the_run_at_once(
    agent: Agent,
    use_openai: FakeOpenAIServer,
    enqueued: list[int],
    published: Published,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(failover, "COOLDOWN_STEPS_S", (30, 30, 30, 30))
    use_openai.script(HttpError(429, retry_after="0"))
    run = start()
    worker = _in_thread(run)
    _wait_for(
        "the wait for the cooldown",
        lambda: any(c["state"] == "status" and "waitMs" in c for c in chats(published)),
    )

    began = time.monotonic()
    assert runs.run_abort(session_key="agent:main:main") == ["r1"]
    worker.join(5)
    elapsed = time.monotonic() - began

    assert Run.objects.get(pk=run.pk).status == Run.Status.ABORTED
    assert elapsed < 1.5, elapsed
    assert len(use_openai.requests) == 1


# --- 4. shutdown (the process side is tests/test_shutdown_process.py) --------------------
@pytest.fixture
def fresh_watchdog(monkeypatch: pytest.MonkeyPatch) -> watchdog_module.Watchdog:
    """A watchdog of its own: shutting it down must not stop the other tests' runs."""
    dog = watchdog_module.Watchdog()
    monkeypatch.setattr(run_loop, "watchdog", lambda: dog)
    return dog


def test_shutdown_hands_back_a_run_whose_thread_is_stuck_and_the_thread_stays_quiet(
    agent: Agent,
    use_openai: FakeOpenAIServer,
    enqueued: list[int],
    published: Published,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    fresh_watchdog: watchdog_module.Watchdog,
) -> None:
    deaf = _DeafProvider()
    monkeypatch.setattr(model_call, "provider_client", lambda profile, **kw: deaf)
    run = start()
    worker = _in_thread(run)
    _wait_for("the model call", lambda: RunStep.objects.filter(run=run).exists())
    time.sleep(0.1)

    with caplog.at_level("WARNING", logger="agents.runtime.watchdog"):
        cut = fresh_watchdog.shutdown(wait_s=0.3)

    assert [f.run_id for f in cut] == ["r1"]
    handed = Run.objects.get(pk=run.pk)
    assert (handed.status, handed.lease_owner, handed.error_kind) == (Run.Status.QUEUED, "", "")
    lines = [r.getMessage() for r in caplog.records if "cut off run r1" in r.getMessage()]
    assert len(lines) == 1
    assert "(session agent:main:main) while calling openai/gpt-4o-mini via openai:env" in lines[0]
    assert "its thread did not stop" in lines[0]

    deaf.release.set()
    worker.join(5)
    assert not worker.is_alive()
    after = Run.objects.get(pk=run.pk)
    assert (after.status, after.lease_owner) == (Run.Status.QUEUED, "")  # resumable
    assert not [c for c in chats(published) if c["state"] in ("final", "error", "aborted")]
    assert not Message.objects.filter(session=run.session, role="assistant").exists()


def test_a_run_is_not_claimed_once_the_process_stops(
    agent: Agent,
    use_openai: FakeOpenAIServer,
    enqueued: list[int],
    fresh_watchdog: watchdog_module.Watchdog,
) -> None:
    run = start()
    assert fresh_watchdog.shutdown(wait_s=0) == []
    run_loop.run_advance(run_pk=run.pk)

    assert Run.objects.get(pk=run.pk).status == Run.Status.QUEUED  # for the next start
    assert use_openai.requests == []
