"""Read use-cases of the agents app: agents, routing rules, runs and cron jobs.

Other apps (the gateway's catalog, its connect handshake) read agents through these
functions, never through the models. Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from django.db.models import Count, F, Min, Q, QuerySet

from agents.lib.routing import Binding, RouteInput, resolve_route
from agents.models import Agent, CronJob, ModelProvider, RoutingRule, Run
from core.ttlcache import TTLCache
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


class ResolvedRoute(NamedTuple):
    """The agent that answers a channel message, and the binding tier that chose it."""

    agent_slug: str
    matched_by: str


class RoutingTable(NamedTuple):
    """The enabled bindings by channel (config order: priority, then pk) and the default
    agent's id, as the route resolver reads them."""

    by_channel: dict[str, tuple[Binding, ...]]
    default_slug: str


# Read for every inbound channel message. A RoutingRule or Agent save in this process
# clears it at once (agents.apps connects ``routing_forget``), one made by another
# process (``manage.py config set bindings``) applies within ROUTING_CACHE_S.
ROUTING_CACHE_S = 5.0
_routing: TTLCache[str, RoutingTable] = TTLCache(
    "agents.routing", ttl_s=ROUTING_CACHE_S, max_entries=1
)


def routing_forget(*args: object, **kwargs: object) -> None:
    """Forget the cached routing table (a post_save/post_delete receiver)."""
    _routing.clear()


def _routing_table_load() -> RoutingTable:
    rows = (
        RoutingRule.objects.filter(enabled=True)
        .order_by("priority", "pk")
        .values_list(
            "agent__slug", "channel", "account_id", "peer_kind", "peer_id", "guild_id",
            "team_id", "roles",
        )
    )  # fmt: skip
    by_channel: dict[str, list[Binding]] = {}
    for slug, channel, account_id, peer_kind, peer_id, guild_id, team_id, roles in rows:
        key = channel.strip().lower()
        by_channel.setdefault(key, []).append(
            Binding(
                agent_id=slug,
                channel=key,
                account_id=account_id,
                peer_kind=peer_kind,
                peer_id=peer_id,
                guild_id=guild_id,
                team_id=team_id,
                roles=tuple(str(r) for r in roles) if isinstance(roles, list) else (),
            )
        )
    return RoutingTable(
        by_channel={channel: tuple(items) for channel, items in by_channel.items()},
        default_slug=default_agent_slug(),
    )


def routing_table() -> RoutingTable:
    """The cached routing table (two queries when it is not cached)."""
    return _routing.get_or_load("table", _routing_table_load)


def route_resolve(
    *,
    channel: str,
    account_id: str,
    peer_kind: str,
    peer_id: str,
    parent_peer_kind: str = "",
    parent_peer_id: str = "",
    guild_id: str = "",
    member_role_ids: Sequence[str] = (),
    team_id: str = "",
) -> ResolvedRoute:
    """The agent for a channel message by the enabled bindings (``agents.lib.routing``):
    peer, parent peer, guild + roles, guild, team, account, channel, else the default
    agent. No query while the routing table is cached."""
    table = routing_table()
    route = resolve_route(
        table.by_channel.get(channel.strip().lower(), ()),
        RouteInput(
            channel=channel,
            account_id=account_id,
            peer_kind=peer_kind,
            peer_id=peer_id,
            parent_peer_kind=parent_peer_kind,
            parent_peer_id=parent_peer_id,
            guild_id=guild_id,
            member_role_ids=tuple(member_role_ids),
            team_id=team_id,
        ),
    )
    return ResolvedRoute(route.agent_id or table.default_slug, route.matched_by)


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


def run_active(*, run_id: str) -> bool:
    """Whether a run is still queued or running (one indexed lookup)."""
    return Run.objects.filter(
        run_id=run_id, status__in=(Run.Status.QUEUED, Run.Status.RUNNING)
    ).exists()


def channel_runs_running(*, started_before: datetime) -> list[dict[str, Any]]:
    """The ``reply_to`` of every channel run running since before ``started_before``."""
    return list(
        Run.objects.filter(
            status=Run.Status.RUNNING, origin=Run.Origin.CHANNEL, started_at__lte=started_before
        ).values_list("reply_to", flat=True)
    )


# --- model provider keys ----------------------------------------------------------------------
def model_provider_first(*, provider: str) -> ModelProvider | None:
    """The enabled key row of ``provider`` tried first (by priority), or None.

    Reading its ``api_key`` decrypts it (an ``Undecryptable`` when the key changed).
    """
    return (
        ModelProvider.objects.filter(provider=provider, enabled=True)
        .order_by("priority", "pk")
        .first()
    )
