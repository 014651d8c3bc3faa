"""OpenAI adapters on the official ``openai`` SDK: chat completions and the Responses API.

Pure Python (no Django). ``OpenAIChatProvider`` also serves OpenAI-compatible servers
(Ollama, vLLM, OpenRouter) through ``AuthProfile.base_url``. Both stream: text deltas are
yielded as they arrive, tool calls are assembled from their argument fragments and
returned with ``StreamDone``. The SDK does no retries of its own (``max_retries=0``):
failover decides what to try next from the ``ProviderError.reason`` set here.

``usage.input`` is the *uncached* prompt, as for Anthropic: OpenAI counts cached tokens
inside ``prompt_tokens``/``input_tokens``, so they are subtracted into ``cache_read``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import httpx2
import openai
from openai.types.chat import (
    ChatCompletionChunk,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageParam,
)
from openai.types.responses import FunctionToolParam, ResponseInputItemParam, ResponseStreamEvent

from agents.providers import (
    AuthProfile,
    ChatMessage,
    ModelRequest,
    ProviderError,
    StreamDone,
    StreamEvent,
    TextDelta,
    ToolCall,
    Usage,
)
from agents.providers._common import (
    SUMMARIES,
    ClientCache,
    pump,
    retry_after_s,
    scrub_detail,
    untransformed_body,
)
from agents.providers._interrupt import interrupted_error, make_interruptible

KEYLESS_PLACEHOLDER = "no-key"

CHAT_STOP_REASONS = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "toolUse",
    "function_call": "toolUse",
}
STATUS_REASONS = {
    429: "rate_limit",
    402: "billing",
    529: "overloaded",
    503: "overloaded",
    401: "auth",
    403: "auth",
    408: "timeout",
}
# Error codes in a mid-stream error (no HTTP status) -> reason.
STREAM_CODE_REASONS = {
    "rate_limit_exceeded": "rate_limit",
    "server_error": "server",
    "server_is_overloaded": "overloaded",
    "overloaded_error": "overloaded",
    "slow_down": "overloaded",
    "insufficient_quota": "billing",
    "invalid_api_key": "auth",
    "invalid_prompt": "bad_request",
}


def _build_client(profile: AuthProfile, timeout_s: float) -> openai.OpenAI:
    client = openai.OpenAI(
        # Keyless OpenAI-compatible servers (Ollama, a local vLLM) take no key, but the
        # SDK refuses to start without one; a placeholder is harmless there.
        api_key=profile.api_key or KEYLESS_PLACEHOLDER,
        base_url=profile.base_url,
        timeout=timeout_s,
        max_retries=0,
    )
    # So the run watchdog can cut a stalled stream (abort, time limit, shutdown).
    make_interruptible(client._client)
    return client


_clients = ClientCache(_build_client)


def _client(profile: AuthProfile, timeout_s: float) -> openai.OpenAI:
    """Return a cached SDK client, so a turn reuses its connection pool."""
    return _clients.get(profile, timeout_s, openai.OpenAI)


def _echo_arguments(call: ToolCall) -> str:
    """The call's arguments as sent back to the API: ``{}`` when they are not valid JSON."""
    try:
        call.parsed_arguments()
    except ValueError:
        return "{}"
    return call.arguments


# --- request mapping --------------------------------------------------------------------
def chat_messages(system: str, messages: Sequence[ChatMessage]) -> list[ChatCompletionMessageParam]:
    """Map the conversation to chat completion messages: system first, one ``tool``
    message per tool result."""
    out: list[ChatCompletionMessageParam] = []
    if system:
        out.append({"role": "system", "content": system})
    for message in messages:
        if message.role == "user":
            out.append({"role": "user", "content": message.text})
        elif message.role == "assistant":
            if message.tool_calls:
                out.append(
                    {
                        "role": "assistant",
                        "content": message.text or None,
                        "tool_calls": [
                            {
                                "id": call.id,
                                "type": "function",
                                "function": {"name": call.name, "arguments": _echo_arguments(call)},
                            }
                            for call in message.tool_calls
                        ],
                    }
                )
            else:
                out.append({"role": "assistant", "content": message.text})
        elif message.role == "tool":
            out.extend(
                {"role": "tool", "tool_call_id": r.tool_call_id, "content": r.content}
                for r in message.tool_results
            )
        else:
            raise ValueError(f"unknown message role {message.role!r}; use user, assistant or tool")
    return out


def responses_input(messages: Sequence[ChatMessage]) -> list[ResponseInputItemParam]:
    """Map the conversation to Responses input items: messages, ``function_call`` items
    for the assistant's calls and ``function_call_output`` items for their results."""
    out: list[ResponseInputItemParam] = []
    for message in messages:
        if message.role == "user":
            out.append({"role": "user", "content": message.text})
        elif message.role == "assistant":
            if message.text:
                out.append({"role": "assistant", "content": message.text})
            out.extend(
                {
                    "type": "function_call",
                    "call_id": call.id,
                    "name": call.name,
                    "arguments": _echo_arguments(call),
                }
                for call in message.tool_calls
            )
        elif message.role == "tool":
            out.extend(
                {"type": "function_call_output", "call_id": r.tool_call_id, "output": r.content}
                for r in message.tool_results
            )
        else:
            raise ValueError(f"unknown message role {message.role!r}; use user, assistant or tool")
    return out


# --- the stream -------------------------------------------------------------------------
@dataclass
class _PendingCall:
    id: str
    name: str
    parts: list[str] = field(default_factory=list)
    final: str | None = None

    def done(self) -> ToolCall:
        arguments = self.final if self.final is not None else "".join(self.parts)
        return ToolCall(id=self.id, name=self.name, arguments=arguments or "{}")


def _usage(total_input: int, output: int, cached: int | None, written: int | None) -> Usage:
    cache_read, cache_write = cached or 0, written or 0
    return Usage(
        input=max(0, total_input - cache_read - cache_write),
        output=output,
        cache_read=cache_read,
        cache_write=cache_write,
    )


class _OpenAIBase:
    """What both adapters share: the profile, key-safe error messages, error mapping."""

    terminal_event = "the terminal event"

    def __init__(self, profile: AuthProfile, *, timeout_s: float) -> None:
        self.profile = profile
        self.timeout_s = timeout_s
        self.name = profile.provider or "openai"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(profile={self.profile.id!r}, timeout_s={self.timeout_s!r})"

    def _detail(self, text: object) -> str:
        return scrub_detail(text, self.profile.api_key)

    def _refusal(self, detail: str) -> ProviderError:
        return ProviderError(
            f"{self.name}: the model refused to answer ({detail})", reason="refusal"
        )

    def _truncated(self) -> ProviderError:
        return ProviderError(
            f"{self.name}: the stream ended before {self.terminal_event}", reason="truncated"
        )

    def _error(self, exc: Exception, *, streaming: bool) -> ProviderError:
        """Map an SDK or transport exception to a ``ProviderError`` with its reason."""
        if (cut := interrupted_error(self.name)) is not None:
            return cut
        if isinstance(exc, openai.APIStatusError):
            return self._api_error(exc.status_code, exc.body, exc.message, exc.response.headers)
        if isinstance(exc, openai.APIError) and not isinstance(
            exc, openai.APIConnectionError | openai.APIResponseValidationError
        ):
            # An ``{"error": {...}}`` chunk mid-stream: the body is the error object.
            return self._api_error(None, exc.body, exc.message, None)
        what = self._detail(f"{type(exc).__name__}: {exc}")
        if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
            reason, text = "timeout", f"timed out after {self.timeout_s:g} s"
        elif isinstance(exc, openai.APIConnectionError | httpx2.TransportError):
            cause = self._detail(exc.__cause__ or exc)
            # The SDK wraps a connection dropped mid-body as a connection error too.
            reason, text = (
                ("truncated", f"the stream was cut off before {self.terminal_event} ({cause})")
                if streaming
                else ("connection", f"could not connect: {cause}")
            )
        elif isinstance(exc, openai.APIResponseValidationError | ValueError | LookupError) or (
            streaming and isinstance(exc, AttributeError | TypeError)
        ):
            # Bad JSON in a data: line, or an event missing the fields the SDK models need.
            reason, text = "malformed", f"sent a malformed stream ({what})"
        else:
            reason, text = "unknown", f"unexpected error ({what})"
        return ProviderError(f"{self.name}: {text}", reason=reason)

    def _api_error(
        self,
        status: int | None,
        body: object,
        fallback: str,
        headers: Mapping[str, str] | None,
    ) -> ProviderError:
        """An error from an HTTP status (or none, mid-stream) and the error object."""
        error = body if isinstance(body, Mapping) else {}
        code = str(error.get("code") or "") or None
        error_type = str(error.get("type") or "") or None
        message = str(error.get("message") or fallback)
        reason = error_reason(status, code, error_type, message)
        where = f"HTTP {status}" if status else f"stream error {code or error_type or 'unknown'}"
        return ProviderError(
            f"{self.name}: {SUMMARIES.get(reason, 'error')} ({where}): {self._detail(message)}",
            reason=reason,
            status=status,
            retry_after_s=retry_after_s(headers) if headers is not None else None,
        )


class OpenAIChatProvider(_OpenAIBase):
    """Streams a ``ModelRequest`` through chat completions (``stream_options.include_usage``)."""

    terminal_event = "a finish_reason"

    def stream(self, request: ModelRequest) -> Iterator[StreamEvent]:
        """Yield text deltas as they arrive, then one ``StreamDone``; raise ``ProviderError``."""
        messages = chat_messages(request.system, request.messages)
        tools: list[ChatCompletionFunctionToolParam] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters,
                },
            }
            for t in request.tools
        ]
        try:
            client = _client(self.profile, self.timeout_s)
            body = untransformed_body("messages", messages, tools)
            chunks = client.chat.completions.create(
                model=request.model,
                messages=[],
                max_completion_tokens=request.max_tokens,
                stream=True,
                stream_options={"include_usage": True},
                extra_body=body,
            )
        except Exception as exc:
            raise self._error(exc, streaming=False) from exc
        acc = _ChatAccumulator()
        yield from pump(chunks, acc.apply, lambda exc: self._error(exc, streaming=True))
        if acc.finish_reason == "content_filter" or acc.refusal:
            raise self._refusal(self._detail(acc.refusal or "finish_reason content_filter"))
        if acc.finish_reason is None:
            raise self._truncated()
        yield acc.done()


@dataclass
class _ChatAccumulator:
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    refusal: str = ""
    calls: dict[int, _PendingCall] = field(default_factory=dict)

    def apply(self, chunk: ChatCompletionChunk) -> str:
        """Take one chunk; return the text it adds ("" for none)."""
        if chunk.usage is not None:
            details = chunk.usage.prompt_tokens_details
            self.usage = _usage(
                chunk.usage.prompt_tokens,
                chunk.usage.completion_tokens,
                details.cached_tokens if details else None,
                details.cache_write_tokens if details else None,
            )
        text = ""
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            delta = choice.delta
            text += delta.content or ""
            self.refusal += delta.refusal or ""
            for tc in delta.tool_calls or ():
                # Some compatible servers omit the id; the index still ties the fragments.
                call = self.calls.setdefault(tc.index, _PendingCall(id=f"call_{tc.index}", name=""))
                if tc.id:
                    call.id = tc.id
                if tc.function is not None:
                    call.name += tc.function.name or ""
                    if tc.function.arguments:
                        call.parts.append(tc.function.arguments)
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason
        return text

    def done(self) -> StreamDone:
        calls = tuple(call.done() for _, call in sorted(self.calls.items()))
        stop = CHAT_STOP_REASONS.get(self.finish_reason or "", "stop")
        # Ollama and others report "stop" even when the model called tools.
        if calls and stop == "stop":
            stop = "toolUse"
        return StreamDone(usage=self.usage, stop_reason=stop, tool_calls=calls)


class OpenAIResponsesProvider(_OpenAIBase):
    """Streams a ``ModelRequest`` through the Responses API.

    Stateless: the whole conversation goes in ``input`` every turn and ``store=False``,
    so nothing is kept on OpenAI's side between turns.
    """

    terminal_event = "response.completed"

    def stream(self, request: ModelRequest) -> Iterator[StreamEvent]:
        """Yield text deltas as they arrive, then one ``StreamDone``; raise ``ProviderError``."""
        items = responses_input(request.messages)
        tools: list[FunctionToolParam] = [
            {
                "type": "function",
                "name": t.name,
                "description": t.description,
                "parameters": t.parameters,
                "strict": False,
            }
            for t in request.tools
        ]
        try:
            client = _client(self.profile, self.timeout_s)
            body = untransformed_body("input", items, tools)
            events = client.responses.create(
                model=request.model,
                instructions=request.system or openai.omit,
                max_output_tokens=request.max_tokens,
                store=False,
                stream=True,
                extra_body=body,
            )
        except Exception as exc:
            raise self._error(exc, streaming=False) from exc
        acc = _ResponsesAccumulator()
        try:
            for event in events:
                text = acc.apply(event)
                if text:
                    yield TextDelta(text)
                if acc.failure is not None:
                    break
        except Exception as exc:
            raise self._error(exc, streaming=True) from exc
        finally:
            events.close()
        if acc.failure is not None:
            code, message = acc.failure
            raise self._api_error(None, {"code": code, "message": message}, message, None)
        if acc.refusal or acc.incomplete == "content_filter":
            raise self._refusal(self._detail(acc.refusal or "incomplete: content_filter"))
        if acc.status is None:
            raise self._truncated()
        yield acc.done()


@dataclass
class _ResponsesAccumulator:
    usage: Usage = field(default_factory=Usage)
    status: str | None = None  # completed | incomplete, once the terminal event came
    incomplete: str | None = None
    refusal: str = ""
    failure: tuple[str | None, str] | None = None
    calls: dict[str, _PendingCall] = field(default_factory=dict)

    def apply(self, event: ResponseStreamEvent) -> str:
        """Take one event; return the text it adds ("" for none)."""
        if event.type == "response.output_text.delta":
            return event.delta
        if event.type == "response.refusal.delta":
            self.refusal += event.delta
        elif event.type in ("response.output_item.added", "response.output_item.done"):
            item = event.item
            if item.type == "function_call":
                call = self.calls.setdefault(
                    item.id or item.call_id, _PendingCall(item.call_id, item.name)
                )
                if event.type == "response.output_item.done":
                    call.final = item.arguments
        elif event.type == "response.function_call_arguments.delta":
            self.calls[event.item_id].parts.append(event.delta)
        elif event.type == "response.function_call_arguments.done":
            self.calls[event.item_id].final = event.arguments
        elif event.type in ("response.completed", "response.incomplete"):
            response = event.response
            self.status = "completed" if event.type == "response.completed" else "incomplete"
            incomplete = response.incomplete_details
            self.incomplete = incomplete.reason if incomplete else None
            if response.usage is not None:
                usage = response.usage
                # OpenAI-compatible servers may leave the details out.
                details = getattr(usage, "input_tokens_details", None)
                cached = getattr(details, "cached_tokens", None)
                written = getattr(details, "cache_write_tokens", None)
                self.usage = _usage(usage.input_tokens, usage.output_tokens, cached, written)
        elif event.type == "response.failed":
            error = event.response.error
            self.failure = (error.code, error.message) if error else (None, "response.failed")
        elif event.type == "error":
            self.failure = (event.code, event.message)
        return ""

    def done(self) -> StreamDone:
        calls = tuple(call.done() for call in self.calls.values())
        stop = "toolUse" if calls else "stop"
        if self.status == "incomplete":  # max_output_tokens; content_filter raised already
            stop = "length"
        return StreamDone(usage=self.usage, stop_reason=stop, tool_calls=calls)


def error_reason(status: int | None, code: str | None, error_type: str | None, message: str) -> str:
    """The ``ProviderError.reason`` for an HTTP error (``status``) or a mid-stream error."""
    low = message.lower()
    if (
        code == "context_length_exceeded"
        or "maximum context length" in low
        or "context window" in low
    ):
        return "context_length"
    # Real OpenAI sends quota exhaustion as HTTP 429 with this code: billing, not a wait.
    if "insufficient_quota" in (code, error_type):
        return "billing"
    if status is not None:
        return STATUS_REASONS.get(status) or ("server" if status >= 500 else "bad_request")
    by_code = [STREAM_CODE_REASONS[k] for k in (code, error_type) if k in STREAM_CODE_REASONS]
    # An unknown error mid-stream: the provider's side failed.
    return by_code[0] if by_code else ("overloaded" if "overloaded" in low else "server")
