"""What the SDK adapters share: the client cache, error texts, retry-after parsing.

Kept free of either SDK, so importing it loads neither.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from email.utils import parsedate_to_datetime
from typing import Any, Generic, Protocol, TypeVar

from agents.providers._interrupt import make_interruptible
from agents.providers.types import AuthProfile, ProviderError, TextDelta

DETAIL_MAX_CHARS = 300
CLIENT_CACHE_MAX = 32
# ProviderError reason -> the words of its message.
SUMMARIES = {
    "rate_limit": "rate limited",
    "overloaded": "overloaded",
    "server": "server error",
    "timeout": "timed out",
    "auth": "authentication failed (check the API key)",
    "billing": "out of credit or quota",
    "context_length": "the prompt is too long for the model's context window",
    "bad_request": "request rejected",
    "unknown": "error",
}

_C = TypeVar("_C", bound="SDKClient")


class SDKClient(Protocol):
    _client: Any  # the SDK's httpx client


class ClientCache(Generic[_C]):
    """SDK clients per (profile, base URL, key digest, timeout): a turn reuses a pool.

    Keyed by a digest of the key, not the key, so the dict never holds a second copy.
    Each client is built without SDK retries (failover decides what is retried) and made
    interruptible, so the run watchdog can cut a stalled stream (abort, time limit,
    shutdown). ``keyless`` stands in for a missing key where a server takes none.
    """

    def __init__(self, sdk: Callable[..., _C], *, keyless: str = "") -> None:
        self._sdk = sdk
        self._keyless = keyless
        self._clients: dict[tuple[str, str | None, str, float], _C] = {}
        self._lock = threading.Lock()

    def _build(self, profile: AuthProfile, timeout_s: float) -> _C:
        client = self._sdk(
            api_key=profile.api_key or self._keyless,
            base_url=profile.base_url,
            timeout=timeout_s,
            max_retries=0,
        )
        make_interruptible(client._client)
        return client

    def get(self, profile: AuthProfile, timeout_s: float) -> _C:
        digest = hashlib.sha256(profile.api_key.encode()).hexdigest()[:16]
        key = (profile.id, profile.base_url, digest, timeout_s)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                if len(self._clients) >= CLIENT_CACHE_MAX:
                    # Drop the oldest without closing it: a thread may be streaming on it.
                    self._clients.pop(next(iter(self._clients)))
                client = self._clients[key] = self._build(profile, timeout_s)
        return client


def scrub_detail(text: object, api_key: str) -> str:
    """Provider text for a message: one line, key scrubbed, at most 300 characters."""
    detail = " ".join(str(text).split())
    if api_key:
        detail = detail.replace(api_key, "[redacted]")
    if len(detail) > DETAIL_MAX_CHARS:
        detail = detail[: DETAIL_MAX_CHARS - 1] + "…"
    return detail


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``retry-after-ms`` / ``retry-after`` (seconds or an HTTP date)."""
    try:
        if "retry-after-ms" in headers:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def untransformed_body(key: str, conversation: object, tools: object) -> dict[str, object]:
    """The conversation and tools, for the SDK's ``extra_body``.

    The SDKs walk every request parameter through a type-driven transform (aliases,
    dates), which cost ~45 % of a turn's CPU with a long history; these dicts are already
    in wire form, so they travel in ``extra_body``, which the SDK sends as it is.
    """
    body: dict[str, object] = {key: conversation}
    if tools:
        body["tools"] = tools
    return body


_E = TypeVar("_E")
_E_co = TypeVar("_E_co", covariant=True)


class _Closable(Protocol[_E_co]):
    def __iter__(self) -> Iterator[_E_co]: ...

    def close(self) -> None: ...


def pump(
    stream: _Closable[_E],
    apply: Callable[[_E], str],
    on_error: Callable[[Exception], ProviderError],
) -> Iterator[TextDelta]:
    """Feed each SDK stream event to ``apply`` and yield the text it returns, as it comes.

    Any failure while reading becomes ``on_error``'s ProviderError; the stream (and its
    HTTP response) is closed however the loop ends, an abort included.
    """
    try:
        for event in stream:
            text = apply(event)
            if text:
                yield TextDelta(text)
    except Exception as exc:
        raise on_error(exc) from exc
    finally:
        stream.close()
