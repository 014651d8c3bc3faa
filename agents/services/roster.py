"""Create or change an agent by its OpenClaw keys: the import of an ``openclaw.json`` and
``config.set`` (``gateway.openclaw_doc``) write agents through here; so do the admin and
``manage.py agents`` (``agent_store``, ``agent_delete``), which keep the heartbeat jobs
in step.

The keys are OpenClaw's, as dotted leaves of an ``agents.entries.<id>`` entry:
``name``, ``identity.emoji``, ``workspace``, ``model.primary``, ``model.fallbacks``,
``tools.profile``, ``tools.allow``, ``tools.deny``, ``tools.sandbox.tools.allow``,
``tools.sandbox.tools.deny``, ``sandbox.mode`` and ``sandbox.workspaceAccess``. Values
are checked as ``config set`` checks them (``agents.services.config``), then by the
model's own rules on save; an error names the OpenClaw path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction

from agents.models import Agent, CronJob
from agents.services.agents import agent_save
from agents.services.config import AGENT_FIELDS, ConfigError, agent_value_clean
from agents.services.cron import heartbeat_jobs_sync

# OpenClaw leaf → Agent field.
LEAF_FIELDS: dict[str, str] = {
    **{".".join(path): field for path, field in AGENT_FIELDS.items()},
    "identity.emoji": "emoji",
    "workspace": "workspace",
}


def agent_leaf_defaults() -> dict[str, Any]:
    """The value each leaf takes when a document leaves it out (the field's default)."""
    defaults: dict[str, Any] = {}
    for leaf, name in LEAF_FIELDS.items():
        field = Agent._meta.get_field(name)
        assert isinstance(field, models.Field)
        defaults[leaf] = field.get_default()
    return defaults


@transaction.atomic
def agent_upsert(
    *, slug: str, changes: Mapping[str, Any], where: str, make_default: bool = False
) -> tuple[Agent, bool]:
    """Create the agent ``slug`` or change it; return it and whether it is new.

    ``changes`` maps OpenClaw leaves to values (``None``: back to the default).
    ``make_default`` makes it the default agent (the previous one is demoted). Raises
    ``ConfigError`` naming ``<where>.<leaf>`` and changes nothing on a bad value.
    """
    agent = Agent.objects.filter(slug=slug).first()
    created = agent is None
    if agent is None:
        agent = Agent(slug=slug)
    for leaf, value in changes.items():
        field = LEAF_FIELDS.get(leaf)
        if field is None:
            raise ConfigError(
                f"{where}.{leaf}: not an agent setting here; settable: {', '.join(LEAF_FIELDS)}"
            )
        try:
            setattr(agent, field, agent_value_clean(field, value))
        except ConfigError as exc:
            raise ConfigError(f"{where}.{leaf}: {exc.message}") from None
    if make_default:
        agent.is_default = True
    try:
        agent_save(agent=agent)
    except ValidationError as exc:
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        raise ConfigError(f"{where}: {detail}") from None
    heartbeat_jobs_sync()
    return agent, created


@transaction.atomic
def agent_store(*, agent: Agent) -> Agent:
    """Save an agent (the admin's form, ``manage.py agents add``) and its heartbeat job:
    a new agent, or a new default agent, can change which agents run heartbeats."""
    agent_save(agent=agent)
    heartbeat_jobs_sync()
    return agent


@transaction.atomic
def agent_delete(*, agent: Agent) -> None:
    """Delete an agent with its heartbeat job (the config made it; it goes with the agent),
    then let the others' follow (the default agent may get one back).

    Raises ``ProtectedError`` when runs, routing rules or cron jobs still name it.
    """
    CronJob.objects.filter(agent=agent, declaration_key=f"heartbeat:{agent.slug}").delete()
    agent.delete()
    heartbeat_jobs_sync()
