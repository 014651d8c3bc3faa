"""The HTTP APIs of a live ``manage.py gateway``: the official ``openai`` SDK as the client of
``/v1/chat/completions``, ``/v1/responses`` and ``/v1/models``; webhooks and
``/tools/invoke`` with plain HTTP. The gateway's embedded worker answers every turn
through the fake OpenAI server in this test process (the real SDK on both sides).
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.fakes.llm_server import RecordedRequest, Text
from tests.fakes.openai_server import FakeOpenAIServer
from tests.gateway_process import REPO, TEAM_TOKEN, GatewayProcess, child_env, run_manage

pytestmark = pytest.mark.process

TOKEN = "http-api-token-0123456789abcdefghijkl"
HOOK_TOKEN = "hook-" + secrets.token_hex(20)
API_KEY = "sk-test-http-api-0123456789abcdef"
WAIT_S = 20.0


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


def _env(data: Path, fake: FakeOpenAIServer) -> dict[str, str]:
    return child_env(
        data,
        OPENCLAW_GATEWAY_TOKEN=TOKEN,
        OPENCLAW_MODEL="openai/gpt-4o-mini",
        OPENCLAW_MODEL_FALLBACKS="",
        OPENAI_API_KEY=API_KEY,
        OPENAI_BASE_URL=fake.base_url,
    )


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, fake: FakeOpenAIServer
) -> Iterator[GatewayProcess]:
    env = _env(tmp_path_factory.mktemp("http-api") / "data", fake)
    for path, value in (
        ("gateway.http.endpoints.chatCompletions.enabled", "true"),
        ("gateway.http.endpoints.responses.enabled", "true"),
        ("hooks.token", HOOK_TOKEN),
        ("hooks.enabled", "true"),
    ):
        done = run_manage("config", "set", path, value, env=env)
        assert done.returncode == 0, done.stderr
    gw = GatewayProcess(env).start()
    try:
        yield gw
    finally:
        gw.stop()
        assert "Traceback" not in gw.stderr, gw.stderr
        for secret in (TOKEN, HOOK_TOKEN, API_KEY):
            assert secret not in gw.stdout + gw.stderr


@pytest.fixture
def client(gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(api_key=TOKEN, base_url=gateway.url + "/v1", max_retries=0)


def _post(gateway: GatewayProcess, path: str, body: Any, **headers: str) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310  (the test gateway's http:// URL)
        gateway.url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=WAIT_S) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _llm_request_with(fake: FakeOpenAIServer, needle: str) -> RecordedRequest:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        for request in fake.requests:
            if needle in fake.last_user_text(request):
                return request
        time.sleep(0.05)
    raise AssertionError(f"the fake LLM never got {needle!r}")


def _session_preview(gateway: GatewayProcess, key_part: str) -> str:
    """The reply the agent gave in a session, read back with ``/tools/invoke``."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        status, body = _post(
            gateway, "/tools/invoke", {"tool": "sessions_list"}, Authorization=f"Bearer {TOKEN}"
        )
        assert status == 200, body
        for line in body["result"]["content"][0]["text"].splitlines():
            if line.startswith("{") and key_part in json.loads(line)["key"]:
                preview = json.loads(line)["preview"] or ""
                if preview.startswith("echo:"):
                    return str(preview)
        time.sleep(0.1)
    raise AssertionError(f"no answered session matching {key_part!r}")


# --- the OpenAI SDK --------------------------------------------------------------------------
def test_models_lists_the_agents(client: openai.OpenAI) -> None:
    ids = [model.id for model in client.models.list()]
    assert ids == ["openclaw", "openclaw/default", "openclaw/main"]
    assert client.models.retrieve("openclaw/main").owned_by == "openclaw"


def test_a_chat_completion(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="openclaw", messages=[{"role": "user", "content": "hello there"}]
    )
    assert completion.choices[0].message.content == "echo: hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.id.startswith("chatcmpl_")
    assert completion.usage is not None
    assert completion.usage.total_tokens > 0


def test_a_streamed_chat_completion(client: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    fake.script(Text("one two three", chunks=3))
    stream = client.chat.completions.create(
        model="openclaw/main",
        messages=[{"role": "user", "content": "count"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert chunks[-1].usage is not None


def test_a_response(client: openai.OpenAI) -> None:
    response = client.responses.create(model="openclaw/main", input="hi responses")
    assert response.status == "completed"
    assert response.output_text == "echo: hi responses"
    assert response.id.startswith("resp_")


def test_a_streamed_response(client: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    fake.script(Text("streamed words here", chunks=3))
    events = list(client.responses.create(model="openclaw", input="go", stream=True))
    kinds = [event.type for event in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-1] == "response.completed"
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "streamed words here"
    final = events[-1]
    assert final.type == "response.completed"
    assert final.response.output_text == "streamed words here"


def test_a_user_keeps_one_session_across_requests(
    client: openai.OpenAI, gateway: GatewayProcess
) -> None:
    for text in ("first", "second"):
        client.chat.completions.create(
            model="openclaw", user="Ann", messages=[{"role": "user", "content": text}]
        )
    assert _session_preview(gateway, "agent:main:openai-user:ann") == "echo: second"


def test_bad_requests_are_openai_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as unknown:
        client.chat.completions.create(
            model="openclaw/ghost", messages=[{"role": "user", "content": "x"}]
        )
    assert unknown.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as malformed:
        client.chat.completions.create(
            model="openclaw",
            messages=[{"role": "robot", "content": "x"}],  # type: ignore[list-item, misc]
        )
    assert malformed.value.param == "messages.0.role"
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="not-an-agent", input="x")


def test_a_wrong_token_is_an_authentication_error(gateway: GatewayProcess) -> None:
    wrong = openai.OpenAI(api_key="wrong", base_url=gateway.url + "/v1", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()


def test_disabled_endpoints_are_404(
    tmp_path: Path, fake: FakeOpenAIServer, gateways: list[GatewayProcess]
) -> None:
    gw = GatewayProcess(_env(tmp_path / "data", fake)).start()
    gateways.append(gw)
    off = openai.OpenAI(api_key=TOKEN, base_url=gw.url + "/v1", max_retries=0)
    with pytest.raises(openai.NotFoundError):
        off.chat.completions.create(model="openclaw", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.NotFoundError):
        off.responses.create(model="openclaw", input="x")
    status, _ = _post_raw(gw, "/hooks/wake", {"text": "x"}, Authorization=f"Bearer {HOOK_TOKEN}")
    assert status == 404


# --- webhooks and tools ----------------------------------------------------------------------
def test_a_hook_agent_turn_is_answered_by_the_model_with_the_text_wrapped(
    gateway: GatewayProcess, fake: FakeOpenAIServer
) -> None:
    status, body = _post(
        gateway, "/hooks/agent", {"message": "Summarize inbox 7", "name": "Email"},
        **{"x-openclaw-token": HOOK_TOKEN},
    )  # fmt: skip
    assert status == 202
    assert body["ok"] is True
    seen = fake.last_user_text(_llm_request_with(fake, "Summarize inbox 7"))
    assert "<<<EXTERNAL_UNTRUSTED_CONTENT id=" in seen
    assert "Task: Email" in seen
    # Answered: the session's last message is the model's echo of the wrapped text.
    assert _session_preview(gateway, ":hook:").startswith("echo: Task: Email | Job ID: ")


def test_a_hook_wake_starts_a_turn_in_the_main_session(
    gateway: GatewayProcess, fake: FakeOpenAIServer
) -> None:
    status, body = _post(
        gateway, "/hooks/wake", {"text": "New email 42"}, Authorization=f"Bearer {HOOK_TOKEN}"
    )
    assert (status, body) == (200, {"ok": True, "mode": "now"})
    _llm_request_with(fake, "New email 42")
    preview = _session_preview(gateway, "agent:main:main")
    assert preview.startswith("echo: System event: webhook wake SECURITY NOTICE")


def test_hook_auth_over_http(gateway: GatewayProcess) -> None:
    query, _ = _post_raw(gateway, f"/hooks/wake?token={HOOK_TOKEN}", {"text": "x"})
    bad, _ = _post_raw(gateway, "/hooks/wake", {"text": "x"}, Authorization="Bearer wrong")
    assert (query, bad) == (400, 401)


def _post_raw(gateway: GatewayProcess, path: str, body: Any, **headers: str) -> tuple[int, bytes]:
    request = urllib.request.Request(  # noqa: S310  (the test gateway's http:// URL)
        gateway.url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=WAIT_S) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_tools_invoke_allowed_and_denied(gateway: GatewayProcess) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    allowed, body = _post(gateway, "/tools/invoke", {"tool": "sessions_list", "args": {}}, **auth)
    assert allowed == 200
    assert body["ok"] is True
    denied, body = _post(gateway, "/tools/invoke", {"tool": "sessions_send", "args": {}}, **auth)
    assert (denied, body["error"]["type"]) == (404, "not_found")


# --- team mode -------------------------------------------------------------------------------
@pytest.mark.services
def test_team_mode_follows_the_run_over_redis(
    services: dict[str, str], tmp_path: Path, gateways: list[GatewayProcess]
) -> None:
    """The turn runs on a separate Celery worker; its events reach the HTTP request over
    the Redis channel layer (PostgreSQL + Redis, the offline echo model)."""
    env = child_env(
        tmp_path / "data",
        DATABASE_URL=services["DATABASE_URL"],
        REDIS_URL=services["REDIS_URL"],
        DJANGO_SECRET_KEY="team-secret-" + "s" * 40,
        OPENCLAW_ENCRYPTION_KEY="dGVzdC1vbmx5LWtleS10ZXN0LW9ubHkta2V5LTAxMjM=",
        OPENCLAW_GATEWAY_TOKEN=TEAM_TOKEN,
        OPENCLAW_MODEL="placeholder/echo",
    )
    assert run_manage("migrate", "-v0", env=env).returncode == 0
    done = run_manage(
        "config", "set", "gateway.http.endpoints.chatCompletions.enabled", "true", env=env
    )
    assert done.returncode == 0, done.stderr
    with (tmp_path / "worker.log").open("w") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "openclaw_site", "worker", "--pool",
             "threads", "-c", "2", "-Q", "default,llm,connectors", "-l", "warning",
             "--without-heartbeat", "--without-mingle", "--without-gossip",
             "-n", f"http-{uuid.uuid4().hex[:8]}@%h"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            gw = GatewayProcess(env).start()
            gateways.append(gw)
            team = openai.OpenAI(api_key=TEAM_TOKEN, base_url=gw.url + "/v1", max_retries=0)
            completion = team.chat.completions.create(
                model="openclaw", messages=[{"role": "user", "content": "hi team"}]
            )
            stream = team.chat.completions.create(
                model="openclaw", messages=[{"role": "user", "content": "streamed"}], stream=True
            )
            streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        finally:
            worker.terminate()
            worker.wait(timeout=15)
    assert "hi team" in (completion.choices[0].message.content or "")
    assert "streamed" in streamed
