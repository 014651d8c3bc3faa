"""Anthropic Messages API adapter, on the official ``anthropic`` SDK (streaming).

Pure Python (no Django). Text deltas are yielded as the SSE events arrive; tool calls are
assembled from ``input_json_delta`` fragments and returned with ``StreamDone``. The SDK
does no retries of its own (``max_retries=0``): failover (``agents.runtime.failover``) decides
what to try next from the ``ProviderError.reason`` this module sets.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx2
from anthropic._models import construct_type  # what the SDK's stream decodes events with
from anthropic.types import MessageParam, RawMessageStreamEvent, ToolParam

from agents.providers._common import (
    SUMMARIES,
    ClientCache,
    pump,
    retry_after_s,
    scrub_detail,
    untransformed_body,
)
from agents.providers._interrupt import interrupted_error
from agents.providers.types import (
    AuthProfile,
    ChatMessage,
    ModelRequest,
    ProviderError,
    StreamDone,
    StreamEvent,
    ToolCall,
    ToolSpec,
    Usage,
)
from agents.providers.warm_samples import ANTHROPIC_EVENTS, decode_samples

# Anthropic stop_reason -> OpenClaw stop reason; "refusal" raises instead.
STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "tool_use": "toolUse",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
}
# error.type in an error body or an SSE ``error`` event -> ProviderError reason.
ERROR_TYPE_REASONS = {
    "rate_limit_error": "rate_limit",
    "overloaded_error": "overloaded",
    "api_error": "server",
    "timeout_error": "timeout",
    "authentication_error": "auth",
    "permission_error": "auth",
    "billing_error": "billing",
    "invalid_request_error": "bad_request",
    "not_found_error": "bad_request",
    "request_too_large": "bad_request",
}


_clients = ClientCache(anthropic.Anthropic)


def _client(profile: AuthProfile, timeout_s: float) -> anthropic.Anthropic:
    """Return a cached SDK client, so a turn reuses its connection pool."""
    return _clients.get(profile, timeout_s)


# --- request mapping --------------------------------------------------------------------
def wire_messages(messages: Sequence[ChatMessage]) -> list[MessageParam]:
    """Map the conversation to Messages API turns.

    Tool results become a ``user`` turn of ``tool_result`` blocks; an assistant turn's
    tool calls become ``tool_use`` blocks whose ``input`` is the parsed arguments (``{}``
    when the model sent malformed JSON, which the API would otherwise reject).
    """
    out: list[MessageParam] = []
    for message in messages:
        if message.role == "user":
            out.append({"role": "user", "content": message.text})
        elif message.role == "assistant":
            blocks: list[Any] = []
            if message.text:
                blocks.append({"type": "text", "text": message.text})
            blocks.extend(
                {
                    "type": "tool_use",
                    "id": call.id,
                    "name": call.name,
                    "input": call.arguments_or_empty(),
                }
                for call in message.tool_calls
            )
            if blocks:  # the API rejects an assistant turn with no content
                out.append({"role": "assistant", "content": blocks})
        elif message.role == "tool":
            results: list[Any] = [
                {
                    "type": "tool_result",
                    "tool_use_id": result.tool_call_id,
                    "content": result.content,
                    "is_error": result.is_error,
                }
                for result in message.tool_results
            ]
            out.append({"role": "user", "content": results})
        else:
            raise ValueError(f"unknown message role {message.role!r}; use user, assistant or tool")
    return out


def wire_tools(tools: Sequence[ToolSpec]) -> list[ToolParam]:
    return [
        {"name": t.name, "description": t.description, "input_schema": t.parameters} for t in tools
    ]


# --- the stream -------------------------------------------------------------------------
@dataclass
class _PendingCall:
    id: str
    name: str
    initial_input: object
    parts: list[str] = field(default_factory=list)

    def done(self) -> ToolCall:
        arguments = "".join(self.parts) or json.dumps(self.initial_input or {})
        return ToolCall(id=self.id, name=self.name, arguments=arguments)


@dataclass
class _Accumulator:
    """Folds raw stream events into usage, stop reason and tool calls."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    stop_reason: str | None = None
    finished: bool = False
    calls: dict[int, _PendingCall] = field(default_factory=dict)

    def apply(self, event: RawMessageStreamEvent) -> str:
        """Take one event; return the text it adds ("" for none)."""
        if event.type == "message_start":
            usage = event.message.usage
            self.input = usage.input_tokens or 0
            self.output = usage.output_tokens or 0
            self.cache_read = usage.cache_read_input_tokens or 0
            self.cache_write = usage.cache_creation_input_tokens or 0
        elif event.type == "content_block_start":
            block = event.content_block
            if block.type == "tool_use":
                self.calls[event.index] = _PendingCall(block.id, block.name, block.input)
            elif block.type == "text":
                return block.text or ""
        elif event.type == "content_block_delta":
            delta = event.delta
            if delta.type == "text_delta":
                return delta.text
            if delta.type == "input_json_delta":
                self.calls[event.index].parts.append(delta.partial_json)
        elif event.type == "message_delta":
            self.stop_reason = event.delta.stop_reason or self.stop_reason
            final = event.usage
            self.output = final.output_tokens or self.output
            # Usage in message_delta is cumulative; fields it leaves out keep their value.
            if final.input_tokens is not None:
                self.input = final.input_tokens
            if final.cache_read_input_tokens is not None:
                self.cache_read = final.cache_read_input_tokens
            if final.cache_creation_input_tokens is not None:
                self.cache_write = final.cache_creation_input_tokens
        elif event.type == "message_stop":
            self.finished = True
        return ""

    def done(self) -> StreamDone:
        calls = tuple(call.done() for _, call in sorted(self.calls.items()))
        stop = STOP_REASONS.get(self.stop_reason or "", "stop")
        if calls and stop == "stop":
            stop = "toolUse"
        usage = Usage(
            input=self.input,
            output=self.output,
            cache_read=self.cache_read,
            cache_write=self.cache_write,
        )
        return StreamDone(usage=usage, stop_reason=stop, tool_calls=calls)


class AnthropicProvider:
    """Streams a ``ModelRequest`` through the Messages API."""

    def __init__(self, profile: AuthProfile, *, timeout_s: float) -> None:
        self.profile = profile
        self.timeout_s = timeout_s
        self.name = profile.provider or "anthropic"

    def __repr__(self) -> str:
        return f"AnthropicProvider(profile={self.profile.id!r}, timeout_s={self.timeout_s!r})"

    def warm(self) -> None:
        """Build the cached client and load the SDK's lazy parts; no request is sent."""
        _ = _client(self.profile, self.timeout_s).messages
        decode_samples(construct_type, RawMessageStreamEvent, ANTHROPIC_EVENTS)

    def stream(self, request: ModelRequest) -> Iterator[StreamEvent]:
        """Yield text deltas as they arrive, then one ``StreamDone``; raise ``ProviderError``."""
        messages = wire_messages(request.messages)
        tools = wire_tools(request.tools)
        try:
            client = _client(self.profile, self.timeout_s)
            body = untransformed_body("messages", messages, tools)
            events = client.messages.create(
                model=request.model,
                max_tokens=request.max_tokens,
                messages=[],
                system=request.system or anthropic.omit,
                stream=True,
                extra_body=body,
            )
        except Exception as exc:
            raise self._error(exc, streaming=False) from exc
        acc = _Accumulator()
        yield from pump(events, acc.apply, lambda exc: self._error(exc, streaming=True))
        if acc.stop_reason == "refusal":
            raise ProviderError(
                f"{self.name}: the model refused to answer (stop_reason refusal)",
                reason="refusal",
            )
        if not acc.finished:
            raise ProviderError(
                f"{self.name}: the stream ended before message_stop", reason="truncated"
            )
        yield acc.done()

    # -- errors
    def _detail(self, text: object) -> str:
        return scrub_detail(text, self.profile.api_key)

    def _error(self, exc: Exception, *, streaming: bool) -> ProviderError:
        """Map an SDK or transport exception to a ``ProviderError`` with its reason."""
        if (cut := interrupted_error(self.name)) is not None:
            return cut
        if isinstance(exc, anthropic.APIStatusError):
            return self._status_error(exc)
        what = self._detail(f"{type(exc).__name__}: {exc}")
        # The SDK wraps request-time transport errors; mid-stream ones arrive raw (httpx2).
        if isinstance(exc, anthropic.APITimeoutError | httpx2.TimeoutException):
            reason, text = "timeout", f"timed out after {self.timeout_s:g} s"
        elif isinstance(exc, anthropic.APIConnectionError):
            reason, text = "connection", f"could not connect: {self._detail(exc.__cause__ or exc)}"
        elif isinstance(exc, httpx2.TransportError):
            reason, text = "truncated", f"the stream was cut off before message_stop ({what})"
        elif isinstance(exc, anthropic.APIResponseValidationError | ValueError | LookupError) or (
            streaming and isinstance(exc, AttributeError | TypeError)
        ):
            # Bad JSON in a data: line, or an event missing the fields the SDK models need.
            reason, text = "malformed", f"sent a malformed stream ({what})"
        else:
            reason, text = "unknown", f"unexpected error ({what})"
        return ProviderError(f"{self.name}: {text}", reason=reason)

    def _status_error(self, exc: anthropic.APIStatusError) -> ProviderError:
        error_type, message = _body_error(exc.body)
        # An SSE ``event: error`` arrives on an HTTP 200 stream: no HTTP status to report.
        status = exc.status_code if exc.status_code >= 400 else None
        reason = error_reason(status, error_type, message)
        detail = self._detail(message or exc.message)
        where = f"HTTP {status}" if status else f"stream error {error_type or 'unknown'}"
        retry_after = retry_after_s(exc.response.headers) if status else None
        return ProviderError(
            f"{self.name}: {SUMMARIES.get(reason, 'error')} ({where}): {detail}",
            reason=reason,
            status=status,
            retry_after_s=retry_after,
        )


def _body_error(body: object) -> tuple[str | None, str]:
    """``(error.type, error.message)`` of an Anthropic error body."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return None, str(body) if body else ""
    error_type = error.get("type")
    return (str(error_type) if error_type else None), str(error.get("message") or "")


def error_reason(status: int | None, error_type: str | None, message: str) -> str:
    """The ``ProviderError.reason`` for an HTTP error or an SSE error event."""
    low = message.lower()
    if "prompt is too long" in low or "exceed context limit" in low:
        return "context_length"
    if "credit balance" in low:
        return "billing"
    by_status = {429: "rate_limit", 402: "billing", 529: "overloaded", 503: "overloaded",
                 401: "auth", 403: "auth", 408: "timeout"}  # fmt: skip
    if status in by_status:
        return by_status[status]
    if error_type in ERROR_TYPE_REASONS:
        return ERROR_TYPE_REASONS[error_type]
    if status is not None and 400 <= status < 500:
        return "bad_request"
    # A 5xx, or an unknown error event mid-stream: the provider's side failed.
    return "server"
