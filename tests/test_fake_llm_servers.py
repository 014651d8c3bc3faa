"""The fake Anthropic and OpenAI servers: scripting, the request log, the control
endpoint, and process mode (``python -m tests.fakes.<vendor>_server``)."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any

import anthropic
import openai
import pytest

from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.llm_server import (
    ContextLength,
    FakeServerProcess,
    FakeToolCall,
    FakeUsage,
    Hang,
    HttpError,
    Malformed,
    Step,
    StreamError,
    Text,
    ToolCalls,
    Truncated,
    split_text,
    step_from_json,
    step_to_json,
)
from tests.fakes.openai_server import FakeOpenAIServer

KEY = "sk-fake-test-key-0123456789"
ALL_STEPS: list[Step] = [
    Text("hi", chunks=2, delay_s=0.01, usage=FakeUsage(1, 2, 3, 4), stop="length"),
    ToolCalls((FakeToolCall("f", {"a": 1}, id="c1"), FakeToolCall("g", "{bad")), text="t"),
    HttpError(429, "rate_limit_error", "slow", code="x", retry_after="2"),
    ContextLength(),
    StreamError(text="p", chunks=2, type="api_error", message="m", code="c"),
    Malformed(text="p"),
    Truncated(abrupt=False),
    Hang(0.1, then=Text("late")),
]


def post(url: str, payload: Any) -> tuple[int, Any]:
    req = urllib.request.Request(  # noqa: S310 (loopback)
        url, data=json.dumps(payload).encode(), headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 (loopback)
        return json.loads(resp.read())


def anthropic_text(client: anthropic.Anthropic, text: str = "hello") -> str:
    events = client.messages.create(
        model="claude-test",
        max_tokens=50,
        messages=[{"role": "user", "content": text}],
        stream=True,
    )
    return "".join(
        e.delta.text
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )


def chat_text(client: openai.OpenAI, text: str = "hello") -> str:
    chunks = client.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": text}], stream=True
    )
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


# --- steps ------------------------------------------------------------------------------
@pytest.mark.parametrize("step", ALL_STEPS, ids=lambda s: s.kind)
def test_steps_round_trip_through_json(step: Step) -> None:
    assert step_from_json(json.loads(json.dumps(step_to_json(step)))) == step


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "dance"}, "unknown step kind 'dance'"),
        ({"kind": "text", "text": "x", "colour": 1}, "has no field(s) colour"),
        ({"kind": "text"}, "step 'text':"),
        ([1], "a step must be a JSON object"),
    ],
)
def test_bad_steps_are_rejected_clearly(data: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        step_from_json(data)


def test_split_text_keeps_every_character() -> None:
    assert split_text("abcdefg", 3) == ["abc", "de", "fg"]
    assert split_text("ab", 5) == ["a", "b"]
    assert split_text("", 3) == []


# --- in-process servers -----------------------------------------------------------------
def test_anthropic_fake_streams_scripted_then_default_replies() -> None:
    with FakeAnthropicServer() as server:
        client = anthropic.Anthropic(api_key=KEY, base_url=server.base_url, max_retries=0)
        server.script(Text("one two three", chunks=3))
        assert anthropic_text(client) == "one two three"
        assert anthropic_text(client, "again") == "echo: again"
        assert server.pending == 0
        assert [r.path for r in server.requests] == ["/v1/messages", "/v1/messages"]


def test_anthropic_fake_speaks_the_real_event_sequence() -> None:
    with FakeAnthropicServer() as server:
        client = anthropic.Anthropic(api_key=KEY, base_url=server.base_url, max_retries=0)
        server.script(ToolCalls((FakeToolCall("f", {"a": 1}, id="toolu_1"),), text="hm"))
        with client.messages.stream(
            model="m", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        ) as stream:
            kinds = [event.type for event in stream]
            message = stream.get_final_message()
    assert kinds[0] == "message_start"
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert message.stop_reason == "tool_use"
    assert [block.type for block in message.content] == ["text", "tool_use"]
    assert message.content[1].input == {"a": 1}  # type: ignore[union-attr]


def test_anthropic_fake_answers_non_streaming_requests() -> None:
    with FakeAnthropicServer() as server:
        client = anthropic.Anthropic(api_key=KEY, base_url=server.base_url, max_retries=0)
        message = client.messages.create(
            model="m", max_tokens=10, messages=[{"role": "user", "content": "plain"}]
        )
    assert message.content[0].text == "echo: plain"  # type: ignore[union-attr]


def test_openai_fake_serves_chat_and_responses() -> None:
    with FakeOpenAIServer() as server:
        client = openai.OpenAI(api_key=KEY, base_url=server.base_url, max_retries=0)
        server.script(Text("a b c", chunks=3))
        assert chat_text(client) == "a b c"
        server.script(ToolCalls((FakeToolCall("f", {"x": [1, 2]}),), text="calling"))
        events = list(client.responses.create(model="m", input="go", stream=True))
        assert [e.sequence_number for e in events] == list(range(len(events)))
        assert events[0].type == "response.created"
        final = events[-1]
        assert final.type == "response.completed"
        assert final.response.output_text == "calling"
        call = final.response.output[1]
        assert call.type == "function_call"
        assert json.loads(call.arguments) == {"x": [1, 2]}
        completion = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "plain"}]
        )
        assert completion.choices[0].message.content == "echo: plain"
        assert (
            client.responses.create(model="m", input="plain too").output_text == "echo: plain too"
        )


def scripted_replies() -> list[Step]:
    return [
        Text("a b c", chunks=3, usage=FakeUsage(1, 2, 3, 4)),
        ToolCalls((FakeToolCall("f", {"a": 1}), FakeToolCall("g", {})), text="x"),
        Text("cut", stop="length"),
        Text("no", stop="refusal"),
    ]


@pytest.mark.parametrize("api", ["anthropic", "chat", "responses"])
def test_every_event_passes_the_sdks_strict_validation(api: str) -> None:
    """With ``_strict_response_validation`` the SDK validates each event against its
    pydantic model, so a field the fake forgot fails here rather than in an adapter."""
    replies = scripted_replies()
    if api == "anthropic":
        with FakeAnthropicServer() as fake:
            strict = anthropic.Anthropic(
                api_key=KEY, base_url=fake.base_url, max_retries=0, _strict_response_validation=True
            )
            fake.script(*replies, *replies)
            for _ in replies:
                list(strict.messages.create(model="m", max_tokens=5, messages=[], stream=True))
            for _ in replies:
                strict.messages.create(model="m", max_tokens=5, messages=[])
        return
    with FakeOpenAIServer() as server:
        client = openai.OpenAI(
            api_key=KEY, base_url=server.base_url, max_retries=0, _strict_response_validation=True
        )
        server.script(*replies, *replies)
        for _ in replies:
            if api == "chat":
                list(
                    client.chat.completions.create(
                        model="m", messages=[], stream=True, stream_options={"include_usage": True}
                    )
                )
            else:
                list(client.responses.create(model="m", input="x", stream=True))
        for _ in replies:
            if api == "chat":
                client.chat.completions.create(model="m", messages=[])
            else:
                client.responses.create(model="m", input="x")


def test_openai_fake_reports_context_length_in_the_real_shape() -> None:
    with FakeOpenAIServer() as server:
        client = openai.OpenAI(api_key=KEY, base_url=server.base_url, max_retries=0)
        server.script(ContextLength())
        with pytest.raises(openai.BadRequestError) as info:
            chat_text(client)
    assert info.value.code == "context_length_exceeded"
    assert info.value.status_code == 400


def test_credentials_are_recorded_only_as_a_digest() -> None:
    with FakeOpenAIServer() as server:
        client = openai.OpenAI(api_key=KEY, base_url=server.base_url, max_retries=0)
        chat_text(client)
        recorded = server.last_request
        assert recorded.credential_matches(KEY)
        assert not recorded.credential_matches("another-key")
        assert recorded.headers["authorization"] == "<redacted>"
        assert KEY not in json.dumps(recorded.to_json())
        assert KEY not in json.dumps(get(server.root_url + "/_fake/requests"))


def test_control_endpoint_scripts_an_in_process_server() -> None:
    with FakeAnthropicServer() as server:
        status, reply = post(
            server.root_url + "/_fake/script",
            {"steps": [{"kind": "text", "text": "scripted", "chunks": 2}]},
        )
        assert (status, reply) == (200, {"queued": 1, "pending": 1})
        status, reply = post(server.root_url + "/_fake/script", [{"kind": "nope"}])
        assert status == 400
        assert "unknown step kind" in reply["error"]
        client = anthropic.Anthropic(api_key=KEY, base_url=server.base_url, max_retries=0)
        assert anthropic_text(client) == "scripted"
        post(server.root_url + "/_fake/default", {"step": {"kind": "text", "text": "fixed"}})
        assert anthropic_text(client) == "fixed"
        assert get(server.root_url + "/_fake/health") == {"ok": True, "vendor": "anthropic"}
        assert len(get(server.root_url + "/_fake/requests")) == 2
        post(server.root_url + "/_fake/reset", {})
        assert get(server.root_url + "/_fake/requests") == []
        assert anthropic_text(client, "back") == "echo: back"


def test_unknown_paths_get_a_vendor_404() -> None:
    with FakeOpenAIServer() as server:
        client = openai.OpenAI(api_key=KEY, base_url=server.base_url, max_retries=0)
        with pytest.raises(openai.NotFoundError):
            client.embeddings.create(model="m", input="x")


# --- process mode -----------------------------------------------------------------------
@pytest.mark.process
def test_openai_fake_as_a_process_is_scripted_over_http() -> None:
    with FakeServerProcess("openai") as fake:
        assert fake.root_url.startswith("http://127.0.0.1:")
        fake.script(Text("from another process", chunks=3), HttpError(429, retry_after="1"))
        client = openai.OpenAI(api_key=KEY, base_url=fake.base_url, max_retries=0)
        assert chat_text(client, "q") == "from another process"
        with pytest.raises(openai.RateLimitError) as info:
            chat_text(client)
        assert info.value.response.headers["retry-after"] == "1"
        recorded = fake.requests()
        assert [r.body["messages"][0]["content"] for r in recorded] == ["q", "hello"]
        assert recorded[0].credential_matches(KEY)
        fake.set_default(Text("steady"))
        assert chat_text(client) == "steady"
        fake.reset()
        assert fake.requests() == []
        assert chat_text(client, "x") == "echo: x"


@pytest.mark.process
def test_anthropic_fake_as_a_process() -> None:
    with FakeServerProcess("anthropic") as fake:
        fake.script(ToolCalls((FakeToolCall("now", {}),)), Text("done"))
        client = anthropic.Anthropic(api_key=KEY, base_url=fake.base_url, max_retries=0)
        events = list(
            client.messages.create(
                model="m", max_tokens=5, messages=[{"role": "user", "content": "t"}], stream=True
            )
        )
        assert any(
            e.type == "content_block_start" and e.content_block.type == "tool_use" for e in events
        )
        assert anthropic_text(client) == "done"
        assert len(fake.requests()) == 2
