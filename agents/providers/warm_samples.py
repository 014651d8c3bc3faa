"""Wire events that a provider's ``warm()`` decodes once, with no request sent.

The SDKs build each stream event's model lazily: the first chunk of the first turn paid
for resolving the event types' fields (tens of ms). Decoding one sample of each event a
turn reads, the way the SDK's stream does (its ``construct_type``), moves that cost to
the warm-up. The samples are the shapes of the real wire formats (the fakes in
``tests/fakes/`` send the same); their values mean nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

_TOOL_CALL = {"id": "call_warm", "type": "function", "function": {"name": "t", "arguments": "{}"}}
_USAGE_CHAT = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}

CHAT_CHUNKS: Sequence[dict[str, Any]] = (
    {
        "id": "chatcmpl-warm",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "warm",
        "choices": [
            {
                "index": 0,
                "delta": {
                    "role": "assistant",
                    "content": "w",
                    "tool_calls": [_TOOL_CALL | {"index": 0}],
                },
                "finish_reason": None,
            }
        ],
    },
    {
        "id": "chatcmpl-warm",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "warm",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "usage": _USAGE_CHAT,
    },
)

_FUNCTION_CALL_ITEM = {
    "type": "function_call",
    "id": "fc_warm",
    "call_id": "call_warm",
    "name": "t",
    "arguments": "{}",
    "status": "completed",
}
_RESPONSE = {
    "id": "resp_warm",
    "object": "response",
    "created_at": 0,
    "model": "warm",
    "status": "completed",
    "output": [
        {
            "type": "message",
            "id": "msg_warm",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "w", "annotations": []}],
        },
        _FUNCTION_CALL_ITEM,
    ],
    "usage": {
        "input_tokens": 1,
        "output_tokens": 1,
        "total_tokens": 2,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    },
}

RESPONSES_EVENTS: Sequence[dict[str, Any]] = (
    {"type": "response.created", "sequence_number": 0, "response": _RESPONSE},
    {
        "type": "response.output_text.delta",
        "sequence_number": 1,
        "item_id": "msg_warm",
        "output_index": 0,
        "content_index": 0,
        "delta": "w",
        "logprobs": [],
    },
    {
        "type": "response.output_item.added",
        "sequence_number": 2,
        "output_index": 1,
        "item": _FUNCTION_CALL_ITEM,
    },
    {
        "type": "response.function_call_arguments.delta",
        "sequence_number": 3,
        "item_id": "fc_warm",
        "output_index": 1,
        "delta": "{}",
    },
    {"type": "response.completed", "sequence_number": 4, "response": _RESPONSE},
)

ANTHROPIC_EVENTS: Sequence[dict[str, Any]] = (
    {
        "type": "message_start",
        "message": {
            "id": "msg_warm",
            "type": "message",
            "role": "assistant",
            "model": "warm",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 1},
        },
    },
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "w"}},
    {
        "type": "content_block_start",
        "index": 1,
        "content_block": {"type": "tool_use", "id": "toolu_warm", "name": "t", "input": {}},
    },
    {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "input_json_delta", "partial_json": "{}"},
    },
    {"type": "content_block_stop", "index": 1},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 1},
    },
    {"type": "message_stop"},
)


def decode_samples(
    construct_type: Callable[..., object], type_: object, samples: Sequence[dict[str, Any]]
) -> int:
    """Decode each sample as the SDK's stream decodes an event; the number decoded."""
    for sample in samples:
        construct_type(type_=type_, value=sample)
    return len(samples)
