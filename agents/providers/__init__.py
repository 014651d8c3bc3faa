"""Model providers: one small streaming interface, pure (no Django).

A provider turns a ``ModelRequest`` (system prompt, conversation, tool specs) into a
stream of ``TextDelta`` events ending with exactly one ``StreamDone`` (usage, stop
reason and the tool calls the model asked for). Failures raise ``ProviderError``,
which carries both OpenClaw's ``errorKind`` and a finer ``reason`` that the failover
logic (``agents.runtime.failover``) uses to decide whether to try the next candidate.

Adapters, one per wire API (``AuthProfile.api``):

- ``anthropic-messages``: ``agents.providers.anthropic`` (the ``anthropic`` SDK),
- ``openai-chat``: ``agents.providers.openai.OpenAIChatProvider`` (chat completions;
  also any OpenAI-compatible server such as Ollama, vLLM or OpenRouter),
- ``openai-responses``: ``agents.providers.openai.OpenAIResponsesProvider``,
- ``echo``: ``agents.providers.placeholder`` (offline echo model, opt-in only).
"""

from agents.providers.placeholder import PlaceholderProvider
from agents.providers.types import (
    API_ANTHROPIC,
    API_ECHO,
    API_OPENAI_CHAT,
    API_OPENAI_RESPONSES,
    APIS,
    ERROR_KINDS,
    REASONS,
    RETRIABLE_REASONS,
    AuthProfile,
    ChatMessage,
    ModelRequest,
    Provider,
    ProviderError,
    StreamDone,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolResult,
    ToolSpec,
    Usage,
    error_kind,
)

__all__ = [
    "APIS",
    "API_ANTHROPIC",
    "API_ECHO",
    "API_OPENAI_CHAT",
    "API_OPENAI_RESPONSES",
    "ERROR_KINDS",
    "REASONS",
    "RETRIABLE_REASONS",
    "AuthProfile",
    "ChatMessage",
    "ModelRequest",
    "Provider",
    "ProviderError",
    "StreamDone",
    "StreamEvent",
    "TextDelta",
    "ToolCall",
    "ToolResult",
    "ToolSpec",
    "Usage",
    "error_kind",
    "provider_client",
]


def provider_client(profile: AuthProfile, *, timeout_s: float) -> Provider:
    """Return the adapter for ``profile.api``, configured with its key and base URL."""
    if profile.api == API_ANTHROPIC:
        from agents.providers.anthropic import AnthropicProvider  # noqa: PLC0415  (lazy: the SDK loads on first use)

        return AnthropicProvider(profile, timeout_s=timeout_s)
    if profile.api == API_OPENAI_CHAT:
        from agents.providers.openai import OpenAIChatProvider  # noqa: PLC0415  (lazy: the SDK loads on first use)

        return OpenAIChatProvider(profile, timeout_s=timeout_s)
    if profile.api == API_OPENAI_RESPONSES:
        from agents.providers.openai import OpenAIResponsesProvider  # noqa: PLC0415  (lazy: the SDK loads on first use)

        return OpenAIResponsesProvider(profile, timeout_s=timeout_s)
    if profile.api == API_ECHO:
        return PlaceholderProvider()
    raise ValueError(f"unknown provider API {profile.api!r}; use one of {', '.join(APIS)}")
