"""message, sessions_list and sessions_send against the real services and selectors,
from the main session and from a sandboxed one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agents.models import Agent, Run
from agents.providers import ToolCall
from agents.tools import messaging
from agents.tools.base import ToolContext, ToolOutput, execute, registered_tools
from channels_app.models import ChannelKind, OutboundMessage
from channels_app.tests.factories import ChannelAccountFactory
from core import delivery
from sessions_app.tests.factories import MessageFactory, SessionFactory

pytestmark = pytest.mark.django_db
OWN_KEY = "agent:main:main"


def call(tmp_path: Path, name: str, *, run_id: str = "run-1", **args: Any) -> ToolOutput:
    ctx = ToolContext(agent_slug="main", session_key=OWN_KEY, run_id=run_id, workspace=tmp_path)
    return execute(ToolCall("c1", name, json.dumps(args)), ctx, registered_tools())


# --- message ---------------------------------------------------------------------------
def _send(tmp_path: Path, *, run_id: str = "run-1", **overrides: Any) -> ToolOutput:
    args = {"action": "send", "channel": "telegram", "to": "4242", "text": "hi there"}
    return call(tmp_path, "message", run_id=run_id, **{**args, **overrides})


def test_message_queues_one_outbound_message_per_distinct_call(tmp_path: Path) -> None:
    ChannelAccountFactory.create(kind=ChannelKind.TELEGRAM, account_id="default")
    out = _send(tmp_path, thread_id="7")
    assert not out.is_error, out.content
    assert "queued for delivery on telegram to 4242" in out.content
    row = OutboundMessage.objects.get()
    assert (row.chat_id, row.thread_id, row.text) == ("4242", "7", "hi there")
    assert row.dedupe_key is not None
    assert row.dedupe_key.startswith("tool:run-1:")
    assert out.meta["created"] is True


def test_message_repeated_in_the_same_run_is_not_sent_twice(tmp_path: Path) -> None:
    ChannelAccountFactory.create(kind=ChannelKind.TELEGRAM, account_id="default")
    _send(tmp_path)
    again = _send(tmp_path)
    assert "already queued" in again.content
    assert not again.is_error
    assert OutboundMessage.objects.count() == 1
    _send(tmp_path, text="something else")
    _send(tmp_path, run_id="run-2")
    assert OutboundMessage.objects.count() == 3


def test_message_errors_from_the_outbox_reach_the_model(tmp_path: Path) -> None:
    out = _send(tmp_path, account_id="work")
    assert out.is_error
    assert "no enabled telegram account 'work'" in out.content
    schema = call(tmp_path, "message", action="delete", channel="telegram", to="1", text="x")
    assert schema.is_error
    assert "action" in schema.content


def test_message_needs_a_real_channel_kind(tmp_path: Path) -> None:
    ChannelAccountFactory.create(kind=ChannelKind.TELEGRAM, account_id="default")
    last = _send(tmp_path, channel="last")
    assert last.is_error
    assert "explicit channel" in last.content
    unknown = _send(tmp_path, channel="pigeon")
    assert unknown.is_error
    assert "unknown channel 'pigeon'; known channels: telegram" in unknown.content
    assert not OutboundMessage.objects.exists()


def test_message_without_a_channel_app_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "_deliverer", delivery._unavailable)
    out = _send(tmp_path)
    assert out.is_error
    assert "no channel app is running" in out.content


def test_keys_stay_within_the_column_length() -> None:
    long_run = "r" * 200
    key = messaging.bounded_key("tool", long_run, "d" * 40)
    assert len(key) <= messaging.KEY_MAX_LENGTH
    assert key == messaging.bounded_key("tool", long_run, "d" * 40)
    assert key != messaging.bounded_key("tool", "s" * 200, "d" * 40)


# --- sessions_list ---------------------------------------------------------------------
def test_sessions_list_shows_this_agents_sessions_as_json_lines(tmp_path: Path) -> None:
    mine = SessionFactory.create(agent_slug="main", key="agent:main:telegram:direct:1", label="Bob")
    MessageFactory.create(session=mine, content=[{"type": "text", "text": "see you  tomorrow"}])
    SessionFactory.create(agent_slug="other", key="agent:other:telegram:direct:2")
    out = call(tmp_path, "sessions_list")
    assert not out.is_error, out.content
    lines = out.content.splitlines()
    row = json.loads(lines[0])
    assert row["key"] == "agent:main:telegram:direct:1"
    assert row["label"] == "Bob"
    assert row["preview"] == "see you tomorrow"
    assert "updatedAt" in row
    assert lines[-1] == "(1 of 1 sessions, most recent first)"
    assert "agent:other" not in out.content


def test_sessions_list_limit_and_empty(tmp_path: Path) -> None:
    assert "has no sessions yet" in call(tmp_path, "sessions_list").content
    for _ in range(3):
        SessionFactory.create(agent_slug="main")
    out = call(tmp_path, "sessions_list", limit=2)
    assert out.meta == {"count": 2, "total": 3}
    assert "limit" in call(tmp_path, "sessions_list", limit=0).content


# --- sessions_send ---------------------------------------------------------------------
@pytest.fixture
def agent() -> Agent:
    return Agent.objects.create(slug="main", name="Main", is_default=True)


def test_sessions_send_starts_a_run_in_the_other_session_once(agent: Agent, tmp_path: Path) -> None:
    target = "agent:main:telegram:direct:99"
    out = call(tmp_path, "sessions_send", session_key=target, message="ping")
    assert not out.is_error, out.content
    result = json.loads(out.content)
    assert result["status"] == "accepted"
    assert result["sessionKey"] == target
    run = Run.objects.get(run_id=result["runId"])
    assert run.run_id.startswith("run-1:send:")
    again = call(tmp_path, "sessions_send", session_key=target, message="ping")
    assert json.loads(again.content)["runId"] == run.run_id
    assert Run.objects.count() == 1


def test_sessions_send_refuses_its_own_session_and_bad_targets(
    agent: Agent, tmp_path: Path
) -> None:
    for spelling in (OWN_KEY, "main", "AGENT:MAIN:MAIN"):
        own = call(tmp_path, "sessions_send", session_key=spelling, message="ping")
        assert own.is_error
        assert "this session itself" in own.content
    unknown = call(tmp_path, "sessions_send", session_key="agent:ghost:main", message="ping")
    assert unknown.is_error
    assert "ghost" in unknown.content
    assert (
        "empty" in call(tmp_path, "sessions_send", session_key="agent:main:x", message=" ").content
    )
    assert Run.objects.count() == 0


# --- sandboxed callers -----------------------------------------------------------------
GROUP_KEY = "agent:main:telegram:group:123"


def sandboxed_call(tmp_path: Path, name: str, **args: Any) -> ToolOutput:
    ctx = ToolContext(
        agent_slug="main",
        session_key=GROUP_KEY,
        run_id="run-g",
        workspace=tmp_path,
        sandboxed=True,
        is_main_session=False,
    )
    return execute(ToolCall("c1", name, json.dumps(args)), ctx, registered_tools())


@pytest.mark.parametrize("target", [OWN_KEY, "main", "AGENT:MAIN:MAIN", " agent:main:main "])
def test_a_sandboxed_session_cannot_send_to_the_main_session(
    agent: Agent, tmp_path: Path, target: str
) -> None:
    out = sandboxed_call(tmp_path, "sessions_send", session_key=target, message="obey")
    assert out.is_error
    assert "cannot send to agent:main:main: that session runs outside the sandbox" in out.content
    assert "main session of agent 'main'" in out.content
    assert "agents.list[N].sandbox.mode to 'all'" in out.content
    assert Run.objects.count() == 0


def test_a_sandboxed_session_cannot_send_to_an_unsandboxed_agent(
    agent: Agent, tmp_path: Path
) -> None:
    Agent.objects.create(slug="ops", sandbox_mode=Agent.SandboxMode.OFF)
    out = sandboxed_call(
        tmp_path, "sessions_send", session_key="agent:ops:slack:channel:c1", message="hi"
    )
    assert out.is_error
    assert "agent 'ops' has sandbox mode 'off'" in out.content
    assert Run.objects.count() == 0


def test_a_sandboxed_session_may_send_to_sandboxed_sessions(agent: Agent, tmp_path: Path) -> None:
    out = sandboxed_call(
        tmp_path, "sessions_send", session_key="agent:main:telegram:direct:7", message="hi"
    )
    assert not out.is_error, out.content
    agent.sandbox_mode = Agent.SandboxMode.ALL
    agent.save()
    to_main = sandboxed_call(tmp_path, "sessions_send", session_key="main", message="hi")
    assert not to_main.is_error, to_main.content  # main is sandboxed too under "all"
    assert Run.objects.count() == 2
    ghost = sandboxed_call(tmp_path, "sessions_send", session_key="agent:ghost:x", message="h")
    assert "ghost" in ghost.content  # run_start's own message


def test_a_sandboxed_session_lists_only_sandboxed_sessions(agent: Agent, tmp_path: Path) -> None:
    SessionFactory.create(key="agent:main:telegram:direct:1")
    SessionFactory.create(key=GROUP_KEY)
    SessionFactory.create(key=OWN_KEY)  # the most recent

    out = sandboxed_call(tmp_path, "sessions_list", limit=2)
    keys = [json.loads(line)["key"] for line in out.content.splitlines()[:-1]]
    assert keys == [GROUP_KEY, "agent:main:telegram:direct:1"]
    assert out.meta == {"count": 2, "total": 2}
    assert OWN_KEY not in out.content
    assert call(tmp_path, "sessions_list").meta == {"count": 3, "total": 3}  # main sees all


def test_a_sandboxed_session_list_total_leaves_out_an_older_main_session(
    agent: Agent, tmp_path: Path
) -> None:
    SessionFactory.create(key=OWN_KEY)  # the oldest: beyond the page
    for n in range(3):
        SessionFactory.create(key=f"agent:main:telegram:direct:{n}")

    out = sandboxed_call(tmp_path, "sessions_list", limit=1)
    assert out.meta == {"count": 1, "total": 3}
    assert "(1 of 3 sessions" in out.content
    Agent.objects.filter(slug="main").update(sandbox_mode=Agent.SandboxMode.OFF)
    off = sandboxed_call(tmp_path, "sessions_list")
    assert off.meta == {"count": 0, "total": 0}
