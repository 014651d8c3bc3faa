"""In-process cache of what a plain token connect needs: the token's scopes, the default agent.

A token-only connect is the hot path of OpenClaw's CLI (one socket per command); with
the cache it needs no database call at all. Entries live 10 s, and any save or delete
of a token or agent in this process clears the cache (signals, see apps.py), so a
revocation made here applies at once and one made on another host within 10 s.
"""

from __future__ import annotations

import threading
import time
from typing import Any

TTL_S = 10.0

_lock = threading.Lock()
_tokens: dict[str, tuple[frozenset[str], float]] = {}
_default_agent: tuple[str, float] | None = None


def token_scopes(hashed: str) -> frozenset[str] | None:
    entry = _tokens.get(hashed)
    if entry is None or entry[1] < time.monotonic():
        return None
    return entry[0]


def remember_token(hashed: str, scopes: frozenset[str]) -> None:
    with _lock:
        if len(_tokens) > 1000:
            _tokens.clear()
        _tokens[hashed] = (scopes, time.monotonic() + TTL_S)


def default_agent() -> str | None:
    entry = _default_agent
    if entry is None or entry[1] < time.monotonic():
        return None
    return entry[0]


def remember_default_agent(slug: str) -> None:
    global _default_agent  # noqa: PLW0603
    _default_agent = (slug, time.monotonic() + TTL_S)


def clear(*args: Any, **kwargs: Any) -> None:
    """Forget everything (connected to post_save/post_delete of tokens and agents)."""
    global _default_agent  # noqa: PLW0603
    with _lock:
        _tokens.clear()
        _default_agent = None
