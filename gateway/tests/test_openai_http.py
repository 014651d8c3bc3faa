"""The OpenAI-compatible API in process: switches, auth, bad requests, models, and the
answer shapes of a turn whose events are played on the bus here (no worker runs;
``tests/test_http_api_process.py`` drives the real thing with the ``openai`` SDK)."""

# factory_boy declarations are unannotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from asgiref.sync import async_to_sync
from django.test import Client
from django.utils.timezone import now

from agents.models import Run
from agents.tests.factories import AgentFactory
from gateway import api_runs, bus, scopes
from gateway.config_service import config_set
from gateway.lib.tokens import token_hash
from gateway.ratelimit import auth_rate_limiter
from gateway.tests.factories import GatewayTokenFactory
from sessions_app.models import Message
from sessions_app.services import session_message_append

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "openai-token-0123456789abcdefghijklmn"
READ_TOKEN = "openai-read-0123456789abcdefghijklmn"
AUTH: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
CHAT = "/v1/chat/completions"


@pytest.fixture(autouse=True)
def _setup() -> Iterator[None]:
    AgentFactory(slug="main", is_default=True)
    AgentFactory(slug="ops")
    GatewayTokenFactory(token_hash=token_hash(TOKEN), scopes=[scopes.WRITE])
    GatewayTokenFactory(token_hash=token_hash(READ_TOKEN), scopes=[scopes.READ])
    config_set("gateway.http.endpoints.chatCompletions.enabled", True)
    config_set("gateway.http.endpoints.responses.enabled", True)
    auth_rate_limiter.reset()
    with mock.patch("agents.runtime.enqueue.send"):  # no worker here
        yield
    auth_rate_limiter.reset()


def _post(client: Client, path: str, body: Any, **extra: Any) -> Any:
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(path, data=data, content_type="application/json", **{**AUTH, **extra})


def _message(text: str = "hi") -> dict[str, Any]:
    return {"model": "openclaw", "messages": [{"role": "user", "content": text}]}


def _played(reply: str, *, deltas: tuple[str, ...] = (), state: str = "final") -> Any:
    """``api_run_start`` that starts the run, then plays its events on the bus as a
    worker would: deltas (``agent`` ``assistant``) and the ``chat`` end."""
    real = api_runs.api_run_start

    def start(**kwargs: Any) -> str:
        key = real(**kwargs)
        run_id = kwargs["run_id"]
        text = ""
        for delta in deltas:
            text += delta
            data = {"text": text, "delta": delta}
            payload = {"runId": run_id, "stream": "assistant", "data": data}
            bus.publish_local({"event": "agent", "payload": payload})
        end: dict[str, Any] = {"runId": run_id, "state": state}
        if state == "final":
            end["message"] = {"role": "assistant", "content": [{"type": "text", "text": reply}]}
            end["usage"] = {"input": 10, "output": 3, "totalTokens": 13}
        else:
            end.update(errorMessage="the model is down", errorKind="provider")
        bus.publish_local({"event": "chat", "payload": end})
        return key

    return mock.patch("gateway.http.openai.api_run_start", side_effect=start)


def _body(response: Any) -> bytes:
    """A streamed answer's bytes (its iterator is async: the view is)."""

    async def collect() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    return async_to_sync(collect)()


def _sse(response: Any) -> list[str]:
    return [line[6:] for line in _body(response).decode().split("\n") if line.startswith("data: ")]


# --- switches, auth, methods -------------------------------------------------------------
def test_disabled_endpoints_are_404(client: Client) -> None:
    config_set("gateway.http.endpoints.chatCompletions.enabled", False)
    config_set("gateway.http.endpoints.responses.enabled", False)
    for path in (CHAT, "/v1/responses"):
        response = _post(client, path, _message())
        assert response.status_code == 404
        assert "enable it with" in response.json()["error"]["message"]
    assert client.get("/v1/models", **AUTH).status_code == 404


def test_a_missing_or_wrong_token_is_401_openai_style(client: Client) -> None:
    response = client.post(CHAT, data=json.dumps(_message()), content_type="application/json")
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert _post(client, CHAT, _message(), HTTP_AUTHORIZATION="Bearer no").status_code == 401


def test_a_read_only_token_may_list_models_but_not_chat(client: Client) -> None:
    read: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {READ_TOKEN}"}
    assert client.get("/v1/models", **read).status_code == 200
    assert _post(client, CHAT, _message(), **read).status_code == 403


def test_repeated_failures_from_a_remote_client_are_429(client: Client, settings: Any) -> None:
    remote = {"REMOTE_ADDR": "198.51.100.4"}
    for _ in range(settings.AUTH_RATE_LIMIT_ATTEMPTS):
        _post(client, CHAT, _message(), HTTP_AUTHORIZATION="Bearer no", **remote)
    locked = _post(client, CHAT, _message(), **remote)
    assert locked.status_code == 429
    assert locked.json()["error"]["type"] == "rate_limited"
    assert int(locked["Retry-After"]) >= 1


def test_get_on_chat_completions_is_405(client: Client) -> None:
    assert client.get(CHAT, **AUTH).status_code == 405


# --- bad requests ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        ("{nope", None, "not valid JSON"),
        ({"messages": [{"role": "user", "content": "x"}]}, "model", "Field required"),
        ({"model": "openclaw"}, "messages", "Field required"),
        ({"model": "openclaw", "messages": []}, "messages", "at least 1 item"),
        ({"model": "openclaw", "messages": [{"role": "robot", "content": "x"}]}, "messages.0.role", ""),
        ({"model": "openclaw", "messages": [{"role": "system", "content": "x"}]}, "messages", "Missing user message"),
        ({**_message(), "n": 2}, "n", "less than or equal to 1"),
        ({**_message(), "stream": "maybe"}, "stream", "valid boolean"),
        ({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}, "model", "does not exist"),
        ({"model": "openclaw/ghost", "messages": [{"role": "user", "content": "x"}]}, "model", "no agent 'ghost'"),
        (
            {"model": "openclaw", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
            "messages.0.content",
            "only text content",
        ),
    ],
)  # fmt: skip
def test_bad_requests_are_400_openai_style(
    client: Client, body: Any, param: str | None, message: str
) -> None:
    response = _post(client, CHAT, body)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert message in error["message"]
    assert not Run.objects.exists()


def test_an_unknown_model_has_the_model_not_found_code(client: Client) -> None:
    error = _post(client, CHAT, {**_message(), "model": "openclaw/ghost"}).json()["error"]
    assert error["code"] == "model_not_found"


def test_a_body_over_the_limit_is_413(client: Client) -> None:
    config_set("gateway.http.endpoints.chatCompletions.maxBodyBytes", 200)
    response = _post(client, CHAT, _message("x" * 500))
    assert response.status_code == 413


def test_bad_responses_requests_are_400(client: Client) -> None:
    empty = _post(client, "/v1/responses", {"model": "openclaw", "input": ""})
    assert empty.status_code == 400
    assert empty.json()["error"]["param"] == "input"
    image = {"model": "openclaw", "input": [{"type": "input_image", "image_url": "x"}]}
    assert _post(client, "/v1/responses", image).status_code == 400


# --- models ------------------------------------------------------------------------------
def test_models_lists_the_agents(client: Client) -> None:
    body = client.get("/v1/models", **AUTH).json()
    ids = [m["id"] for m in body["data"]]
    assert body["object"] == "list"
    assert ids == ["openclaw", "openclaw/default", "openclaw/main", "openclaw/ops"]
    assert body["data"][2] == {
        "id": "openclaw/main",
        "object": "model",
        "created": 0,
        "owned_by": "openclaw",
    }
    assert client.get("/v1/models/openclaw/ops", **AUTH).json()["id"] == "openclaw/ops"
    missing = client.get("/v1/models/openclaw/ghost", **AUTH)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"


# --- turns -------------------------------------------------------------------------------
def test_a_completion_answers_with_the_runs_reply_and_usage(client: Client) -> None:
    with _played("hello back"):
        response = _post(client, CHAT, {**_message("hello"), "model": "openclaw:ops"})
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl_")
    assert body["model"] == "openclaw:ops"
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "hello back",
        "refusal": None,
    }
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}
    run = Run.objects.select_related("session").get(run_id=body["id"])
    assert run.agent.slug == "ops"
    assert run.session.key.startswith("agent:ops:openai:")


def test_the_session_key_comes_from_the_header_then_the_user(client: Client) -> None:
    with _played("ok"):
        one = _post(client, CHAT, _message(), HTTP_X_OPENCLAW_SESSION_KEY="agent:main:api")
        two = _post(client, CHAT, {**_message(), "user": "Bob"})
        three = _post(client, CHAT, {**_message(), "model": "agent:ops", "user": "Bob"})
    keys = [
        Run.objects.select_related("session").get(run_id=r.json()["id"]).session.key
        for r in (one, two, three)
    ]
    assert keys == ["agent:main:api", "agent:main:openai-user:bob", "agent:ops:openai-user:bob"]


def test_the_conversation_becomes_one_message_with_instructions_first(client: Client) -> None:
    body = {
        "model": "openclaw",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "4"},
            {"role": "user", "content": [{"type": "text", "text": "And 3+3?"}]},
        ],
    }
    with _played("6"):
        run_id = _post(client, CHAT, body).json()["id"]
    text = Message.objects.get(session__runs__run_id=run_id).content[0]["text"]
    assert text == (
        "[Instructions from the API caller]\nBe brief.\n\n"
        "[Chat messages since your last reply - for context]\n"
        "User: What is 2+2?\nAssistant: 4\n\n"
        "[Current message - respond to this]\nUser: And 3+3?"
    )


def test_a_stream_is_openai_chunks_ending_in_done(client: Client) -> None:
    body = {**_message(), "stream": True, "stream_options": {"include_usage": True}}
    with _played("Hello world", deltas=("Hello", " world")):
        response = _post(client, CHAT, body)
        lines = _sse(response)
    assert response["Content-Type"].startswith("text/event-stream")
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(line) for line in lines[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-1]) == (
        "Hello world"
    )
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] == 13


def test_a_failed_run_is_500_or_an_error_in_the_stream(client: Client) -> None:
    with _played("", state="error"):
        failed = _post(client, CHAT, _message())
        streamed = _sse(_post(client, CHAT, {**_message(), "stream": True}))
    assert failed.status_code == 500
    assert failed.json()["error"]["message"] == "the model is down"
    assert json.loads(streamed[-2])["error"]["code"] == "provider"
    assert streamed[-1] == "[DONE]"


def test_a_response_object_and_its_event_stream(client: Client) -> None:
    body = {"model": "openclaw", "input": "hi", "instructions": "Be brief."}
    with _played("Hi!", deltas=("Hi", "!")):
        plain = _post(client, "/v1/responses", body).json()
        raw = _body(_post(client, "/v1/responses", {**body, "stream": True}))
    assert plain["object"] == "response"
    assert plain["id"].startswith("resp_")
    assert plain["status"] == "completed"
    assert plain["output"][0]["content"][0]["text"] == "Hi!"
    assert plain["usage"]["total_tokens"] == 13
    events = [
        json.loads(line[6:]) for line in raw.decode().split("\n") if line.startswith("data: ")
    ]
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in events] == list(range(10))
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "Hi!"
    text = Message.objects.get(session__runs__run_id=plain["id"]).content[0]["text"]
    assert text == "[Instructions from the API caller]\nBe brief.\n\nhi"


def test_a_lost_end_event_is_found_in_the_database(client: Client) -> None:
    """Events are wake-ups: with none arriving, the run's row is read after a pause."""
    real = api_runs.api_run_start

    def start_and_finish_silently(**kwargs: Any) -> str:
        key = real(**kwargs)
        run = Run.objects.select_related("session").get(run_id=kwargs["run_id"])
        session_message_append(
            session=run.session,
            role="assistant",
            content=[{"type": "text", "text": "from the transcript"}],
            run_public_id=run.public_id,
        )
        Run.objects.filter(pk=run.pk).update(status=Run.Status.SUCCEEDED, finished_at=now())
        return key

    with (
        mock.patch("gateway.http.follow.CHECK_AFTER_S", 0.05),
        mock.patch("gateway.http.openai.api_run_start", side_effect=start_and_finish_silently),
    ):
        body = _post(client, CHAT, _message()).json()
    assert body["choices"][0]["message"]["content"] == "from the transcript"
