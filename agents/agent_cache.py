"""Agents as the hot path reads them, kept a few seconds in-process.

Every chat.send resolves the default agent and every claimed run loads its agent; agents
change rarely (the admin, ``config set``). A save or delete in this process clears the
caches at once (agents.apps connects ``forget_agents`` to the signals); one made on
another host applies within ``AGENT_CACHE_S``.
"""

from __future__ import annotations

from agents import selectors
from agents.models import Agent
from core.ttlcache import TTLCache

AGENT_CACHE_S = 5.0
_DEFAULT_KEY = "default"
_by_pk: TTLCache[int, Agent] = TTLCache("agents.by_pk", ttl_s=AGENT_CACHE_S)
_by_slug: TTLCache[str, Agent] = TTLCache("agents.by_slug", ttl_s=AGENT_CACHE_S)
_default: TTLCache[str, Agent | None] = TTLCache(
    "agents.default", ttl_s=AGENT_CACHE_S, max_entries=1
)


def forget_agents(*args: object, **kwargs: object) -> None:
    """Forget every cached agent (a post_save/post_delete receiver for ``Agent``)."""
    _by_pk.clear()
    _by_slug.clear()
    _default.clear()


def agent_by_pk(pk: int) -> Agent | None:
    """The agent with this pk (a missing one is not cached: it may be created any time)."""
    agent = _by_pk.get(pk)
    if agent is None:
        agent = selectors.agent_by_pk(pk)
        if agent is not None:
            _by_pk.set(pk, agent)
    return agent


def agent_by_slug(slug: str) -> Agent | None:
    """The agent with this slug (a missing one is not cached, as in ``agent_by_pk``)."""
    agent = _by_slug.get(slug)
    if agent is None:
        agent = Agent.objects.filter(slug=slug).first()
        if agent is not None:
            _by_slug.set(slug, agent)
    return agent


def default_agent() -> Agent | None:
    """The default agent (``is_default``, else the first), or None when there is none."""
    return _default.get_or_load(_DEFAULT_KEY, selectors.default_agent)
