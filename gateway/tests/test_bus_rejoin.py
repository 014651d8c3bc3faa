"""The team bus's catch-up, in process: what is re-announced, that it is the shape the run's
ending announced, that nothing reaches a socket twice, and the subscriber against a real
Redis making its subscription again after its connection is killed.

The restart of a real Redis with real gateway and worker processes is
tests/test_bus_rejoin_process.py.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import redis
from django.utils import timezone

from agents.models import Agent, Run
from agents.runtime import enqueue
from agents.runtime import loop as run_loop
from agents.runtime.replay import EndedChat, ended_run_chats
from agents.services import runs
from core import events, redact, ttlcache
from gateway import bus, bus_redis
from gateway.bus_catchup import RunMemory
from tests.fakes.llm_server import HttpError, Text
from tests.fakes.openai_server import FakeOpenAIServer

Published = list[tuple[str, dict[str, Any]]]


def _chat(run_id: str, state: str, seq: int = 1) -> dict[str, Any]:
    return bus.bus_message(
        "chat", {"runId": run_id, "state": state, "seq": seq}, session_key="agent:main:main"
    )


# --- what a process remembers ------------------------------------------------------------
def test_a_run_end_passes_once_and_open_runs_keep_their_last_seq() -> None:
    memory = RunMemory()
    assert memory.admit(_chat("r1", "delta", seq=3))
    assert memory.admit(bus.bus_message("agent", {"runId": "r1", "seq": 5, "stream": "assistant"}))
    assert memory.open == {"r1": 5}
    assert memory.admit(_chat("r1", "final", seq=6))
    assert memory.open == {}
    assert not memory.admit(_chat("r1", "final", seq=6))  # the late copy is dropped
    assert not memory.admit(_chat("r1", "error"))
    assert memory.admit(_chat("r1", "delta"))  # never reopened, but not dropped either
    assert memory.open == {}
    assert memory.admit(bus.bus_message("health", {"ok": True}))


def test_the_memory_is_bounded() -> None:
    memory = RunMemory(size=3)
    for i in range(5):
        memory.admit(_chat(f"r{i}", "final"))
        memory.admit(_chat(f"o{i}", "delta"))
    assert list(memory.ended) == ["r2", "r3", "r4"]
    assert list(memory.open) == ["o2", "o3", "o4"]


# --- the ends rebuilt from the database ---------------------------------------------------
@pytest.fixture
def openai_fake(settings: Any, tmp_path: Path) -> Iterator[FakeOpenAIServer]:
    settings.WORKSPACES_DIR = tmp_path / "workspaces"
    settings.AGENT_MODEL_TIMEOUT_S = 5
    settings.AGENT_RUN_TIMEOUT_S = 5
    settings.OPENCLAW_MODEL_FALLBACKS = []
    settings.ANTHROPIC_API_KEY = ""
    settings.OPENAI_API = "chat"
    with FakeOpenAIServer() as fake:
        settings.OPENAI_API_KEY = "sk-test-openai-0123456789abcdef"
        settings.OPENAI_BASE_URL = fake.base_url
        settings.OPENCLAW_MODEL = "openai/gpt-4o-mini"
        redact.forget()
        ttlcache.forget_all()
        yield fake


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> Iterator[Published]:
    captured: Published = []
    lock = threading.Lock()

    def publisher(event: str, payload: dict[str, Any], **kwargs: Any) -> None:
        with lock:
            captured.append((event, json.loads(json.dumps(payload))))

    monkeypatch.setattr(enqueue, "send", lambda *args: None)  # runs are advanced here
    previous = events._publisher
    events.register_publisher(publisher)
    yield captured
    events.register_publisher(previous)


def _ends(published: Published) -> dict[str, dict[str, Any]]:
    return {
        p["runId"]: p
        for e, p in published
        if e == "chat" and p["state"] in ("final", "error", "aborted")
    }


def _comparable(payload: dict[str, Any]) -> dict[str, Any]:
    """A chat end without what is not stored: its seq and the message's timestamp."""
    out = {k: v for k, v in payload.items() if k != "seq"}
    if "message" in out:
        out["message"] = {k: v for k, v in out["message"].items() if k != "timestamp"}
    return out


@pytest.mark.django_db(transaction=True)
def test_each_replayed_end_is_the_end_its_run_announced(
    openai_fake: FakeOpenAIServer, published: Published
) -> None:
    Agent.objects.create(slug="main", name="Main", is_default=True)
    before = timezone.now() - timedelta(seconds=1)

    def start(text: str, run_id: str, key: str) -> Run:
        return runs.run_start(session_key=key, message=text, idempotency_key=run_id).run

    # Succeeded, with two queued messages merged into it (collect mode).
    first = start("first", "ok", "agent:main:a")
    start("second", "merged-1", "agent:main:a")
    openai_fake.script(Text("one answer", chunks=3))
    run_loop.run_advance(run_pk=first.pk)
    # Failed: the provider refuses.
    failing = start("fail please", "failed", "agent:main:b")
    openai_fake.script(HttpError(400))
    run_loop.run_advance(run_pk=failing.pk)
    # Aborted while queued (no worker ever took it).
    start("never mind", "aborted", "agent:main:c")
    assert runs.run_abort(session_key="agent:main:c") == ["aborted"]
    # Silent: NO_REPLY is in the transcript, and the final carries no message.
    silent = start("say nothing", "silent", "agent:main:d")
    openai_fake.script(Text("NO_REPLY"))
    run_loop.run_advance(run_pk=silent.pk)

    live = _ends(published)
    assert set(live) == {"ok", "merged-1", "failed", "aborted", "silent"}
    replayed = {c.run_id: c for c in ended_run_chats(finished_since=before)}
    assert set(replayed) == set(live)
    for run_id, payload in live.items():
        chat = replayed[run_id]
        assert _comparable(chat.payload) == _comparable(payload), run_id
        assert chat.session_key == payload["sessionKey"]
    assert replayed["ok"].payload["message"]["content"][0]["text"] == "one answer"
    assert "message" not in replayed["silent"].payload

    # The seq continues from what the sockets saw; open run ids are read whenever they ended.
    later = timezone.now() + timedelta(hours=1)
    only = ended_run_chats(finished_since=later, run_ids=["failed"], seqs={"failed": 7})
    assert [(c.run_id, c.payload["seq"]) for c in only] == [("failed", 8)]
    assert ended_run_chats(finished_since=later, run_ids=["no-such-run"]) == []


# --- the subscriber against a real Redis --------------------------------------------------
class Listener:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def deliver_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def ends(self, run_id: str) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e["event"] == "chat"
            and e["payload"].get("runId") == run_id
            and e["payload"].get("state") == "final"
        ]


async def _until(check: Any, wait_s: float = 10) -> None:
    deadline = time.monotonic() + wait_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def _our_subscriptions(admin: redis.Redis) -> list[str]:
    clients: list[dict[str, Any]] = admin.client_list()  # type: ignore[assignment]
    return [str(c["id"]) for c in clients if c["name"] == bus_redis.subscriber_name()]


@pytest.mark.services
@pytest.mark.asyncio
async def test_a_killed_subscription_is_made_again_and_the_missed_end_arrives_once(
    services: dict[str, str], settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.REDIS_URL = services["REDIS_URL"]
    settings.GATEWAY_BUS_HEALTH_CHECK_S = 1
    missed = EndedChat(
        "missed-run",
        "agent:main:main",
        {"runId": "missed-run", "sessionKey": "agent:main:main", "seq": 1, "state": "final"},
    )
    listener = Listener()
    catch_ups: list[float] = []

    async def missed_run_ends(memory: RunMemory, *, deaf_since: float) -> list[EndedChat]:
        catch_ups.append(deaf_since)
        return [missed, missed]

    admin = redis.Redis.from_url(settings.REDIS_URL)
    with mock.patch("gateway.bus_catchup.missed_run_ends", missed_run_ends):
        bus.attach(listener)
        try:
            assert await bus.wait_listening()
            await asyncio.to_thread(bus.publish, "chat", {"runId": "live-1", "state": "final"})
            await _until(lambda: listener.ends("live-1"))
            assert catch_ups == []  # the first subscription has nothing to catch up

            ours = await asyncio.to_thread(_our_subscriptions, admin)
            assert len(ours) == 1
            killed_at = time.time()
            await asyncio.to_thread(admin.client_kill_filter, _id=ours[0])
            await _until(lambda: listener.ends("missed-run"))
            assert catch_ups
            assert catch_ups[0] <= killed_at
            # The same end from Redis, late: not passed on again.
            await asyncio.to_thread(bus.publish, "chat", {"runId": "missed-run", "state": "final"})
            await asyncio.to_thread(bus.publish, "chat", {"runId": "live-2", "state": "final"})
            await _until(lambda: listener.ends("live-2"))
            assert len(listener.ends("missed-run")) == 1
            assert len(listener.ends("live-1")) == 1
        finally:
            bus.detach(listener)
            admin.close()
    warnings = [r for r in caplog.records if r.name == "gateway.bus_redis"]
    assert [r.levelname for r in warnings] == ["WARNING", "WARNING"]  # lost, then back
    assert not any(r.exc_info for r in warnings)  # no traceback per retry


def test_the_channel_is_per_redis_database() -> None:
    assert bus_redis.channel_name("redis://h:6379/3") == "openclaw:3:gateway.events"
    assert bus_redis.channel_name("redis://h:6379") == "openclaw:0:gateway.events"


def test_publishing_to_a_redis_that_is_down_logs_once_and_does_not_wait(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    publisher = bus_redis.Publisher(f"redis://127.0.0.1:{port}/0")
    started = time.monotonic()
    for i in range(20):
        publisher.publish(_chat(f"r{i}", "final"))
    assert time.monotonic() - started < bus_redis.PUBLISH_TIMEOUT_S
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "Redis unreachable" in warnings[0].getMessage()
    assert warnings[0].exc_info is None
