"""``POST /tools/invoke``: gateway auth, the agent's tool policy, the HTTP deny list."""

# factory_boy declarations are unannotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from agents.tests.factories import AgentFactory
from gateway import scopes
from gateway.config_service import config_set
from gateway.lib.tokens import token_hash
from gateway.ratelimit import auth_rate_limiter
from gateway.tests.factories import GatewayTokenFactory

# The views reach the database through database_sync_to_async (it closes connections).
pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "tools-token-0123456789abcdefghijklmno"
READ_TOKEN = "tools-read-0123456789abcdefghijklmno"
AUTH: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
REMOTE: dict[str, Any] = {"REMOTE_ADDR": "203.0.113.9"}


@pytest.fixture(autouse=True)
def _setup(data_dir: Path) -> Iterator[None]:
    AgentFactory(slug="main", is_default=True)
    GatewayTokenFactory(token_hash=token_hash(TOKEN), scopes=[scopes.WRITE])
    GatewayTokenFactory(token_hash=token_hash(READ_TOKEN), scopes=[scopes.READ])
    auth_rate_limiter.reset()
    yield
    auth_rate_limiter.reset()


def _invoke(client: Client, body: Any, **extra: Any) -> Any:
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post("/tools/invoke", data=data, content_type="application/json", **extra)


def test_an_allowed_tool_runs_and_answers_ok_with_its_result(client: Client) -> None:
    response = _invoke(client, {"tool": "sessions_list", "args": {}}, **AUTH)
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["result"]["content"][0]["type"] == "text"
    assert "has no sessions yet" in body["result"]["content"][0]["text"]
    assert body["result"]["isError"] is False


def test_a_file_tool_works_in_the_main_sessions_workspace(client: Client, data_dir: Path) -> None:
    workspace = data_dir / "workspaces" / "main"
    workspace.mkdir(parents=True)
    (workspace / "notes.md").write_text("remember the milk\n")
    response = _invoke(client, {"tool": "read", "args": {"path": "notes.md"}}, **AUTH)
    assert response.status_code == 200, response.content
    assert "remember the milk" in response.json()["result"]["content"][0]["text"]


@pytest.mark.parametrize("tool", ["sessions_send", "gateway", "sessions_spawn", "nonexistent"])
def test_denied_and_unknown_tools_are_404(client: Client, tool: str) -> None:
    response = _invoke(client, {"tool": tool, "args": {}}, **AUTH)
    assert response.status_code == 404
    assert response.json() == {
        "ok": False,
        "error": {"type": "not_found", "message": f"Tool not available: {tool}"},
    }


def test_gateway_tools_allow_lifts_a_default_deny_and_deny_adds_one(client: Client) -> None:
    config_set("gateway.tools.allow", ["sessions_send"])
    lifted = _invoke(client, {"tool": "sessions_send", "args": {}}, **AUTH)
    assert lifted.status_code == 400  # reached the tool: its arguments are missing
    config_set("gateway.tools.deny", ["sessions_list"])
    assert _invoke(client, {"tool": "sessions_list"}, **AUTH).status_code == 404


def test_the_agents_own_policy_applies(client: Client) -> None:
    AgentFactory(slug="locked", tools_deny=["read"])
    body = {"tool": "read", "args": {"path": "x"}, "sessionKey": "agent:locked:main"}
    assert _invoke(client, body, **AUTH).status_code == 404


def test_arguments_that_do_not_match_the_schema_are_400(client: Client) -> None:
    response = _invoke(client, {"tool": "read", "args": {"nope": 1}}, **AUTH)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "tool_error"
    assert "schema" in error["message"]


def test_a_missing_tool_name_or_a_bad_body_is_400(client: Client) -> None:
    assert _invoke(client, {"args": {}}, **AUTH).json() == {
        "ok": False,
        "error": {"type": "invalid_request", "message": "tools.invoke requires body.tool"},
    }
    assert _invoke(client, "{broken", **AUTH).status_code == 400


def test_auth_is_required_and_a_read_token_is_not_enough(client: Client) -> None:
    assert _invoke(client, {"tool": "sessions_list"}).status_code == 401
    wrong = _invoke(client, {"tool": "sessions_list"}, HTTP_AUTHORIZATION="Bearer wrong")
    assert wrong.status_code == 401
    read = _invoke(client, {"tool": "sessions_list"}, HTTP_AUTHORIZATION=f"Bearer {READ_TOKEN}")
    assert read.status_code == 403


def test_repeated_failures_from_a_remote_client_are_429(client: Client, settings: Any) -> None:
    for _ in range(settings.AUTH_RATE_LIMIT_ATTEMPTS):
        assert _invoke(client, {"tool": "x"}, **REMOTE).status_code == 401
    locked = _invoke(client, {"tool": "sessions_list"}, **REMOTE, **AUTH)
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) >= 1


def test_other_methods_are_405(client: Client) -> None:
    assert client.get("/tools/invoke", **AUTH).status_code == 405
