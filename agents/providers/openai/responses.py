"""The Responses API adapter (``openai-responses``).

Stateless: the whole conversation goes in ``input`` every turn and ``store=False``, so
nothing is kept on OpenAI's side between turns.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import openai
from openai._models import construct_type  # what the SDK's stream decodes events with
from openai.types.responses import FunctionToolParam, ResponseInputItemParam, ResponseStreamEvent

from agents.providers._common import untransformed_body
from agents.providers.openai.base import (
    OpenAIBase,
    PendingCall,
    client_for,
    echo_arguments,
    usage_of,
)
from agents.providers.types import (
    ChatMessage,
    ModelRequest,
    StreamDone,
    StreamEvent,
    TextDelta,
    Usage,
)
from agents.providers.warm_samples import RESPONSES_EVENTS, decode_samples


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
                    "arguments": echo_arguments(call),
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


class OpenAIResponsesProvider(OpenAIBase):
    """Streams a ``ModelRequest`` through the Responses API.

    Stateless: the whole conversation goes in ``input`` every turn and ``store=False``,
    so nothing is kept on OpenAI's side between turns.
    """

    terminal_event = "response.completed"

    def warm_api(self, client: openai.OpenAI) -> None:
        _ = client.responses
        decode_samples(construct_type, ResponseStreamEvent, RESPONSES_EVENTS)

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
            client = client_for(self.profile, self.timeout_s)
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
    calls: dict[str, PendingCall] = field(default_factory=dict)

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
                    item.id or item.call_id, PendingCall(item.call_id, item.name)
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
                self.usage = usage_of(usage.input_tokens, usage.output_tokens, cached, written)
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
