"""What the chat completions and Responses adapters share.

The cached SDK client, the message pieces both APIs echo back (tool call arguments), the
tool call being assembled from a stream, usage accounting, and the mapping of SDK and
transport errors to ``ProviderError`` reasons.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx2
import openai

from agents.providers._common import SUMMARIES, ClientCache, retry_after_s, scrub_detail
from agents.providers._interrupt import interrupted_error
from agents.providers.types import AuthProfile, ProviderError, ToolCall, Usage

KEYLESS_PLACEHOLDER = "no-key"

STATUS_REASONS = {
    429: "rate_limit",
    402: "billing",
    529: "overloaded",
    503: "overloaded",
    401: "auth",
    403: "auth",
    408: "timeout",
}
# Error codes in a mid-stream error (no HTTP status) -> reason.
STREAM_CODE_REASONS = {
    "rate_limit_exceeded": "rate_limit",
    "server_error": "server",
    "server_is_overloaded": "overloaded",
    "overloaded_error": "overloaded",
    "slow_down": "overloaded",
    "insufficient_quota": "billing",
    "invalid_api_key": "auth",
    "invalid_prompt": "bad_request",
}


# Keyless OpenAI-compatible servers (Ollama, a local vLLM) take no key, but the SDK
# refuses to start without one; a placeholder is harmless there.
_clients = ClientCache(openai.OpenAI, keyless=KEYLESS_PLACEHOLDER)


def client_for(profile: AuthProfile, timeout_s: float) -> openai.OpenAI:
    """Return a cached SDK client, so a turn reuses its connection pool."""
    return _clients.get(profile, timeout_s)


def echo_arguments(call: ToolCall) -> str:
    """The call's arguments as sent back to the API: ``{}`` when they are not valid JSON."""
    try:
        call.parsed_arguments()
    except ValueError:
        return "{}"
    return call.arguments


@dataclass
class PendingCall:
    id: str
    name: str
    parts: list[str] = field(default_factory=list)
    final: str | None = None

    def done(self) -> ToolCall:
        arguments = self.final if self.final is not None else "".join(self.parts)
        return ToolCall(id=self.id, name=self.name, arguments=arguments or "{}")


def usage_of(total_input: int, output: int, cached: int | None, written: int | None) -> Usage:
    cache_read, cache_write = cached or 0, written or 0
    return Usage(
        input=max(0, total_input - cache_read - cache_write),
        output=output,
        cache_read=cache_read,
        cache_write=cache_write,
    )


class OpenAIBase:
    """What both adapters share: the profile, key-safe error messages, error mapping."""

    terminal_event = "the terminal event"

    def __init__(self, profile: AuthProfile, *, timeout_s: float) -> None:
        self.profile = profile
        self.timeout_s = timeout_s
        self.name = profile.provider or "openai"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(profile={self.profile.id!r}, timeout_s={self.timeout_s!r})"

    def warm(self) -> None:
        """Build the cached client, load the SDK's lazy parts that this adapter's API
        uses, and decode a sample of each stream event a turn reads; no request is sent."""
        self.warm_api(client_for(self.profile, self.timeout_s))

    def warm_api(self, client: openai.OpenAI) -> None:
        """Load this adapter's API resource and decode its sample events."""

    def _detail(self, text: object) -> str:
        return scrub_detail(text, self.profile.api_key)

    def _refusal(self, detail: str) -> ProviderError:
        return ProviderError(
            f"{self.name}: the model refused to answer ({detail})", reason="refusal"
        )

    def _truncated(self) -> ProviderError:
        return ProviderError(
            f"{self.name}: the stream ended before {self.terminal_event}", reason="truncated"
        )

    def _error(self, exc: Exception, *, streaming: bool) -> ProviderError:
        """Map an SDK or transport exception to a ``ProviderError`` with its reason."""
        if (cut := interrupted_error(self.name)) is not None:
            return cut
        if isinstance(exc, openai.APIStatusError):
            return self._api_error(exc.status_code, exc.body, exc.message, exc.response.headers)
        if isinstance(exc, openai.APIError) and not isinstance(
            exc, openai.APIConnectionError | openai.APIResponseValidationError
        ):
            # An ``{"error": {...}}`` chunk mid-stream: the body is the error object.
            return self._api_error(None, exc.body, exc.message, None)
        what = self._detail(f"{type(exc).__name__}: {exc}")
        if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
            reason, text = "timeout", f"timed out after {self.timeout_s:g} s"
        elif isinstance(exc, openai.APIConnectionError | httpx2.TransportError):
            cause = self._detail(exc.__cause__ or exc)
            # The SDK wraps a connection dropped mid-body as a connection error too.
            reason, text = (
                ("truncated", f"the stream was cut off before {self.terminal_event} ({cause})")
                if streaming
                else ("connection", f"could not connect: {cause}")
            )
        elif isinstance(exc, openai.APIResponseValidationError | ValueError | LookupError) or (
            streaming and isinstance(exc, AttributeError | TypeError)
        ):
            # Bad JSON in a data: line, or an event missing the fields the SDK models need.
            reason, text = "malformed", f"sent a malformed stream ({what})"
        else:
            reason, text = "unknown", f"unexpected error ({what})"
        return ProviderError(f"{self.name}: {text}", reason=reason)

    def _api_error(
        self,
        status: int | None,
        body: object,
        fallback: str,
        headers: Mapping[str, str] | None,
    ) -> ProviderError:
        """An error from an HTTP status (or none, mid-stream) and the error object."""
        error = body if isinstance(body, Mapping) else {}
        code = str(error.get("code") or "") or None
        error_type = str(error.get("type") or "") or None
        message = str(error.get("message") or fallback)
        reason = error_reason(status, code, error_type, message)
        where = f"HTTP {status}" if status else f"stream error {code or error_type or 'unknown'}"
        return ProviderError(
            f"{self.name}: {SUMMARIES.get(reason, 'error')} ({where}): {self._detail(message)}",
            reason=reason,
            status=status,
            retry_after_s=retry_after_s(headers) if headers is not None else None,
        )


def error_reason(status: int | None, code: str | None, error_type: str | None, message: str) -> str:
    """The ``ProviderError.reason`` for an HTTP error (``status``) or a mid-stream error."""
    low = message.lower()
    if (
        code == "context_length_exceeded"
        or "maximum context length" in low
        or "context window" in low
    ):
        return "context_length"
    # Real OpenAI sends quota exhaustion as HTTP 429 with this code: billing, not a wait.
    if "insufficient_quota" in (code, error_type):
        return "billing"
    if status is not None:
        return STATUS_REASONS.get(status) or ("server" if status >= 500 else "bad_request")
    by_code = [STREAM_CODE_REASONS[k] for k in (code, error_type) if k in STREAM_CODE_REASONS]
    # An unknown error mid-stream: the provider's side failed.
    return by_code[0] if by_code else ("overloaded" if "overloaded" in low else "server")
