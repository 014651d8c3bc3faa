"""A fake Anthropic Messages API (``POST /v1/messages``) for the real ``anthropic`` SDK.

Point ``anthropic.Anthropic(base_url=server.base_url)`` at it (the server root). Streams
``message_start``, ``ping``, ``content_block_start``/``_delta``/``_stop`` (text and
``tool_use`` with ``input_json_delta`` fragments), ``message_delta`` and ``message_stop``;
errors are ``{"type": "error", "error": {"type", "message"}}`` with the real statuses.

Run standalone with ``python -m tests.fakes.anthropic_server --port N``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from tests.fakes.llm_server import (
    FakeLLMServer,
    FakeToolCall,
    FakeUsage,
    HttpError,
    RecordedRequest,
    StreamRenderer,
    serve_main,
    split_text,
    sse,
)

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
ERROR_MESSAGES = {
    "invalid_request_error": "Invalid request",
    "authentication_error": "invalid x-api-key",
    "billing_error": "Your credit balance is too low to access the Anthropic API.",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "not_found_error": "Not found",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": "Number of request tokens has exceeded your per-minute rate limit",
    "api_error": "Internal server error",
    "timeout_error": "Request timed out",
    "overloaded_error": "Overloaded",
}
CONTEXT_LENGTH_MESSAGE = "prompt is too long: 210000 tokens > 200000 maximum"
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool": "tool_use",
    "refusal": "refusal",
}


class AnthropicRenderer(StreamRenderer):
    """Renders one Messages API reply as SSE events (or one ``message`` JSON body)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.message_id = self.new_id("msg_fake")
        self.index = -1
        self.open_block = False

    def _message(self, content: list[dict[str, Any]], stop: str | None) -> dict[str, Any]:
        return {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": STOP_REASONS.get(stop or ""),
            "stop_sequence": None,
            "usage": {
                "input_tokens": self.usage.input,
                "cache_creation_input_tokens": self.usage.cache_write,
                "cache_read_input_tokens": self.usage.cache_read,
                "output_tokens": self.usage.output if stop else 1,
            },
        }

    def _close_block(self) -> Iterator[bytes]:
        if self.open_block:
            self.open_block = False
            yield sse({"type": "content_block_stop", "index": self.index}, "content_block_stop")

    def start(self) -> Iterator[bytes]:
        yield sse({"type": "message_start", "message": self._message([], None)}, "message_start")
        yield sse({"type": "ping"}, "ping")

    def text(self, chunk: str) -> Iterator[bytes]:
        if not self.open_block:
            self.index += 1
            self.open_block = True
            block = {"type": "text", "text": ""}
            start = {"type": "content_block_start", "index": self.index, "content_block": block}
            yield sse(start, "content_block_start")
        delta = {"type": "text_delta", "text": chunk}
        event = {"type": "content_block_delta", "index": self.index, "delta": delta}
        yield sse(event, "content_block_delta")

    def tool_calls(self, calls: Sequence[FakeToolCall], fragments: int) -> Iterator[bytes]:
        yield from self._close_block()
        for call in calls:
            self.index += 1
            block = {"type": "tool_use", "id": self._call_id(call), "name": call.name, "input": {}}
            start = {"type": "content_block_start", "index": self.index, "content_block": block}
            yield sse(start, "content_block_start")
            # The real API sends one empty fragment for a call without arguments.
            for part in split_text(call.arguments_json(), fragments) or [""]:
                delta = {"type": "input_json_delta", "partial_json": part}
                event = {"type": "content_block_delta", "index": self.index, "delta": delta}
                yield sse(event, "content_block_delta")
            yield sse({"type": "content_block_stop", "index": self.index}, "content_block_stop")

    def _call_id(self, call: FakeToolCall) -> str:
        return call.id or self.new_id("toolu_fake")

    def finish(self, stop: str) -> Iterator[bytes]:
        yield from self._close_block()
        delta = {"stop_reason": STOP_REASONS[stop], "stop_sequence": None}
        usage = {"output_tokens": self.usage.output}
        yield sse({"type": "message_delta", "delta": delta, "usage": usage}, "message_delta")
        yield sse({"type": "message_stop"}, "message_stop")

    def error(self, type_: str, message: str, code: str | None) -> Iterator[bytes]:
        yield sse({"type": "error", "error": {"type": type_, "message": message}}, "error")

    def malformed(self) -> Iterator[bytes]:
        yield (
            b"event: content_block_delta\n"
            b'data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_del\n\n'
        )

    def complete(self, text: str, calls: Sequence[FakeToolCall], stop: str) -> dict[str, Any]:
        content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
        content += [
            {
                "type": "tool_use",
                "id": self._call_id(c),
                "name": c.name,
                "input": c.arguments if isinstance(c.arguments, dict) else {},
            }
            for c in calls
        ]
        return self._message(content, stop)


class FakeAnthropicServer(FakeLLMServer):
    """Fake Anthropic API; ``base_url`` is the server root, as the SDK expects."""

    vendor = "anthropic"

    def api_for(self, method: str, path: str) -> str | None:
        return "messages" if method == "POST" and path.rstrip("/").endswith("/messages") else None

    def last_user_text(self, request: RecordedRequest) -> str:
        body = request.body if isinstance(request.body, dict) else {}
        for message in reversed(body.get("messages") or []):
            if message.get("role") != "user":
                continue
            content = message.get("content")
            if isinstance(content, str):
                return content
            texts = [b.get("text", "") for b in content or [] if b.get("type") == "text"]
            if texts:
                return "".join(texts)
        return ""

    def error_body(self, step: HttpError) -> dict[str, Any]:
        type_ = (
            step.type
            or ERROR_TYPES.get(step.status)
            or ("api_error" if step.status >= 500 else "invalid_request_error")
        )
        message = step.message or ERROR_MESSAGES.get(type_, "Error")
        return {
            "type": "error",
            "error": {"type": type_, "message": message},
            "request_id": "req_fake",
        }

    def context_length_error(self, api: str) -> HttpError:
        return HttpError(400, "invalid_request_error", CONTEXT_LENGTH_MESSAGE)

    def renderer(self, api: str, request: RecordedRequest, usage: FakeUsage) -> StreamRenderer:
        return AnthropicRenderer(request=request, usage=usage, ids=self._ids)

    def response_headers(self) -> dict[str, str]:
        return {"request-id": "req_fake"}


if __name__ == "__main__":
    raise SystemExit(serve_main(FakeAnthropicServer))
