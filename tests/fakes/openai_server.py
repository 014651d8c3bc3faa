"""A fake OpenAI API for the real ``openai`` SDK: chat completions and Responses.

Point ``openai.OpenAI(base_url=server.base_url)`` at it (``<root>/v1``; the routes also
answer without the ``/v1`` prefix, so the bare root works as a base URL too).

- ``POST /v1/chat/completions``: ``chat.completion.chunk`` SSE (role chunk, content
  deltas, ``tool_calls`` deltas, ``finish_reason``, a usage chunk with empty ``choices``
  when ``stream_options.include_usage`` is set, then ``data: [DONE]``).
- ``POST /v1/responses``: ``response.created`` ... ``response.completed`` SSE with
  ``sequence_number`` on every event; function calls as ``function_call`` items.

Errors are ``{"error": {"message", "type", "param", "code"}}``. Run standalone with
``python -m tests.fakes.openai_server --port N``.
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

ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request"),
    401: (
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
    ),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Forbidden"),
    404: ("invalid_request_error", "model_not_found", "The model does not exist"),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests"),
    500: ("server_error", None, "The server had an error while processing your request."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later"),
}
CONTEXT_LENGTH_MESSAGE = (
    "This model's maximum context length is 128000 tokens. However, your messages resulted "
    "in 210000 tokens. Please reduce the length of the messages."
)
FINISH_REASONS = {
    "stop": "stop",
    "length": "length",
    "tool": "tool_calls",
    "refusal": "content_filter",
}


def _prompt_tokens(usage: FakeUsage) -> int:
    # OpenAI counts cached (and cache-written) tokens inside the prompt total.
    return usage.input + usage.cache_read + usage.cache_write


class ChatRenderer(StreamRenderer):
    """Renders one chat completion as ``chat.completion.chunk`` SSE lines."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.completion_id = self.new_id("chatcmpl-fake")
        options = self.body.get("stream_options") or {}
        self.include_usage = bool(options.get("include_usage"))

    def _usage(self) -> dict[str, Any]:
        prompt = _prompt_tokens(self.usage)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": self.usage.output,
            "total_tokens": prompt + self.usage.output,
            "prompt_tokens_details": {
                "cached_tokens": self.usage.cache_read,
                "cache_write_tokens": self.usage.cache_write,
                "audio_tokens": 0,
            },
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        chunk: dict[str, Any] = {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_fake",
            "choices": [choice],
        }
        if self.include_usage:
            chunk["usage"] = None
        return sse(chunk)

    def start(self) -> Iterator[bytes]:
        yield self._chunk({"role": "assistant", "content": "", "refusal": None})

    def text(self, chunk: str) -> Iterator[bytes]:
        yield self._chunk({"content": chunk})

    def tool_calls(self, calls: Sequence[FakeToolCall], fragments: int) -> Iterator[bytes]:
        for index, call in enumerate(calls):
            head = {
                "index": index,
                "id": call.id or self.new_id("call_fake"),
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            yield self._chunk({"tool_calls": [head]})
            for part in split_text(call.arguments_json(), fragments):
                yield self._chunk(
                    {"tool_calls": [{"index": index, "function": {"arguments": part}}]}
                )

    def finish(self, stop: str) -> Iterator[bytes]:
        yield self._chunk({}, FINISH_REASONS[stop])
        if self.include_usage:
            yield sse(
                {
                    "id": self.completion_id,
                    "object": "chat.completion.chunk",
                    "created": self.created,
                    "model": self.model,
                    "system_fingerprint": "fp_fake",
                    "choices": [],
                    "usage": self._usage(),
                }
            )
        yield sse("[DONE]")

    def error(self, type_: str, message: str, code: str | None) -> Iterator[bytes]:
        yield sse({"error": {"message": message, "type": type_, "param": None, "code": code}})

    def malformed(self) -> Iterator[bytes]:
        yield b'data: {"id": "chatcmpl-broken", "object": "chat.completion.chunk", "choices": [{"delta\n\n'

    def complete(self, text: str, calls: Sequence[FakeToolCall], stop: str) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
        if calls:
            message["tool_calls"] = [
                {
                    "id": c.id or self.new_id("call_fake"),
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments_json()},
                }
                for c in calls
            ]
        choice = {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": FINISH_REASONS[stop],
        }
        return {
            "id": self.completion_id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_fake",
            "choices": [choice],
            "usage": self._usage(),
        }


class ResponsesRenderer(StreamRenderer):
    """Renders one Responses API reply as typed SSE events with ``sequence_number``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.response_id = self.new_id("resp_fake")
        self.sequence = 0
        self.output: list[dict[str, Any]] = []
        self.message: dict[str, Any] | None = None
        self.message_text = ""

    def _event(self, type_: str, **fields: Any) -> bytes:
        event = {"type": type_, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return sse(event, type_)

    def _response(self, status: str, *, incomplete: str | None = None) -> dict[str, Any]:
        done = status != "in_progress"
        usage = None
        if done:
            prompt = _prompt_tokens(self.usage)
            usage = {
                "input_tokens": prompt,
                "input_tokens_details": {
                    "cached_tokens": self.usage.cache_read,
                    "cache_write_tokens": self.usage.cache_write,
                },
                "output_tokens": self.usage.output,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": prompt + self.usage.output,
            }
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": self.created,
            "status": status,
            "background": False,
            "error": None,
            "incomplete_details": {"reason": incomplete} if incomplete else None,
            "instructions": self.body.get("instructions"),
            "max_output_tokens": self.body.get("max_output_tokens"),
            "model": self.model,
            "output": list(self.output) if done else [],
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None},
            "store": True,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": self.body.get("tools") or [],
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": usage,
            "user": None,
            "metadata": {},
        }

    def start(self) -> Iterator[bytes]:
        yield self._event("response.created", response=self._response("in_progress"))
        yield self._event("response.in_progress", response=self._response("in_progress"))

    def text(self, chunk: str) -> Iterator[bytes]:
        if self.message is None:
            self.message = {
                "id": self.new_id("msg_fake"),
                "type": "message",
                "status": "in_progress",
                "content": [],
                "role": "assistant",
            }
            self.message_text = ""
            yield self._event(
                "response.output_item.added", output_index=len(self.output), item=self.message
            )
            yield self._event(
                "response.content_part.added",
                item_id=self.message["id"],
                output_index=len(self.output),
                content_index=0,
                part={"type": "output_text", "annotations": [], "logprobs": [], "text": ""},
            )
        self.message_text += chunk
        yield self._event(
            "response.output_text.delta",
            item_id=self.message["id"],
            output_index=len(self.output),
            content_index=0,
            delta=chunk,
            logprobs=[],
        )

    def _close_message(self) -> Iterator[bytes]:
        if self.message is None:
            return
        item_id, index = self.message["id"], len(self.output)
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": self.message_text}
        yield self._event(
            "response.output_text.done",
            item_id=item_id,
            output_index=index,
            content_index=0,
            text=self.message_text,
            logprobs=[],
        )
        yield self._event(
            "response.content_part.done",
            item_id=item_id,
            output_index=index,
            content_index=0,
            part=part,
        )
        item = {**self.message, "status": "completed", "content": [part]}
        yield self._event("response.output_item.done", output_index=index, item=item)
        self.output.append(item)
        self.message = None

    def tool_calls(self, calls: Sequence[FakeToolCall], fragments: int) -> Iterator[bytes]:
        yield from self._close_message()
        for call in calls:
            index, arguments = len(self.output), call.arguments_json()
            item = {
                "id": self.new_id("fc_fake"),
                "type": "function_call",
                "status": "in_progress",
                "arguments": "",
                "call_id": call.id or self.new_id("call_fake"),
                "name": call.name,
            }
            yield self._event("response.output_item.added", output_index=index, item=item)
            for part in split_text(arguments, fragments):
                yield self._event(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=index,
                    delta=part,
                )
            yield self._event(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=index,
                name=call.name,
                arguments=arguments,
            )
            done = {**item, "status": "completed", "arguments": arguments}
            yield self._event("response.output_item.done", output_index=index, item=done)
            self.output.append(done)

    def finish(self, stop: str) -> Iterator[bytes]:
        yield from self._close_message()
        if stop in ("length", "refusal"):
            reason = "max_output_tokens" if stop == "length" else "content_filter"
            response = self._response("incomplete", incomplete=reason)
            yield self._event("response.incomplete", response=response)
        else:
            yield self._event("response.completed", response=self._response("completed"))

    def error(self, type_: str, message: str, code: str | None) -> Iterator[bytes]:
        yield self._event("error", code=code or type_, message=message, param=None)

    def malformed(self) -> Iterator[bytes]:
        yield b'event: response.output_text.delta\ndata: {"type": "response.output_text.delta", "delta": "x\n\n'

    def complete(self, text: str, calls: Sequence[FakeToolCall], stop: str) -> dict[str, Any]:
        for _ in self.text(text) if text else ():
            pass
        for _ in self.tool_calls(calls, 1):
            pass
        for _ in self._close_message():
            pass
        if stop in ("length", "refusal"):
            reason = "max_output_tokens" if stop == "length" else "content_filter"
            return self._response("incomplete", incomplete=reason)
        return self._response("completed")


class FakeOpenAIServer(FakeLLMServer):
    """Fake OpenAI API; ``base_url`` is ``<root>/v1``, as the SDK expects."""

    vendor = "openai"

    @property
    def base_url(self) -> str:
        return self.root_url + "/v1"

    def api_for(self, method: str, path: str) -> str | None:
        if method != "POST":
            return None
        path = path.rstrip("/")
        if path.endswith("/chat/completions"):
            return "chat"
        if path.endswith("/responses"):
            return "responses"
        return None

    def last_user_text(self, request: RecordedRequest) -> str:
        body = request.body if isinstance(request.body, dict) else {}
        items = body.get("messages") or body.get("input") or []
        if isinstance(items, str):
            return items
        for item in reversed(items):
            if item.get("role") != "user":
                continue
            content = item.get("content")
            if isinstance(content, str):
                return content
            texts = [
                p.get("text", "") for p in content or [] if p.get("type") in ("text", "input_text")
            ]
            if texts:
                return "".join(texts)
        return ""

    def error_body(self, step: HttpError) -> dict[str, Any]:
        default_type, default_code, default_message = ERRORS.get(
            step.status,
            ("server_error" if step.status >= 500 else "invalid_request_error", None, "Error"),
        )
        return {
            "error": {
                "message": step.message or default_message,
                "type": step.type or default_type,
                "param": None,
                "code": step.code if step.code is not None else default_code,
            }
        }

    def context_length_error(self, api: str) -> HttpError:
        return HttpError(
            400, "invalid_request_error", CONTEXT_LENGTH_MESSAGE, "context_length_exceeded"
        )

    def renderer(self, api: str, request: RecordedRequest, usage: FakeUsage) -> StreamRenderer:
        cls = ChatRenderer if api == "chat" else ResponsesRenderer
        return cls(request=request, usage=usage, ids=self._ids)

    def response_headers(self) -> dict[str, str]:
        return {"x-request-id": "req_fake", "openai-processing-ms": "1"}


if __name__ == "__main__":
    raise SystemExit(serve_main(FakeOpenAIServer))
