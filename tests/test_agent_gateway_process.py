"""Agent turns through a live ``manage.py gateway`` with the real OpenAI SDK and a fake server.

The gateway (its embedded worker) talks to ``tests.fakes.openai_server`` in this test
process; clients are real WebSocket clients. Covers: a tool turn end to end, tool events
only for the connection that declared ``caps: ["tool-events"]`` and started the run,
``models.list``, and the clear chat error when no provider is configured.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.llm_server import FakeToolCall, Text, ToolCalls
from tests.fakes.openai_server import FakeOpenAIServer
from tests.gateway_process import GatewayProcess, child_env
from tests.openclaw_client import OpenClawClient

pytestmark = pytest.mark.process

TOKEN = "agent-gateway-token-0123456789abcdef"
SCOPES = ["operator.read", "operator.write", "operator.admin"]
API_KEY = "sk-test-process-0123456789abcdef"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, fake: FakeOpenAIServer
) -> Iterator[GatewayProcess]:
    data: Path = tmp_path_factory.mktemp("agent-gw") / "data"
    env = child_env(
        data,
        OPENCLAW_GATEWAY_TOKEN=TOKEN,
        OPENCLAW_MODEL="openai/gpt-4o-mini",
        OPENAI_API_KEY=API_KEY,
        OPENAI_BASE_URL=fake.base_url,
    )
    gw = GatewayProcess(env).start()
    try:
        yield gw
    finally:
        gw.stop()
        assert "Traceback" not in gw.stderr, gw.stderr
        assert API_KEY not in gw.stdout + gw.stderr


async def _client(port: int, caps: list[str] | None = None) -> OpenClawClient:
    client = OpenClawClient(f"ws://127.0.0.1:{port}/")
    await client.open()
    hello = await client.connect(token=TOKEN, scopes=SCOPES, caps=caps or [])
    assert hello["ok"], hello
    return client


async def _final(client: OpenClawClient, run_id: str, wait_s: float = 20) -> dict[str, Any]:
    async def wait() -> dict[str, Any]:
        while True:
            for event in client.events:
                payload = event.get("payload") or {}
                if (
                    event.get("event") == "chat"
                    and payload.get("runId") == run_id
                    and payload.get("state") in ("final", "error", "aborted")
                ):
                    return payload
            await asyncio.sleep(0.02)

    return await asyncio.wait_for(wait(), wait_s)


def _tool_events(client: OpenClawClient, run_id: str) -> list[dict[str, Any]]:
    return [
        e["payload"]["data"]
        for e in client.events
        if e.get("event") == "agent"
        and e["payload"].get("runId") == run_id
        and e["payload"].get("stream") == "tool"
    ]


def test_a_tool_turn_through_the_gateway_with_tool_events_for_the_caller_only(
    gateway: GatewayProcess, fake: FakeOpenAIServer
) -> None:
    call = FakeToolCall(name="write", arguments={"path": "hello.md", "content": "hi"}, id="w1")
    fake.script(ToolCalls((call,), text="Let me write it."), Text("Wrote hello.md.", chunks=3))

    async def scenario() -> None:
        caller = await _client(gateway.port, caps=["tool-events"])
        watcher = await _client(gateway.port)
        try:
            sent = await caller.call(
                "chat.send",
                {"sessionKey": "main", "message": "write hello.md", "idempotencyKey": "gw-tool-1"},
            )
            assert sent["ok"], sent
            final = await _final(caller, "gw-tool-1")
            assert final["state"] == "final", final
            assert final["message"]["content"][0]["text"] == "Wrote hello.md."
            await _final(watcher, "gw-tool-1")

            phases = [(d["phase"], d["name"]) for d in _tool_events(caller, "gw-tool-1")]
            assert phases == [("start", "write"), ("result", "write")]
            assert _tool_events(watcher, "gw-tool-1") == []

            history = await caller.call("chat.history", {"sessionKey": "main"})
            roles = [m["role"] for m in history["payload"]["messages"]]
            assert roles == ["user", "assistant", "toolResult", "assistant"]
            tool_result = history["payload"]["messages"][2]
            assert (tool_result["toolName"], tool_result["isError"]) == ("write", False)

            models = await caller.call("models.list", {})
            first = models["payload"]["models"][0]
            assert (first["provider"], first["id"], first["tags"]) == (
                "openai",
                "gpt-4o-mini",
                ["default"],
            )
        finally:
            await caller.close()
            await watcher.close()

    asyncio.run(scenario())
    workspace = Path(gateway.env["OPENCLAW_DATA_DIR"]) / "workspaces" / "main"
    assert (workspace / "hello.md").read_text() == "hi"
    assert (workspace / "AGENTS.md").exists()  # bootstrapped on the first turn
    body = fake.requests[0].body
    assert body["model"] == "gpt-4o-mini"
    assert "AGENTS.md" in body["messages"][0]["content"]


def test_without_any_provider_the_chat_says_what_to_configure(
    tmp_path: Path,
) -> None:
    env = child_env(tmp_path / "data", OPENCLAW_GATEWAY_TOKEN=TOKEN, OPENCLAW_MODEL="")
    gw = GatewayProcess(env).start()

    async def scenario() -> dict[str, Any]:
        client = await _client(gw.port)
        try:
            sent = await client.call(
                "chat.send", {"sessionKey": "main", "message": "hi", "idempotencyKey": "nokey"}
            )
            assert sent["ok"], sent
            return await _final(client, "nokey")
        finally:
            await client.close()

    try:
        final = asyncio.run(scenario())
    finally:
        gw.stop()
    assert final["state"] == "error"
    assert "OPENAI_API_KEY" in final["errorMessage"]
    assert "Traceback" not in gw.stderr
