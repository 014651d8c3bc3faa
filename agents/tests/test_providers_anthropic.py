"""The Anthropic adapter, driven through the real ``anthropic`` SDK against the local fake."""

from __future__ import annotations

import json
import socket
import statistics
import time
from collections.abc import Iterator

import pytest

from agents.providers import (
    API_ANTHROPIC,
    AuthProfile,
    ChatMessage,
    ModelRequest,
    Provider,
    ProviderError,
    StreamDone,
    TextDelta,
    ToolCall,
    ToolResult,
    ToolSpec,
    Usage,
    provider_client,
)
from agents.providers._common import retry_after_s
from agents.providers.anthropic import AnthropicProvider
from tests.fakes.anthropic_server import CONTEXT_LENGTH_MESSAGE, FakeAnthropicServer
from tests.fakes.llm_server import (
    ContextLength,
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
)

KEY = "sk-ant-test-0123456789abcdef"
READ_TOOL = ToolSpec(
    name="read_file",
    description="Read a file from the workspace.",
    parameters={"type": "object", "properties": {"path": {"type": "string"}}},
)


@pytest.fixture(scope="module")
def shared_server() -> Iterator[FakeAnthropicServer]:
    # One server per module: its base URL stays the same, so the adapter's cached SDK
    # client (about 30 ms to build) is reused across tests, as in production.
    with FakeAnthropicServer() as fake:
        yield fake


@pytest.fixture
def server(shared_server: FakeAnthropicServer) -> FakeAnthropicServer:
    shared_server.reset()
    return shared_server


def make_provider(base_url: str, *, timeout_s: float = 5.0) -> AnthropicProvider:
    profile = AuthProfile(
        id="anthropic:test",
        provider="anthropic",
        api=API_ANTHROPIC,
        api_key=KEY,
        base_url=base_url,
    )
    return AnthropicProvider(profile, timeout_s=timeout_s)


def ask(text: str = "hi", **kwargs: object) -> ModelRequest:
    return ModelRequest(
        model="claude-test",
        system="You are terse.",
        messages=[ChatMessage(role="user", text=text)],
        **kwargs,  # type: ignore[arg-type]
    )


def run(provider: Provider, request: ModelRequest) -> tuple[list[str], StreamDone]:
    deltas: list[str] = []
    done: list[StreamDone] = []
    for event in provider.stream(request):
        if isinstance(event, TextDelta):
            assert not done, "a text delta came after StreamDone"
            deltas.append(event.text)
        else:
            done.append(event)
    assert len(done) == 1
    return deltas, done[0]


def failure(provider: Provider, request: ModelRequest | None = None) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        run(provider, request or ask())
    return info.value


# --- streaming --------------------------------------------------------------------------
def test_text_streams_as_several_deltas_in_order(server: FakeAnthropicServer) -> None:
    server.script(Text("Hello there, how are you?", chunks=4))
    deltas, done = run(make_provider(server.base_url), ask())
    assert len(deltas) == 4
    assert "".join(deltas) == "Hello there, how are you?"
    assert done.stop_reason == "stop"
    assert done.tool_calls == ()


def test_deltas_are_yielded_as_they_arrive(server: FakeAnthropicServer) -> None:
    server.script(Text("first second", chunks=2, delay_s=0.3))
    started = time.monotonic()
    stream = make_provider(server.base_url).stream(ask())
    first = next(stream)
    first_at = time.monotonic() - started
    rest = list(stream)
    total = time.monotonic() - started
    assert isinstance(first, TextDelta)
    assert first_at < total - 0.2, "the first delta waited for the whole reply"
    assert isinstance(rest[-1], StreamDone)


def test_request_carries_model_system_tools_and_key(server: FakeAnthropicServer) -> None:
    run(make_provider(server.base_url), ask("what is up", tools=[READ_TOOL], max_tokens=321))
    sent = server.last_request
    assert sent.path == "/v1/messages"
    assert sent.credential_matches(KEY)
    assert KEY not in json.dumps(sent.to_json())
    body = sent.body
    assert body["model"] == "claude-test"
    assert body["max_tokens"] == 321
    assert body["stream"] is True
    assert body["system"] == "You are terse."
    assert body["messages"] == [{"role": "user", "content": "what is up"}]
    assert body["tools"] == [
        {
            "name": "read_file",
            "description": "Read a file from the workspace.",
            "input_schema": READ_TOOL.parameters,
        }
    ]


def test_tools_and_empty_system_are_omitted(server: FakeAnthropicServer) -> None:
    request = ModelRequest(model="m", system="", messages=[ChatMessage(role="user", text="x")])
    run(make_provider(server.base_url), request)
    assert "tools" not in server.last_request.body
    assert "system" not in server.last_request.body


def test_default_reply_echoes_the_last_user_text(server: FakeAnthropicServer) -> None:
    deltas, _ = run(make_provider(server.base_url), ask("ping"))
    assert "".join(deltas) == "echo: ping"


# --- tools ------------------------------------------------------------------------------
def test_tool_call_turn_then_follow_up_carries_the_results(server: FakeAnthropicServer) -> None:
    server.script(
        ToolCalls(
            (
                FakeToolCall("read_file", {"path": "notes/a.txt"}, id="toolu_A"),
                FakeToolCall("read_file", {"path": "b.txt"}, id="toolu_B"),
            ),
            text="Let me look.",
            fragments=3,
        ),
        Text("Both files are empty."),
    )
    provider = make_provider(server.base_url)
    deltas, done = run(provider, ask("read them", tools=[READ_TOOL]))
    assert "".join(deltas) == "Let me look."
    assert done.stop_reason == "toolUse"
    assert [(c.id, c.name) for c in done.tool_calls] == [
        ("toolu_A", "read_file"),
        ("toolu_B", "read_file"),
    ]
    assert json.loads(done.tool_calls[0].arguments) == {"path": "notes/a.txt"}

    follow_up = ModelRequest(
        model="claude-test",
        system="You are terse.",
        tools=[READ_TOOL],
        messages=[
            ChatMessage(role="user", text="read them"),
            ChatMessage(role="assistant", text="Let me look.", tool_calls=done.tool_calls),
            ChatMessage(
                role="tool",
                tool_results=(
                    ToolResult("toolu_A", "read_file", ""),
                    ToolResult("toolu_B", "read_file", "no such file", is_error=True),
                ),
            ),
        ],
    )
    deltas, done = run(provider, follow_up)
    assert "".join(deltas) == "Both files are empty."
    messages = server.last_request.body["messages"]
    assert messages[1] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Let me look."},
            {
                "type": "tool_use",
                "id": "toolu_A",
                "name": "read_file",
                "input": {"path": "notes/a.txt"},
            },
            {"type": "tool_use", "id": "toolu_B", "name": "read_file", "input": {"path": "b.txt"}},
        ],
    }
    assert messages[2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_A", "content": "", "is_error": False},
            {
                "type": "tool_result",
                "tool_use_id": "toolu_B",
                "content": "no such file",
                "is_error": True,
            },
        ],
    }


def test_malformed_tool_arguments_are_sent_back_as_empty_input(server: FakeAnthropicServer) -> None:
    server.script(ToolCalls((FakeToolCall("read_file", '{"path": "a', id="toolu_X"),)))
    _, done = run(make_provider(server.base_url), ask())
    assert done.tool_calls == (ToolCall("toolu_X", "read_file", '{"path": "a'),)
    follow_up = ModelRequest(
        model="m",
        system="",
        messages=[
            ChatMessage(role="assistant", tool_calls=done.tool_calls),
            ChatMessage(role="tool", tool_results=(ToolResult("toolu_X", "read_file", "bad"),)),
        ],
    )
    run(make_provider(server.base_url), follow_up)
    assert server.last_request.body["messages"][0]["content"][0]["input"] == {}


def test_tool_call_without_arguments_reads_as_empty_object(server: FakeAnthropicServer) -> None:
    server.script(ToolCalls((FakeToolCall("now", {}, id="toolu_N"),)))
    _, done = run(make_provider(server.base_url), ask())
    assert done.tool_calls[0].parsed_arguments() == {}


# --- usage and stop reasons -------------------------------------------------------------
def test_usage_includes_cache_reads_and_writes(server: FakeAnthropicServer) -> None:
    server.script(Text("ok", usage=FakeUsage(input=120, output=7, cache_read=900, cache_write=40)))
    _, done = run(make_provider(server.base_url), ask())
    assert done.usage == Usage(input=120, output=7, cache_read=900, cache_write=40)


def test_max_tokens_stops_with_length(server: FakeAnthropicServer) -> None:
    server.script(Text("cut", stop="length"))
    _, done = run(make_provider(server.base_url), ask())
    assert done.stop_reason == "length"


# --- errors -----------------------------------------------------------------------------
ERROR_CASES: list[tuple[Step, str, int | None, str]] = [
    (HttpError(429), "rate_limit", 429, "anthropic: rate limited (HTTP 429): "),
    (HttpError(500), "server", 500, "anthropic: server error (HTTP 500): "),
    (HttpError(529), "overloaded", 529, "anthropic: overloaded (HTTP 529): "),
    (HttpError(503), "overloaded", 503, "anthropic: overloaded (HTTP 503): "),
    (HttpError(401), "auth", 401, "anthropic: authentication failed"),
    (HttpError(403), "auth", 403, "anthropic: authentication failed"),
    (HttpError(402), "billing", 402, "anthropic: out of credit"),
    (
        HttpError(400, message="Your credit balance is too low to access the Anthropic API."),
        "billing",
        400,
        "anthropic: out of credit",
    ),
    (HttpError(400), "bad_request", 400, "anthropic: request rejected (HTTP 400): "),
    (HttpError(404), "bad_request", 404, "anthropic: request rejected (HTTP 404): "),
    (ContextLength(), "context_length", 400, "anthropic: the prompt is too long"),
    (
        StreamError(),
        "overloaded",
        None,
        "anthropic: overloaded (stream error overloaded_error)",
    ),
    (StreamError(type="api_error", message="boom"), "server", None, "anthropic: server error"),
    (Malformed(), "malformed", None, "anthropic: sent a malformed stream"),
    (Truncated(), "truncated", None, "anthropic: the stream was cut off"),
    (Truncated(abrupt=False), "truncated", None, "anthropic: the stream ended before"),
    (
        Text("I can't help with that.", stop="refusal"),
        "refusal",
        None,
        "anthropic: the model refused",
    ),
]


@pytest.mark.parametrize(("step", "expected"), [(c[0], c[1:]) for c in ERROR_CASES])
def test_failures_map_to_reasons(
    server: FakeAnthropicServer, step: Step, expected: tuple[str, int | None, str]
) -> None:
    reason, status, starts = expected
    server.script(step)
    error = failure(make_provider(server.base_url))
    assert (error.reason, error.status) == (reason, status)
    assert error.message.startswith(starts), error.message


def test_rate_limit_carries_retry_after(server: FakeAnthropicServer) -> None:
    server.script(HttpError(429, retry_after="7"))
    error = failure(make_provider(server.base_url))
    assert error.retry_after_s == 7.0
    assert error.retriable
    assert error.kind == "rate_limit"


def test_context_length_message_quotes_the_provider(server: FakeAnthropicServer) -> None:
    server.script(ContextLength())
    error = failure(make_provider(server.base_url))
    assert CONTEXT_LENGTH_MESSAGE in error.message
    assert error.kind == "context_length"
    assert not error.retriable


def test_long_provider_messages_are_truncated(server: FakeAnthropicServer) -> None:
    server.script(HttpError(400, message="x" * 5000))
    error = failure(make_provider(server.base_url))
    assert len(error.message) < 400


def test_hang_times_out(server: FakeAnthropicServer) -> None:
    server.script(Hang(5))
    started = time.monotonic()
    error = failure(make_provider(server.base_url, timeout_s=0.5))
    assert error.reason == "timeout"
    assert error.message == "anthropic: timed out after 0.5 s"
    assert time.monotonic() - started < 2


def test_stall_mid_stream_times_out(server: FakeAnthropicServer) -> None:
    server.script(Text("a b", chunks=2, delay_s=3))
    error = failure(make_provider(server.base_url, timeout_s=0.2))
    assert error.reason == "timeout"


def test_refused_connection_is_a_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    error = failure(make_provider(f"http://127.0.0.1:{port}"))
    assert error.reason == "connection"
    assert error.message.startswith("anthropic: could not connect")


def test_the_api_key_never_appears_in_errors(server: FakeAnthropicServer) -> None:
    # A provider that echoes the key back must not get it into our messages or logs.
    server.script(HttpError(401, message=f"invalid x-api-key: {KEY}"))
    provider = make_provider(server.base_url)
    error = failure(provider)
    for text in (str(error), repr(error), error.message, repr(provider.profile), repr(provider)):
        assert KEY not in text
    assert "[redacted]" in error.message


# --- client reuse and speed -------------------------------------------------------------
def test_provider_client_builds_this_adapter_and_reuses_the_sdk_client(
    server: FakeAnthropicServer,
) -> None:
    from agents.providers import anthropic as adapter

    profile = make_provider(server.base_url).profile
    first = provider_client(profile, timeout_s=5.0)
    second = provider_client(profile, timeout_s=5.0)
    assert isinstance(first, AnthropicProvider)
    run(first, ask())
    run(second, ask())
    assert adapter._client(profile, 5.0) is adapter._client(profile, 5.0)


def test_a_turn_is_fast(server: FakeAnthropicServer) -> None:
    provider = make_provider(server.base_url)
    run(provider, ask())  # warm the connection pool
    times = []
    for _ in range(10):
        started = time.perf_counter()
        run(provider, ask())
        times.append(time.perf_counter() - started)
    assert statistics.median(times) < 0.030


def test_retry_after_parses_seconds_ms_and_dates() -> None:
    assert retry_after_s({"retry-after": "2.5"}) == 2.5
    assert retry_after_s({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_s({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after_s({"retry-after": "soon"}) is None
    assert retry_after_s({}) is None
