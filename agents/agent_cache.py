"""Agents as the hot path reads them, kept a few seconds in-process.

Every chat.send resolves the default agent and every claimed run loads its agent; agents
change rarely (the admin, ``config set``). A save or delete in this process clears the
cache at once (agents.apps connects the signals); one made on another host applies
within ``AGENT_CACHE_S``.
"""

from __future__ import annotations

import threading
import time

from agents.models import Agent

AGENT_CACHE_S = 5.0
_lock = threading.Lock()
_by_pk: dict[int, tuple[float, Agent]] = {}
_default: tuple[float, Agent | None] | None = None


def forget_agents(**_: object) -> None:
    global _default  # noqa: PLW0603  (a small process-wide cache)
    with _lock:
        _by_pk.clear()
        _default = None


def agent_by_pk(pk: int) -> Agent | None:
    now = time.monotonic()
    with _lock:
        hit = _by_pk.get(pk)
    if hit is not None and now - hit[0] < AGENT_CACHE_S:
        return hit[1]
    agent = Agent.objects.filter(pk=pk).first()
    if agent is not None:
        with _lock:
            _by_pk[pk] = (now, agent)
    return agent


def default_agent() -> Agent | None:
    """The default agent (``is_default``, else the first), or None when there is none."""
    global _default  # noqa: PLW0603
    now = time.monotonic()
    with _lock:
        hit = _default
    if hit is not None and now - hit[0] < AGENT_CACHE_S:
        return hit[1]
    agent = Agent.objects.default_first().first()
    with _lock:
        _default = (now, agent)
    return agent
