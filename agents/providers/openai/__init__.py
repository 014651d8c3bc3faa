"""OpenAI adapters on the official ``openai`` SDK: chat completions and the Responses API.

Pure Python (no Django). ``OpenAIChatProvider`` also serves OpenAI-compatible servers
(Ollama, vLLM, OpenRouter) through ``AuthProfile.base_url``. Both stream: text deltas are
yielded as they arrive, tool calls are assembled from their argument fragments and
returned with ``StreamDone``. The SDK does no retries of its own (``max_retries=0``):
failover decides what to try next from the ``ProviderError.reason`` set here.

``usage.input`` is the *uncached* prompt, as for Anthropic: OpenAI counts cached tokens
inside ``prompt_tokens``/``input_tokens``, so they are subtracted into ``cache_read``.

One module per API (``chat``, ``responses``) on what they share (``base``).
"""

from __future__ import annotations

from agents.providers.openai.base import error_reason
from agents.providers.openai.chat import OpenAIChatProvider, chat_messages
from agents.providers.openai.responses import OpenAIResponsesProvider, responses_input

__all__ = [
    "OpenAIChatProvider",
    "OpenAIResponsesProvider",
    "chat_messages",
    "error_reason",
    "responses_input",
]
