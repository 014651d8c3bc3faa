"""Read use-cases of the agents app: agents, routing rules, runs and cron jobs.

Other apps (the gateway's catalog, its connect handshake) read agents through these
functions, never through the models. Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

from django.db.models import Count, F, Min, Q, QuerySet

from agents.models import Agent, CronJob, RoutingRule, Run
from sessions_app.lib.keys import DEFAULT_AGENT_ID


class AgentRow(NamedTuple):
    """The few columns of an agent that summaries show (``status``, ``health``)."""

    slug: str
    name: str
    model_primary: str


class CronJobsPage(NamedTuple):
    jobs: list[CronJob]
    total: int


# --- agents -------------------------------------------------------------------------------
def _first_slug(slugs: Iterable[str]) -> str:
    # The one rule for the default agent's id: the first agent of ``default_first()``
    # (``is_default``, else the oldest), or OpenClaw's ``main`` when there is none yet.
    return next(iter(slugs), None) or DEFAULT_AGENT_ID


def default_slug_of(agents: Sequence[Agent | AgentRow]) -> str:
    """The default agent's id from a list ordered default first (``agents_default_first``)."""
    return _first_slug(agent.slug for agent in agents[:1])


def default_agent_slug() -> str:
    """The default agent's id (``main`` when there is no agent yet); one query."""
    return _first_slug(Agent.objects.default_first().values_list("slug", flat=True)[:1])


def default_agent() -> Agent | None:
    """The default agent (``is_default``, else the first), or None when there is none."""
    return Agent.objects.default_first().first()


def agents_default_first() -> list[Agent]:
    """Every agent, the default first."""
    return list(Agent.objects.default_first())


def agent_rows() -> list[AgentRow]:
    """Every agent's id, name and model, the default first (one narrow query)."""
    rows = Agent.objects.default_first().values_list("slug", "name", "model_primary")
    return [AgentRow(*row) for row in rows]


def agent_by_pk(pk: int) -> Agent | None:
    return Agent.objects.filter(pk=pk).first()


def agent_by_slug_or_default(slug: str | None) -> Agent | None:
    """The agent with this id, or the default agent without one; None when there is none."""
    agents = Agent.objects.default_first()
    return agents.filter(slug=slug).first() if slug else agents.first()


# --- routing rules ----------------------------------------------------------------------
def routing_rules_enabled() -> QuerySet[RoutingRule]:
    """The enabled routing rules (OpenClaw ``bindings``) with their agent loaded."""
    return RoutingRule.objects.filter(enabled=True).select_related("agent")


# --- runs ---------------------------------------------------------------------------------
def run_counts() -> list[tuple[str, str, int]]:
    """``(status, origin, count)`` for every status and origin that has runs."""
    rows = Run.objects.values_list("status", "origin").annotate(n=Count("pk"))
    return [(status, origin, count) for status, origin, count in rows]


def runs_stale_count(*, now: datetime) -> int:
    """Running runs whose lease ran out: their worker is gone (the sweeper re-queues them)."""
    return Run.objects.filter(status=Run.Status.RUNNING, lease_expires_at__lt=now).count()


# --- cron jobs ----------------------------------------------------------------------------
def cron_jobs_page(
    *,
    enabled: bool | None,
    agent_slug: str | None,
    default_agent: str,
    query: str | None,
    order_field: str,
    descending: bool,
    offset: int,
    limit: int,
) -> CronJobsPage:
    """One page of cron jobs (agent loaded) and the total matching.

    ``enabled`` None means all. A job without an agent belongs to ``default_agent``, so
    ``agent_slug`` equal to it matches those too. Ties sort by name, then creation.
    """
    jobs = CronJob.objects.select_related("agent")
    if enabled is not None:
        jobs = jobs.filter(enabled=enabled)
    if agent_slug:
        match = Q(agent__slug=agent_slug)
        if agent_slug == default_agent:
            match |= Q(agent__isnull=True)
        jobs = jobs.filter(match)
    text = (query or "").strip()
    if text:
        jobs = jobs.filter(Q(name__icontains=text) | Q(description__icontains=text))
    field = F(order_field)
    primary = field.desc(nulls_last=True) if descending else field.asc(nulls_last=True)
    total = jobs.count()
    page = list(jobs.order_by(primary, "name", "pk")[offset : offset + limit])
    return CronJobsPage(page, total)


def cron_jobs_summary() -> tuple[int, datetime | None]:
    """``(number of jobs, next time an enabled job is due)``."""
    counts = CronJob.objects.aggregate(
        jobs=Count("pk"), next_wake=Min("next_run_at", filter=Q(enabled=True))
    )
    return counts["jobs"], counts["next_wake"]
