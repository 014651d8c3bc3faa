"""``agents.list``, ``agent.identity.get`` and ``models.list``: the wire shape of an agent."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NotRequired, TypedDict, cast

from agents import selectors as agent_selectors
from agents.runtime.model_config import configured_models
from agents.runtime.model_config import display_model_ref as default_model_ref
from agents.services.agents import agent_workspace_path
from gateway.catalog.wire import thinking
from sessions_app.lib.keys import MAIN_KEY, parse_agent_id

if TYPE_CHECKING:
    from agents.models import Agent


class ModelChoice(TypedDict):
    id: str
    name: str
    provider: str
    contextWindow: NotRequired[int]
    reasoning: NotRequired[bool]
    tags: NotRequired[list[str]]


class AgentIdentity(TypedDict):
    agentId: str
    name: str
    nameSource: str
    avatar: str
    emoji: NotRequired[str]


def agent_model(agent: Agent) -> dict[str, Any]:
    """An agent's ``model``: its primary model (else the default) and its fallbacks."""
    return {
        "primary": agent.model_primary or default_model_ref(),
        "fallbacks": list(agent.model_fallbacks),
    }


def agent_row(agent: Agent) -> dict[str, Any]:
    """An agent as ``agents.list`` shows it (OpenClaw's GatewayAgentRow)."""
    row: dict[str, Any] = {"id": agent.slug, "kind": "agent"}
    if agent.name:
        row["name"] = agent.name
    if agent.name or agent.emoji:
        row["identity"] = {k: v for k, v in (("name", agent.name), ("emoji", agent.emoji)) if v}
    row["workspace"] = str(agent_workspace_path(agent))
    model = agent_model(agent)
    if not model["fallbacks"]:
        del model["fallbacks"]
    row["model"] = model
    row.update(thinking())
    return row


def agents_list() -> dict[str, Any]:
    """Return ``agents.list``: every agent, the default first."""
    agents = agent_selectors.agents_default_first()
    return {
        "defaultId": agent_selectors.default_slug_of(agents),
        "ownership": "sole",
        "selectionRequired": False,
        "mainKey": MAIN_KEY,
        "scope": "per-sender",
        "agents": [agent_row(agent) for agent in agents],
    }


def agent_slug_from_session_key(session_key: str) -> str | None:
    """The agent id of an ``agent:<id>:...`` key (None for any other key)."""
    return parse_agent_id(session_key.strip().lower())


def agent_identity(*, agent_id: str | None) -> AgentIdentity | None:
    """Return ``agent.identity.get`` for an agent id, or the default agent's without one.

    None when there is no such agent.
    """
    agent = agent_selectors.agent_by_slug_or_default(agent_id)
    if agent is None:
        return None
    name = agent.name or "Assistant"
    identity: AgentIdentity = {
        "agentId": agent.slug,
        "name": name,
        "nameSource": "config" if agent.name else "default",
        "avatar": agent.emoji or name[:1].upper(),
    }
    if agent.emoji:
        identity["emoji"] = agent.emoji
    return identity


def models_list() -> list[ModelChoice]:
    """Return the configured models (``agents.runtime.model_config.configured_models``)."""
    return cast("list[ModelChoice]", configured_models())
