"""The SQL statements of one plain agent turn: the hot path of the inbound benchmark.

Every statement through the ORM costs a few hundred microseconds of CPU, so a change
that adds one to ``run_advance`` for the common case (a channel message, one model call
that answers text, no tools) must be deliberate: this test lists them and fails loudly.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents.models import Agent, Run, RunStep
from agents.providers import ModelRequest, StreamDone, StreamEvent, TextDelta, Usage
from agents.runtime import claim, control, enqueue, failover, model_call
from agents.runtime import loop as run_loop
from agents.services import runs
from channels_app.models import ChannelAccount, OutboundMessage
from core import events, ttlcache
from tests.fakes.llm_server import Text
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "sqlite",
        reason="SQLite's statements (BEGIN IMMEDIATE; no row locks); PostgreSQL adds "
        "session_lock's SELECT ... FOR UPDATE and logs no BEGIN",
    ),
]
SESSION_KEY = "agent:main:telegram:direct:42"
REPLY_TO = {"channel": "telegram", "accountId": "default", "chatId": "42"}

# run_advance of a warm channel turn (its session answered before), in order.
EXPECTED = [
    # the claim (agents.runtime.claim.run_claim), one transaction
    "BEGIN",
    "SELECT agents_run",  # the run and its session (select_related)
    "SELECT agents_run",  # the session's active runs (queue modes)
    "UPDATE agents_run",  # CAS queued -> running, lease, attempts, started_at
    "COMMIT",
    # no cancel-flag read: the claim read it (agents.runtime.control.CancelSeen);
    # no RunStep read: a first attempt has no steps (Claimed.fresh)
    "INSERT agents_runstep",  # the model step, running
    "SELECT sessions_app_message",  # history: the rows added since the last prompt
    # no cancel-flag read per chunk: at most every CHECK_EVERY_S, at once after a
    # cancel in this process (note_cancel); the ending's CAS requires the flag unset
    # the ending (agents.runtime.finish.Finish._end), one transaction
    "BEGIN",
    "UPDATE agents_run",  # CAS running -> succeeded, unless cancelled
    "UPDATE agents_runstep",  # the model step, done
    "UPDATE sessions_app_session",  # sessions_app.session_message_append: last_seq
    "INSERT sessions_app_message",  # ... the reply in the transcript
    "SAVEPOINT",  # channels_app outbound_enqueue (core.delivery): IntegrityError caught
    "INSERT channels_app_outboundmessage",  # ... the reply in the chat's outbox
    "RELEASE SAVEPOINT",
    "SELECT agents_run",  # kick_next: the session's next queued run
    "COMMIT",
]


def _shape(sql: str) -> str:
    """A statement as ``VERB table`` (``BEGIN``, ``SAVEPOINT`` ... alone)."""
    verb = sql.split(None, 1)[0].upper()
    if verb in ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT"):
        return verb
    if verb == "RELEASE":
        return "RELEASE SAVEPOINT"
    table = re.search(r'(?:FROM|INTO|UPDATE)\s+"?(\w+)"?', sql, re.IGNORECASE)
    return f"{verb} {table.group(1) if table else '?'}"


@pytest.fixture
def llm(settings: Any, tmp_path: Path) -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        settings.WORKSPACES_DIR = tmp_path / "workspaces"
        settings.OPENAI_API_KEY = "sk-test-openai-0123456789abcdef"
        settings.OPENAI_BASE_URL = fake.base_url
        settings.OPENAI_API = "chat"
        settings.OPENCLAW_MODEL = "openai/gpt-4o-mini"
        settings.OPENCLAW_MODEL_FALLBACKS = []
        settings.ANTHROPIC_API_KEY = ""
        ttlcache.forget_all()
        yield fake


@pytest.fixture
def published() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    captured: list[tuple[str, dict[str, Any]]] = []
    lock = threading.Lock()

    def publisher(event: str, payload: dict[str, Any], **kwargs: Any) -> None:
        json.dumps(payload)
        with lock:
            captured.append((event, payload))

    previous = events._publisher
    events.register_publisher(publisher)
    yield captured
    events.register_publisher(previous)


def _start(text: str, run_id: str) -> Run:
    return runs.run_start(
        session_key=SESSION_KEY,
        message=text,
        idempotency_key=run_id,
        origin=Run.Origin.CHANNEL,
        reply_to=REPLY_TO,
    ).run


def test_a_plain_channel_turn_issues_exactly_these_statements(
    llm: FakeOpenAIServer,
    published: list[tuple[str, dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(enqueue, "send", lambda *args, **kwargs: None)
    Agent.objects.create(slug="main", name="Main", is_default=True)
    ChannelAccount.objects.create(kind="telegram", account_id="default")
    # Keys in cooldown are read every COOLDOWN_CACHE_S (and after a key's first success):
    # not in this turn, however slow the machine.
    monkeypatch.setattr(failover._cooldown_cache, "ttl_s", 600.0)
    # Warm up: caches (agent, keys, cooldowns, prompt files, history rows) as in a
    # running gateway.
    for n in (1, 2):
        warm = _start(f"hello {n}", f"c{n}")
        run_loop.run_advance(run_pk=warm.pk)
        assert Run.objects.get(pk=warm.pk).status == Run.Status.SUCCEEDED

    llm.script(Text("one two three", chunks=3))
    run = _start("and again", "c3")
    # Well inside CHECK_EVERY_S: a slow machine must not read the flag (nor count it).
    monkeypatch.setattr(control, "CHECK_EVERY_S", 60.0)
    with CaptureQueriesContext(connection) as queries:
        run_loop.run_advance(run_pk=run.pk)

    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED
    assert (run.attempts, run.step_count) == (1, 1)
    assert run.started_at is not None
    assert RunStep.objects.get(run=run).status == RunStep.Status.DONE
    assert OutboundMessage.objects.filter(dedupe_key=f"run:{run.public_id}:reply").exists()
    deltas = [p for e, p in published if e == "agent" and p.get("stream") == "assistant"]
    assert "".join(p["data"]["delta"] for p in deltas[-3:]).strip() == "one two three"
    shapes = [_shape(q["sql"]) for q in queries.captured_queries]
    assert shapes == EXPECTED, "\n".join(q["sql"][:160] for q in queries.captured_queries)
    assert len(queries.captured_queries) == 17


# --- what the savings rely on -----------------------------------------------------------
class _CancelledElsewhere:
    """Streams the whole answer; meanwhile another process (team mode) sets the flag."""

    def __init__(self, run_pk: int) -> None:
        self.run_pk = run_pk

    def stream(self, request: ModelRequest) -> Iterator[StreamEvent]:
        yield TextDelta("all ")
        yield TextDelta("of it")
        Run.objects.filter(pk=self.run_pk).update(cancel_requested=True)  # no note_cancel
        yield StreamDone(usage=Usage(1, 2))


def test_a_cancel_after_the_last_check_still_ends_the_turn_aborted(
    llm: FakeOpenAIServer,
    published: list[tuple[str, dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No flag read after the stream: the ending's CAS requires it unset instead."""
    monkeypatch.setattr(enqueue, "send", lambda *args, **kwargs: None)
    monkeypatch.setattr(control, "CHECK_EVERY_S", 60.0)
    Agent.objects.create(slug="main", name="Main", is_default=True)
    run = _start("hello", "c1")
    monkeypatch.setattr(
        model_call, "provider_client", lambda profile, **kw: _CancelledElsewhere(run.pk)
    )

    run_loop.run_advance(run_pk=run.pk)

    run.refresh_from_db()
    assert run.status == Run.Status.ABORTED
    assert RunStep.objects.get(run=run).status == RunStep.Status.FAILED
    chats = [p for e, p in published if e == "chat"]
    assert (chats[-1]["state"], chats[-1]["stopReason"]) == ("aborted", "rpc")
    assert chats[-1]["message"]["content"][0]["text"] == "all of it"
    assert not OutboundMessage.objects.exists()


def test_a_run_claimed_and_handed_back_since_it_was_read_is_resumed(
    llm: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim's CAS wants the attempts it read; when another worker claimed the run
    in between (PostgreSQL), the run is claimed as it is and its steps are read."""
    monkeypatch.setattr(enqueue, "send", lambda *args, **kwargs: None)
    Agent.objects.create(slug="main", name="Main", is_default=True)
    run = _start("hello", "c1")
    started = timezone.now()
    # What the other worker did: claimed it, started a model call, died; handed back.
    Run.objects.filter(pk=run.pk).update(attempts=1, started_at=started)
    RunStep.objects.create(
        run=run, step_no=1, kind=RunStep.Kind.MODEL_CALL, status=RunStep.Status.RUNNING
    )
    queued_run = claim._queued_run

    def read_before_that(run_pk: int) -> Run | None:
        stale = queued_run(run_pk)
        assert stale is not None
        stale.attempts, stale.started_at = 0, None
        return stale

    monkeypatch.setattr(claim, "_queued_run", read_before_that)

    run_loop.run_advance(run_pk=run.pk)

    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED
    assert (run.attempts, run.started_at) == (2, started)
    steps = RunStep.objects.filter(run=run).order_by("step_no")
    assert [(s.step_no, s.status) for s in steps] == [
        (1, RunStep.Status.FAILED),
        (2, RunStep.Status.DONE),
    ]
