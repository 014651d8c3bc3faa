"""Model providers: one small streaming interface, pure (no Django).

A provider turns a conversation into a stream of ``TextDelta`` events ending with one
``StreamDone`` (usage and stop reason). Failures raise ``ProviderError`` with an
OpenClaw ``errorKind`` (refusal, timeout, rate_limit, context_length, unknown).

Only ``PlaceholderProvider`` exists until the agent runtime adds real ones; every run
uses it, whatever model the agent names, and says so in its reply.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

ERROR_KINDS = frozenset({"refusal", "timeout", "rate_limit", "context_length", "unknown"})


@dataclass(frozen=True)
class ChatMessage:
    role: str  # user | assistant | system
    text: str


@dataclass(frozen=True)
class Usage:
    input: int = 0
    output: int = 0

    @property
    def total(self) -> int:
        return self.input + self.output


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class StreamDone:
    usage: Usage
    stop_reason: str = "stop"


StreamEvent = TextDelta | StreamDone


class ProviderError(Exception):
    """A model call that failed; ``kind`` is OpenClaw's ``errorKind``."""

    def __init__(self, message: str, *, kind: str = "unknown") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind if kind in ERROR_KINDS else "unknown"


class Provider(Protocol):
    def stream(self, messages: Sequence[ChatMessage], *, model: str) -> Iterator[StreamEvent]:
        """Yield text deltas, then exactly one ``StreamDone``."""
        ...


def default_model_ref() -> str:
    """Return the model every run uses for now (``provider/model``)."""
    from agents.providers.placeholder import MODEL_REF

    return MODEL_REF


def provider_for(model_ref: str) -> Provider:
    """Return the provider that serves ``model_ref`` (the placeholder, for now)."""
    from agents.providers.placeholder import PlaceholderProvider

    return PlaceholderProvider()
