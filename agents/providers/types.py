"""The provider-neutral types: requests, the event stream, errors and credentials.

Pure (no Django, no SDK). Every adapter imports these from here, never from the
``agents.providers`` package, so the package can pick an adapter without an import
cycle; callers import them from ``agents.providers``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

# OpenClaw v4 chat error kinds.
ERROR_KINDS = frozenset({"refusal", "timeout", "rate_limit", "context_length", "unknown"})

# Finer reasons; the failover policy is keyed on these.
REASONS = frozenset(
    {
        "rate_limit",  # HTTP 429
        "overloaded",  # HTTP 529 / Anthropic overloaded_error / 503
        "server",  # other 5xx
        "timeout",  # the request or stream timed out
        "connection",  # could not connect / connection reset
        "auth",  # 401 / 403: this key is bad
        "billing",  # 402 / insufficient_quota: this key has no credit
        "context_length",  # the prompt is longer than the model's window
        "bad_request",  # 400 / 404 / 422 other than context length: not retriable
        "malformed",  # the provider sent something that is not its wire format
        "truncated",  # the stream ended before its terminal event
        "refusal",  # the model refused (content filter)
        # The run cut its own request (abort, time limit, shutdown): not the key's fault.
        "interrupted",
        "unknown",
    }
)
RETRIABLE_REASONS = frozenset(
    {
        "rate_limit",
        "overloaded",
        "server",
        "timeout",
        "connection",
        "auth",
        "billing",
        "malformed",
        "truncated",
    }
)
_KIND_OF_REASON = {
    "rate_limit": "rate_limit",
    "overloaded": "rate_limit",
    "timeout": "timeout",
    "context_length": "context_length",
    "refusal": "refusal",
}

API_ANTHROPIC = "anthropic-messages"
API_OPENAI_CHAT = "openai-chat"
API_OPENAI_RESPONSES = "openai-responses"
API_ECHO = "echo"
APIS = (API_ANTHROPIC, API_OPENAI_CHAT, API_OPENAI_RESPONSES, API_ECHO)


# --- the conversation ------------------------------------------------------------------
@dataclass(frozen=True)
class ToolSpec:
    """A tool offered to the model: name, description, JSON schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ToolCall:
    """A tool call the model made. ``arguments`` is the raw JSON text the model sent."""

    id: str
    name: str
    arguments: str

    def parsed_arguments(self) -> dict[str, Any]:
        """Return the arguments as an object; raise ``ValueError`` saying what is wrong."""
        text = self.arguments.strip() or "{}"
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"the arguments are not valid JSON ({exc.msg} at char {exc.pos})"
            ) from None
        if not isinstance(value, dict):
            raise ValueError(f"the arguments must be a JSON object, not {type(value).__name__}")
        return value

    def arguments_or_empty(self) -> dict[str, Any]:
        """The arguments as an object, or ``{}`` when malformed (for echoing them back)."""
        try:
            return self.parsed_arguments()
        except ValueError:
            return {}


@dataclass(frozen=True)
class ToolResult:
    tool_call_id: str
    name: str
    content: str
    is_error: bool = False


@dataclass(frozen=True)
class ChatMessage:
    """One conversation entry, provider neutral.

    ``user`` and ``assistant`` carry ``text``; an ``assistant`` entry may also carry the
    ``tool_calls`` it made; a ``tool`` entry carries the ``tool_results`` answering the
    previous assistant entry's calls (one entry for all of them).
    """

    role: str  # user | assistant | tool
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_results: tuple[ToolResult, ...] = ()


@dataclass(frozen=True)
class ModelRequest:
    model: str  # the provider's own model id, without the "provider/" prefix
    system: str
    messages: Sequence[ChatMessage]
    tools: Sequence[ToolSpec] = ()
    max_tokens: int = 4096


# --- the stream ------------------------------------------------------------------------
@dataclass(frozen=True)
class Usage:
    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0

    @property
    def total(self) -> int:
        return self.input + self.output


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class StreamDone:
    usage: Usage
    # OpenClaw (pi-ai) stop reasons: stop | length | toolUse | error | aborted.
    stop_reason: str = "stop"
    tool_calls: tuple[ToolCall, ...] = ()


StreamEvent = TextDelta | StreamDone


class ProviderError(Exception):
    """A model call that failed.

    ``reason`` is one of ``REASONS``; ``kind`` is OpenClaw's ``errorKind`` derived from
    it; ``status`` is the HTTP status when there was one; ``retry_after_s`` comes from a
    ``retry-after`` header. The message never contains an API key.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str = "unknown",
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason if reason in REASONS else "unknown"
        self.kind = error_kind(self.reason)
        self.status = status
        self.retry_after_s = retry_after_s

    @property
    def retriable(self) -> bool:
        """True when another attempt (another key, model or a wait) may succeed."""
        return self.reason in RETRIABLE_REASONS


def error_kind(reason: str) -> str:
    """OpenClaw's ``errorKind`` for a ``ProviderError.reason``."""
    return _KIND_OF_REASON.get(reason, "unknown")


class Provider(Protocol):
    def stream(self, request: ModelRequest) -> Iterator[StreamEvent]:
        """Yield text deltas, then exactly one ``StreamDone``; raise ``ProviderError``."""
        ...


# --- credentials -----------------------------------------------------------------------
@dataclass(frozen=True)
class AuthProfile:
    """One way to reach a provider: its wire API, base URL and key.

    ``id`` is OpenClaw's profile id (``openai:env``, ``anthropic:3``...). The key is
    left out of ``repr`` so it never reaches a log line.
    """

    id: str
    provider: str
    api: str
    api_key: str = field(repr=False)
    base_url: str | None = None
