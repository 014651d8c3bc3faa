"""The OpenAI adapters (chat completions and Responses), through the real ``openai`` SDK
against the local fake."""

from __future__ import annotations

import json
import socket
import statistics
import time
from collections.abc import Iterator

import pytest

from agents.providers import (
    API_OPENAI_CHAT,
    API_OPENAI_RESPONSES,
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
from agents.providers.openai import OpenAIChatProvider, OpenAIResponsesProvider, error_reason
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
from tests.fakes.openai_server import CONTEXT_LENGTH_MESSAGE, FakeOpenAIServer

KEY = "sk-proj-test-0123456789abcdef"
APIS = {"chat": API_OPENAI_CHAT, "responses": API_OPENAI_RESPONSES}
READ_TOOL = ToolSpec(
    name="read_file",
    description="Read a file from the workspace.",
    parameters={"type": "object", "properties": {"path": {"type": "string"}}},
)


@pytest.fixture(scope="module")
def shared_server() -> Iterator[FakeOpenAIServer]:
    # One server per module: its base URL stays the same, so the adapter's cached SDK
    # client (about 30 ms to build) is reused across tests, as in production.
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
def server(shared_server: FakeOpenAIServer) -> FakeOpenAIServer:
    shared_server.reset()
    return shared_server


@pytest.fixture(params=["chat", "responses"])
def api(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_provider(
    api: str, base_url: str, *, timeout_s: float = 5.0
) -> OpenAIChatProvider | OpenAIResponsesProvider:
    profile = AuthProfile(
        id=f"openai:{api}", provider="openai", api=APIS[api], api_key=KEY, base_url=base_url
    )
    cls = OpenAIChatProvider if api == "chat" else OpenAIResponsesProvider
    return cls(profile, timeout_s=timeout_s)


def ask(text: str = "hi", **kwargs: object) -> ModelRequest:
    return ModelRequest(
        model="gpt-test",
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


# --- streaming (both APIs) --------------------------------------------------------------
def test_text_streams_as_several_deltas_in_order(server: FakeOpenAIServer, api: str) -> None:
    server.script(Text("Hello there, how are you?", chunks=4))
    deltas, done = run(make_provider(api, server.base_url), ask())
    assert len(deltas) == 4
    assert "".join(deltas) == "Hello there, how are you?"
    assert done.stop_reason == "stop"
    assert done.tool_calls == ()


def test_deltas_are_yielded_as_they_arrive(server: FakeOpenAIServer, api: str) -> None:
    server.script(Text("first second", chunks=2, delay_s=0.3))
    started = time.monotonic()
    stream = make_provider(api, server.base_url).stream(ask())
    first = next(stream)
    first_at = time.monotonic() - started
    rest = list(stream)
    total = time.monotonic() - started
    assert isinstance(first, TextDelta)
    assert first_at < total - 0.2, "the first delta waited for the whole reply"
    assert isinstance(rest[-1], StreamDone)


def test_usage_splits_out_cached_tokens(server: FakeOpenAIServer, api: str) -> None:
    server.script(Text("ok", usage=FakeUsage(input=120, output=7, cache_read=900, cache_write=40)))
    _, done = run(make_provider(api, server.base_url), ask())
    assert done.usage == Usage(input=120, output=7, cache_read=900, cache_write=40)
    # What the wire said: OpenAI counts cached tokens inside the prompt total.
    assert done.usage.input + done.usage.cache_read + done.usage.cache_write == 1060


def test_max_tokens_stops_with_length(server: FakeOpenAIServer, api: str) -> None:
    server.script(Text("cut", stop="length"))
    _, done = run(make_provider(api, server.base_url), ask())
    assert done.stop_reason == "length"


def test_default_reply_echoes_the_last_user_text(server: FakeOpenAIServer, api: str) -> None:
    deltas, _ = run(make_provider(api, server.base_url), ask("ping"))
    assert "".join(deltas) == "echo: ping"


def test_tool_calls_are_assembled_from_fragments(server: FakeOpenAIServer, api: str) -> None:
    server.script(
        ToolCalls(
            (
                FakeToolCall("read_file", {"path": "notes/a.txt"}, id="call_A"),
                FakeToolCall("read_file", {"path": "b.txt"}, id="call_B"),
            ),
            text="Let me look.",
            fragments=3,
        )
    )
    deltas, done = run(make_provider(api, server.base_url), ask(tools=[READ_TOOL]))
    assert "".join(deltas) == "Let me look."
    assert done.stop_reason == "toolUse"
    assert done.tool_calls == (
        ToolCall("call_A", "read_file", '{"path":"notes/a.txt"}'),
        ToolCall("call_B", "read_file", '{"path":"b.txt"}'),
    )


# --- wire shapes: chat completions ------------------------------------------------------
def conversation_with_tool_results(calls: tuple[ToolCall, ...]) -> ModelRequest:
    return ModelRequest(
        model="gpt-test",
        system="You are terse.",
        tools=[READ_TOOL],
        messages=[
            ChatMessage(role="user", text="read them"),
            ChatMessage(role="assistant", text="Let me look.", tool_calls=calls),
            ChatMessage(
                role="tool",
                tool_results=(
                    ToolResult("call_A", "read_file", "alpha"),
                    ToolResult("call_B", "read_file", "no such file", is_error=True),
                ),
            ),
        ],
    )


CALLS = (
    ToolCall("call_A", "read_file", '{"path":"a.txt"}'),
    ToolCall("call_B", "read_file", '{"path": "b'),  # malformed: echoed back as {}
)


def test_chat_request_shape_and_tool_results(server: FakeOpenAIServer) -> None:
    run(make_provider("chat", server.base_url), conversation_with_tool_results(CALLS))
    sent = server.last_request
    assert sent.path == "/v1/chat/completions"
    assert sent.credential_matches(KEY)
    assert KEY not in json.dumps(sent.to_json())
    body = sent.body
    assert body["model"] == "gpt-test"
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["max_completion_tokens"] == 4096
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "read_file",
                "description": "Read a file from the workspace.",
                "parameters": READ_TOOL.parameters,
            },
        }
    ]
    assert body["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "read them"},
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                {
                    "id": "call_A",
                    "type": "function",
                    "function": {"name": "read_file", "arguments": '{"path":"a.txt"}'},
                },
                {
                    "id": "call_B",
                    "type": "function",
                    "function": {"name": "read_file", "arguments": "{}"},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_A", "content": "alpha"},
        {"role": "tool", "tool_call_id": "call_B", "content": "no such file"},
    ]


def test_chat_omits_tools_and_empty_system(server: FakeOpenAIServer) -> None:
    request = ModelRequest(model="m", system="", messages=[ChatMessage(role="user", text="x")])
    run(make_provider("chat", server.base_url), request)
    body = server.last_request.body
    assert "tools" not in body
    assert body["messages"] == [{"role": "user", "content": "x"}]


# --- wire shapes: Responses -------------------------------------------------------------
def test_responses_request_shape_and_tool_results(server: FakeOpenAIServer) -> None:
    run(make_provider("responses", server.base_url), conversation_with_tool_results(CALLS))
    sent = server.last_request
    assert sent.path == "/v1/responses"
    assert sent.credential_matches(KEY)
    body = sent.body
    assert body["model"] == "gpt-test"
    assert body["stream"] is True
    assert body["store"] is False
    assert body["instructions"] == "You are terse."
    assert body["max_output_tokens"] == 4096
    assert body["tools"] == [
        {
            "type": "function",
            "name": "read_file",
            "description": "Read a file from the workspace.",
            "parameters": READ_TOOL.parameters,
            "strict": False,
        }
    ]
    assert body["input"] == [
        {"role": "user", "content": "read them"},
        {"role": "assistant", "content": "Let me look."},
        {
            "type": "function_call",
            "call_id": "call_A",
            "name": "read_file",
            "arguments": '{"path":"a.txt"}',
        },
        {"type": "function_call", "call_id": "call_B", "name": "read_file", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_A", "output": "alpha"},
        {"type": "function_call_output", "call_id": "call_B", "output": "no such file"},
    ]


def test_responses_omits_tools_and_empty_instructions(server: FakeOpenAIServer) -> None:
    request = ModelRequest(model="m", system="", messages=[ChatMessage(role="user", text="x")])
    run(make_provider("responses", server.base_url), request)
    body = server.last_request.body
    assert "tools" not in body
    assert "instructions" not in body


def test_tool_turn_round_trip(server: FakeOpenAIServer, api: str) -> None:
    """The calls a model made come back in the next request under the same ids."""
    server.script(ToolCalls((FakeToolCall("read_file", {"path": "a.txt"}, id="call_A"),)))
    provider = make_provider(api, server.base_url)
    _, done = run(provider, ask("read it", tools=[READ_TOOL]))
    follow_up = ModelRequest(
        model="gpt-test",
        system="",
        messages=[
            ChatMessage(role="user", text="read it"),
            ChatMessage(role="assistant", tool_calls=done.tool_calls),
            ChatMessage(role="tool", tool_results=(ToolResult("call_A", "read_file", "alpha"),)),
        ],
    )
    server.script(Text("It says alpha."))
    deltas, _ = run(provider, follow_up)
    assert "".join(deltas) == "It says alpha."
    body = server.last_request.body
    if api == "chat":
        assert body["messages"][1]["tool_calls"][0]["id"] == "call_A"
        assert body["messages"][1]["content"] is None
        assert body["messages"][2] == {"role": "tool", "tool_call_id": "call_A", "content": "alpha"}
    else:
        assert body["input"][1]["call_id"] == "call_A"
        assert body["input"][2] == {
            "type": "function_call_output",
            "call_id": "call_A",
            "output": "alpha",
        }


# --- errors -----------------------------------------------------------------------------
QUOTA = HttpError(
    429,
    type="insufficient_quota",
    code="insufficient_quota",
    message="You exceeded your current quota, please check your plan and billing details.",
)


ERROR_CASES: list[tuple[Step, str, int | None, str]] = [
    (HttpError(429), "rate_limit", 429, "openai: rate limited (HTTP 429): "),
    (QUOTA, "billing", 429, "openai: out of credit or quota (HTTP 429): "),
    (HttpError(402), "billing", 402, "openai: out of credit"),
    (HttpError(500), "server", 500, "openai: server error (HTTP 500): "),
    (HttpError(502), "server", 502, "openai: server error (HTTP 502): "),
    (HttpError(503), "overloaded", 503, "openai: overloaded (HTTP 503): "),
    (HttpError(529), "overloaded", 529, "openai: overloaded (HTTP 529): "),
    (HttpError(401), "auth", 401, "openai: authentication failed"),
    (HttpError(403), "auth", 403, "openai: authentication failed"),
    (HttpError(400), "bad_request", 400, "openai: request rejected (HTTP 400): "),
    (HttpError(404), "bad_request", 404, "openai: request rejected (HTTP 404): "),
    (HttpError(422), "bad_request", 422, "openai: request rejected (HTTP 422): "),
    (ContextLength(), "context_length", 400, "openai: the prompt is too long"),
    (StreamError(), "overloaded", None, "openai: overloaded (stream error "),
    (
        StreamError(type="server_error", code="server_error", message="boom"),
        "server",
        None,
        "openai: server error (stream error server_error): boom",
    ),
    (
        StreamError(type="requests", code="rate_limit_exceeded", message="slow down"),
        "rate_limit",
        None,
        "openai: rate limited",
    ),
    (Malformed(), "malformed", None, "openai: sent a malformed stream"),
    (Truncated(), "truncated", None, "openai: the stream was cut off"),
    (Truncated(abrupt=False), "truncated", None, "openai: the stream ended before"),
    (
        Text("I can't help with that.", stop="refusal"),
        "refusal",
        None,
        "openai: the model refused",
    ),
]


@pytest.mark.parametrize(("step", "expected"), [(c[0], c[1:]) for c in ERROR_CASES])
def test_failures_map_to_reasons(
    server: FakeOpenAIServer, api: str, step: Step, expected: tuple[str, int | None, str]
) -> None:
    reason, status, starts = expected
    server.script(step)
    error = failure(make_provider(api, server.base_url))
    assert (error.reason, error.status) == (reason, status)
    assert error.message.startswith(starts), error.message


def test_rate_limit_carries_retry_after(server: FakeOpenAIServer, api: str) -> None:
    server.script(HttpError(429, retry_after="3"))
    error = failure(make_provider(api, server.base_url))
    assert error.retry_after_s == 3.0
    assert error.kind == "rate_limit"


def test_context_length_message_quotes_the_provider(server: FakeOpenAIServer, api: str) -> None:
    server.script(ContextLength())
    error = failure(make_provider(api, server.base_url))
    assert CONTEXT_LENGTH_MESSAGE[:60] in error.message
    assert error.kind == "context_length"


def test_compatible_servers_context_message_without_code() -> None:
    message = "This model's maximum context length is 8192 tokens."
    assert error_reason(400, None, "invalid_request_error", message) == "context_length"


def test_hang_times_out(server: FakeOpenAIServer, api: str) -> None:
    server.script(Hang(5))
    started = time.monotonic()
    error = failure(make_provider(api, server.base_url, timeout_s=0.5))
    assert error.reason == "timeout"
    assert error.message == "openai: timed out after 0.5 s"
    assert time.monotonic() - started < 2


def test_stall_mid_stream_times_out(server: FakeOpenAIServer, api: str) -> None:
    server.script(Text("a b", chunks=2, delay_s=3))
    error = failure(make_provider(api, server.base_url, timeout_s=0.2))
    assert error.reason == "timeout"


def test_refused_connection_is_a_connection_error(api: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    error = failure(make_provider(api, f"http://127.0.0.1:{port}/v1"))
    assert error.reason == "connection"
    assert error.message.startswith("openai: could not connect")


def test_the_api_key_never_appears_in_errors(server: FakeOpenAIServer, api: str) -> None:
    # A provider that echoes the key back must not get it into our messages or logs.
    server.script(HttpError(401, message=f"Incorrect API key provided: {KEY}."))
    provider = make_provider(api, server.base_url)
    error = failure(provider)
    for text in (str(error), repr(error), error.message, repr(provider.profile), repr(provider)):
        assert KEY not in text
    assert "[redacted]" in error.message


def test_provider_name_comes_from_the_profile(server: FakeOpenAIServer) -> None:
    profile = AuthProfile(
        id="openrouter:1",
        provider="openrouter",
        api=API_OPENAI_CHAT,
        api_key=KEY,
        base_url=server.base_url,
    )
    server.script(HttpError(500))
    error = failure(provider_client(profile, timeout_s=5.0))
    assert error.message.startswith("openrouter: server error (HTTP 500)")


# --- client reuse and speed -------------------------------------------------------------
def test_provider_client_picks_the_adapter_and_reuses_the_sdk_client(
    server: FakeOpenAIServer, api: str
) -> None:
    from agents.providers.openai import base as adapter

    profile = make_provider(api, server.base_url).profile
    provider = provider_client(profile, timeout_s=5.0)
    assert type(provider) is (OpenAIChatProvider if api == "chat" else OpenAIResponsesProvider)
    run(provider, ask())
    assert adapter.client_for(profile, 5.0) is adapter.client_for(profile, 5.0)


def test_a_turn_is_fast(server: FakeOpenAIServer, api: str) -> None:
    provider = make_provider(api, server.base_url)
    run(provider, ask())  # warm the client
    times = []
    for _ in range(10):
        started = time.perf_counter()
        run(provider, ask())
        times.append(time.perf_counter() - started)
    assert statistics.median(times) < 0.030


def test_keyless_compatible_servers_work_without_a_key(server: FakeOpenAIServer) -> None:
    profile = AuthProfile(
        id="ollama:local",
        provider="ollama",
        api=API_OPENAI_CHAT,
        api_key="",
        base_url=server.base_url,
    )
    deltas, _ = run(provider_client(profile, timeout_s=5.0), ask("local"))
    assert "".join(deltas) == "echo: local"
