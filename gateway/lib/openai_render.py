"""The OpenAI-compatible API's answers: chat completions and their chunks, Responses
objects and their event stream, as OpenAI shapes them (what the ``openai`` SDK parses).

Pure module: no Django.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

CREATED_OWNER = "openclaw"


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event: ``event: <type>`` (Responses) and ``data: <json>``."""
    body = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {body}\n\n".encode()


DONE = sse("[DONE]")


def _tokens(usage: Mapping[str, Any]) -> tuple[int, int, int]:
    """(input, output, total) of a run's usage (``{input, output, totalTokens}``)."""
    inp = int(usage.get("input") or 0) + int(usage.get("cacheRead") or 0)
    inp += int(usage.get("cacheWrite") or 0)
    out = int(usage.get("output") or 0)
    return inp, out, int(usage.get("totalTokens") or inp + out)


def chat_usage(usage: Mapping[str, Any]) -> dict[str, int]:
    inp, out, total = _tokens(usage)
    return {"prompt_tokens": inp, "completion_tokens": out, "total_tokens": total}


def chat_completion(
    *, id_: str, model: str, created: int, text: str, usage: Mapping[str, Any]
) -> dict[str, Any]:
    """A non-streamed ``chat.completion``."""
    return {
        "id": id_,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": chat_usage(usage),
    }


def chat_chunk(
    *,
    id_: str,
    model: str,
    created: int,
    delta: dict[str, Any],
    finish: str | None = None,
    with_usage: bool = False,
) -> bytes:
    """One ``chat.completion.chunk`` line (``usage: null`` when usage comes at the end)."""
    chunk: dict[str, Any] = {
        "id": id_,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    if with_usage:
        chunk["usage"] = None
    return sse(chunk)


def chat_usage_chunk(*, id_: str, model: str, created: int, usage: Mapping[str, Any]) -> bytes:
    """The last chunk when ``stream_options.include_usage``: no choices, the usage."""
    return sse(
        {
            "id": id_,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": chat_usage(usage),
        }
    )


def error_event(message: str, *, type_: str = "api_error", code: str | None = None) -> bytes:
    """An error in a chat completions stream (the SDK raises it as ``APIError``)."""
    return sse({"error": {"message": message, "type": type_, "param": None, "code": code}})


# --- Responses ------------------------------------------------------------------------------
def responses_usage(usage: Mapping[str, Any]) -> dict[str, Any]:
    inp, out, total = _tokens(usage)
    return {
        "input_tokens": inp,
        "input_tokens_details": {"cached_tokens": int(usage.get("cacheRead") or 0)},
        "output_tokens": out,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": total,
    }


def output_message(*, id_: str, text: str, status: str = "completed") -> dict[str, Any]:
    return {
        "id": id_,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    }


def response_object(
    *,
    id_: str,
    model: str,
    created: int,
    status: str,
    output: list[dict[str, Any]],
    usage: Mapping[str, Any] | None = None,
    error: dict[str, str] | None = None,
    instructions: str | None = None,
    user: str | None = None,
) -> dict[str, Any]:
    """A ``response`` object (``in_progress``, ``completed``, ``incomplete`` or ``failed``)."""
    return {
        "id": id_,
        "object": "response",
        "created_at": created,
        "status": status,
        "background": False,
        "error": error,
        "incomplete_details": None,
        "instructions": instructions,
        "max_output_tokens": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": False,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "temperature": None,
        "text": {"format": {"type": "text"}},
        "tool_choice": "none",
        "tools": [],
        "top_p": None,
        "truncation": "disabled",
        "usage": responses_usage(usage) if usage is not None else None,
        "user": user,
        "metadata": {},
    }


class ResponseEvents:
    """The Responses API event stream of one answer: one message item, one text part."""

    def __init__(self, *, response: dict[str, Any], item_id: str) -> None:
        self.response = response
        self.item_id = item_id
        self.sequence = 0
        self.text = ""

    def _event(self, type_: str, **fields: Any) -> bytes:
        event = {"type": type_, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return sse(event, type_)

    def _part(self) -> dict[str, Any]:
        return {"type": "output_text", "text": self.text, "annotations": [], "logprobs": []}

    def start(self) -> list[bytes]:
        item = output_message(id_=self.item_id, text="", status="in_progress")
        item["content"] = []
        self.text = ""
        return [
            self._event("response.created", response=self.response),
            self._event("response.in_progress", response=self.response),
            self._event("response.output_item.added", output_index=0, item=item),
            self._event(
                "response.content_part.added",
                item_id=self.item_id,
                output_index=0,
                content_index=0,
                part=self._part(),
            ),
        ]

    def delta(self, text: str) -> bytes:
        self.text += text
        return self._event(
            "response.output_text.delta",
            item_id=self.item_id,
            output_index=0,
            content_index=0,
            delta=text,
            logprobs=[],
        )

    def finish(self, *, final: dict[str, Any]) -> list[bytes]:
        """Close the text, the part and the item; then ``response.completed`` (or
        ``response.failed`` / ``response.incomplete``, by ``final["status"]``)."""
        item = output_message(id_=self.item_id, text=self.text)
        kind = {"failed": "response.failed", "incomplete": "response.incomplete"}.get(
            final["status"], "response.completed"
        )
        return [
            self._event(
                "response.output_text.done",
                item_id=self.item_id,
                output_index=0,
                content_index=0,
                text=self.text,
                logprobs=[],
            ),
            self._event(
                "response.content_part.done",
                item_id=self.item_id,
                output_index=0,
                content_index=0,
                part=self._part(),
            ),
            self._event("response.output_item.done", output_index=0, item=item),
            self._event(kind, response={**final, "output": [item]}),
        ]


def model_object(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": CREATED_OWNER}
