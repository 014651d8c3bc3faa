"""A stand-in model that answers deterministically, so the real event flow can run.

It is used only when a model ref names it (``placeholder/echo``): an offline model to
try the gateway without any key, and the model of the protocol tests. Its reply says so, and it streams in a few chunks with a short pause between
them, like a real model, so clients see status, deltas and a final.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

from agents.providers.types import (
    ChatMessage,
    ModelRequest,
    StreamDone,
    StreamEvent,
    TextDelta,
    Usage,
)

MODEL_REF = "placeholder/echo"
REPLY_PREFIX = "Placeholder reply (the offline placeholder/echo model): "
CHUNKS = 4
CHUNK_DELAY_S = 0.04


def _split(text: str, parts: int) -> list[str]:
    """Split ``text`` into at most ``parts`` chunks at spaces; joined they give ``text``."""
    words = text.split(" ")
    size = max(1, -(-len(words) // parts))
    chunks = [" ".join(words[i : i + size]) for i in range(0, len(words), size)]
    return [chunk if i == 0 else " " + chunk for i, chunk in enumerate(chunks)]


class PlaceholderProvider:
    """Echo the last user message behind a notice; ``model`` is ignored."""

    def __init__(
        self, *, delay_s: float | None = None, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.delay_s = CHUNK_DELAY_S if delay_s is None else delay_s
        self.sleep = sleep

    def reply_for(self, messages: Sequence[ChatMessage]) -> str:
        last_user = next((m.text for m in reversed(messages) if m.role == "user"), "")
        return REPLY_PREFIX + (last_user.strip() or "(empty message)")

    def stream(self, request: ModelRequest) -> Iterator[StreamEvent]:
        messages = request.messages
        reply = self.reply_for(messages)
        for i, chunk in enumerate(_split(reply, CHUNKS)):
            if i and self.delay_s:
                self.sleep(self.delay_s)
            yield TextDelta(chunk)
        prompt_words = sum(len(m.text.split()) for m in messages)
        yield StreamDone(usage=Usage(input=prompt_words, output=len(reply.split())))
