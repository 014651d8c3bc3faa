"""In-process cache of what a plain token connect needs: the token's scopes, the default agent.

A token-only connect is the hot path of OpenClaw's CLI (one socket per command); with
the cache it needs no database call at all. Entries live ``TTL_S``, and any save or
delete of a token or agent in this process clears the cache (signals, see apps.py), so a
revocation made here applies at once and one made on another host within ``TTL_S``.
"""

from __future__ import annotations

from typing import Any

from core.ttlcache import TTLCache

TTL_S = 10.0
_DEFAULT_AGENT_KEY = "default"

# Keyed by the token's hash: its scopes and its audit label (``token:<name>#<id>``). A
# burst of wrong tokens cannot grow it past max_entries.
_tokens: TTLCache[str, tuple[frozenset[str], str]] = TTLCache(
    "gateway.token_scopes", ttl_s=TTL_S, max_entries=1000
)
_default_agent: TTLCache[str, str] = TTLCache("gateway.default_agent", ttl_s=TTL_S, max_entries=1)


def token_entry(hashed: str) -> tuple[frozenset[str], str] | None:
    """The token's scopes and audit label, if cached (no database call)."""
    return _tokens.get(hashed)


def remember_token(hashed: str, scopes: frozenset[str], label: str) -> None:
    _tokens.set(hashed, (scopes, label))


def default_agent() -> str | None:
    """The default agent's id if cached (no database call: safe on the event loop)."""
    return _default_agent.get(_DEFAULT_AGENT_KEY)


def remember_default_agent(slug: str) -> None:
    _default_agent.set(_DEFAULT_AGENT_KEY, slug)


def clear(*args: Any, **kwargs: Any) -> None:
    """Forget everything (connected to post_save/post_delete of tokens and agents)."""
    _tokens.clear()
    _default_agent.clear()
