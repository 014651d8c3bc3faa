"""The chat completions adapter (``openai-chat``), for OpenAI and compatible servers.

``OpenAIChatProvider`` also serves OpenAI-compatible servers (Ollama, vLLM, OpenRouter)
through ``AuthProfile.base_url``; usage comes with ``stream_options.include_usage``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import openai
from openai._models import construct_type  # what the SDK's stream decodes events with
from openai.types.chat import (
    ChatCompletionChunk,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageParam,
)

from agents.providers._common import pump, untransformed_body
from agents.providers.openai.base import (
    OpenAIBase,
    PendingCall,
    client_for,
    echo_arguments,
    usage_of,
)
from agents.providers.types import ChatMessage, ModelRequest, StreamDone, StreamEvent, Usage
from agents.providers.warm_samples import CHAT_CHUNKS, decode_samples

CHAT_STOP_REASONS = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "toolUse",
    "function_call": "toolUse",
}


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
                                "function": {"name": call.name, "arguments": echo_arguments(call)},
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


class OpenAIChatProvider(OpenAIBase):
    """Streams a ``ModelRequest`` through chat completions (``stream_options.include_usage``)."""

    terminal_event = "a finish_reason"

    def warm_api(self, client: openai.OpenAI) -> None:
        _ = client.chat.completions
        decode_samples(construct_type, ChatCompletionChunk, CHAT_CHUNKS)

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
            client = client_for(self.profile, self.timeout_s)
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
    calls: dict[int, PendingCall] = field(default_factory=dict)

    def apply(self, chunk: ChatCompletionChunk) -> str:
        """Take one chunk; return the text it adds ("" for none)."""
        if chunk.usage is not None:
            details = chunk.usage.prompt_tokens_details
            self.usage = usage_of(
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
                call = self.calls.setdefault(tc.index, PendingCall(id=f"call_{tc.index}", name=""))
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
