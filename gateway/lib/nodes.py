"""The grammar of cluster nodes: node ids, skills, and the queue a skill is routed to.

Framework-free (no Django). A worker's skills are the queues it consumes (``default``,
``llm``, ``connectors``) plus the skills it declares (``OPENCLAW_NODE_SKILLS=python,browser``);
for each declared skill the worker also consumes the queue ``skill.<name>``. A task that
needs a skill goes to that skill's queue, where any node having it takes it
(``gateway.nodes.route_for_skill``): no per-node queue, so a node that dies leaves
nothing stranded that only it could take.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

SKILL_QUEUE_PREFIX = "skill."
NODE_ID_MAX = 128
# A node id goes into URLs (/api/v1/nodes/<id>/health) and log lines: no slash, no space.
_NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
_SKILL = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class NodeConfigError(ValueError):
    """A node id or skill that cannot be used; the message says what to write instead."""


def default_node_id(*, hostname: str, pid: int) -> str:
    """``<hostname>:<pid>``, cut to the column's length (a hostname may be long)."""
    tail = f":{pid}"
    return hostname[: NODE_ID_MAX - len(tail)] + tail


def check_node_id(value: str, *, name: str = "OPENCLAW_NODE_ID") -> str:
    """Return ``value`` if it is a usable node id; else a ``NodeConfigError``."""
    if not _NODE_ID.match(value):
        raise NodeConfigError(
            f"{name}={value!r} is not a node id: use 1-128 letters, digits and . _ : @ -, "
            "starting with a letter or digit (e.g. worker-1 or host-a:llm)"
        )
    return value


def check_skill(value: str, *, name: str = "skill") -> str:
    """Return ``value`` if it is a skill name (lowercase); else a ``NodeConfigError``."""
    if not _SKILL.match(value):
        raise NodeConfigError(
            f"{name}: {value!r} is not a skill name: use 1-64 lowercase letters, digits, "
            "_ and -, starting with a letter or digit (e.g. python, browser)"
        )
    return value


def check_skills(values: Iterable[str], *, name: str = "OPENCLAW_NODE_SKILLS") -> list[str]:
    """Return the declared skills, checked, without duplicates, in their order."""
    return list(dict.fromkeys(check_skill(value, name=name) for value in values))


def skill_queue(skill: str) -> str:
    """The queue a worker declaring ``skill`` consumes (``skill.<name>``)."""
    return SKILL_QUEUE_PREFIX + skill


def node_queues(consumed: Iterable[str], declared: Iterable[str]) -> list[str]:
    """Every queue the node consumes: its own (``-Q``) and one per declared skill."""
    return sorted(set(consumed) | {skill_queue(skill) for skill in declared})


def node_skills(queues: Iterable[str], declared: Iterable[str]) -> list[str]:
    """A node's skills: its plain queues and its declared skills, sorted."""
    plain = {queue for queue in queues if not queue.startswith(SKILL_QUEUE_PREFIX)}
    return sorted(plain | set(declared))


def queue_for_skill(skill: str, queues_of_holders: Iterable[Iterable[str]]) -> str | None:
    """The queue to send a task needing ``skill`` to, given the queues of the nodes having
    it: ``skill.<name>`` when one of them declared it, else the plain queue of that name
    when one consumes it; None when none does."""
    plain = False
    for queues in queues_of_holders:
        names = set(queues)
        if skill_queue(skill) in names:
            return skill_queue(skill)
        plain = plain or skill in names
    return skill if plain else None
