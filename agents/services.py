"""Write use-cases of the agents app."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import transaction

from agents.models import Agent

DEFAULT_AGENT_SLUG = "main"


def agent_workspace_path(agent: Agent) -> Path:
    """Return the agent's workspace folder: its own setting, else <data dir>/workspaces/<id>."""
    if agent.workspace:
        return Path(agent.workspace).expanduser()
    return Path(settings.WORKSPACES_DIR) / agent.slug


@transaction.atomic
def agent_save(*, agent: Agent) -> Agent:
    """Validate and save an agent; making it the default demotes the previous default.

    The demotion comes first so the single-default constraint validates; a validation
    error rolls it back with the transaction.
    """
    if agent.is_default:
        Agent.objects.filter(is_default=True).exclude(pk=agent.pk).update(is_default=False)
    agent.full_clean()
    agent.save()
    return agent


@transaction.atomic
def agent_ensure_default() -> tuple[Agent, bool]:
    """Return the default agent, creating agent ``main`` when there is no agent at all."""
    agent = Agent.objects.default_first().first()
    if agent is not None:
        return agent, False
    agent = Agent.objects.create(slug=DEFAULT_AGENT_SLUG, name="Main", is_default=True)
    return agent, True
