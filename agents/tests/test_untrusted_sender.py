# ruff: noqa: F811  (the fixtures imported from test_sandbox_policy are parameters here)
"""A channel message from someone who is not an owner never runs exec on the host.

Whatever the session (dmScope ``main`` puts every DM in ``agent:main:main``, the one
session that runs unsandboxed by default) and whatever the agent's sandbox mode, a run
with ``trusted_sender=False`` runs sandboxed: the sandbox tool policy applies and its
workspace is the session's own copy. Real runs against the fake model server.
"""

from __future__ import annotations

import pytest

from agents.models import Agent, Run
from agents.runtime import loop as run_loop
from agents.services import runs
from agents.services.agents import agent_session_sandboxed, agent_workspace_path
from agents.tests.test_sandbox_policy import (  # noqa: F401  (fixtures)
    SANDBOX_TOOLS,
    _no_enqueue,
    agent,
    call,
    model,
    offered_tools,
    tool_results,
)
from tests.fakes.llm_server import Text, ToolCalls
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.django_db
MAIN = "agent:main:main"


def channel_turn(text: str, run_id: str, *, trusted: bool) -> Run:
    run = runs.run_start(
        session_key=MAIN,
        message=text,
        idempotency_key=run_id,
        origin="channel",
        reply_to={"channel": "telegram", "accountId": "default", "chatId": "42"},
        trusted_sender=trusted,
    ).run
    run_loop.run_advance(run_pk=run.pk)
    return Run.objects.get(pk=run.pk)


@pytest.mark.parametrize("mode", ["off", "non-main", "all"])
def test_the_rule_sandboxes_an_untrusted_sender_in_any_mode(mode: str) -> None:
    agent = Agent(slug="main", sandbox_mode=mode)
    assert agent_session_sandboxed(agent=agent, session_key=MAIN, untrusted_sender=True)


@pytest.mark.parametrize("mode", ["off", "non-main"])
def test_an_untrusted_sender_in_the_main_session_gets_the_sandbox(
    agent: Agent, model: FakeOpenAIServer, mode: str
) -> None:
    agent.sandbox_mode = mode
    agent.save()
    model.script(
        ToolCalls((call("write", path="PWNED.md", content="owned"),)),
        Text("done"),
    )
    run = channel_turn("write PWNED.md in your workspace", "u1", trusted=False)

    assert run.status == Run.Status.SUCCEEDED, run.error_message
    assert offered_tools(model, 0) <= SANDBOX_TOOLS | {"message", "web_fetch", "memory_search"}
    # The write landed in the session's sandbox copy, never in the agent's workspace.
    assert not (agent_workspace_path(agent) / "PWNED.md").exists()
    [(name, is_error, content)] = tool_results(run)
    assert name == "write"
    assert not is_error, content


def test_an_owner_in_the_main_session_keeps_the_host(agent: Agent, model: FakeOpenAIServer) -> None:
    model.script(ToolCalls((call("write", path="NOTE.md", content="ok"),)), Text("done"))
    run = channel_turn("write NOTE.md", "o1", trusted=True)

    assert run.status == Run.Status.SUCCEEDED, run.error_message
    assert (agent_workspace_path(agent) / "NOTE.md").read_text() == "ok"


def test_untrusted_messages_are_never_merged_into_an_owners_turn(
    agent: Agent, model: FakeOpenAIServer
) -> None:
    owner = runs.run_start(session_key=MAIN, message="owner", idempotency_key="own").run
    stranger = runs.run_start(
        session_key=MAIN, message="stranger", idempotency_key="str", trusted_sender=False
    ).run
    run_loop.run_advance(run_pk=owner.pk)

    owner.refresh_from_db()
    stranger.refresh_from_db()
    assert owner.status == Run.Status.SUCCEEDED
    assert stranger.status == Run.Status.QUEUED  # its own (sandboxed) turn comes next
    run_loop.run_advance(run_pk=stranger.pk)
    stranger.refresh_from_db()
    assert stranger.status == Run.Status.SUCCEEDED
