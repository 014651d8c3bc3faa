"""What ``/metrics`` reads at scrape time: this process's sockets, and the cluster's figures.

Workers run in other processes (team mode, or embedded ``OPENCLAW_WORKER_PROCESSES``), so
an in-process counter would see only this gateway's share. The cluster-wide figures are
therefore read when Prometheus scrapes, from where every process writes them: runs,
inbound and outbound messages, failed model steps, auth-profile cooldowns and nodes from
the database; queue depth from the broker (Redis ``LLEN`` in team mode, the in-process
memory queues embedded). One read is kept for ``CACHE_S`` seconds, so scrapes from several
Prometheus servers (or a scrape of every gateway) cost one set of queries per process per
few seconds. Every gateway process reports the same cluster figures: aggregate them with
``max``, not ``sum`` (docs/observability.md).

The reads of other apps' tables are here, not in their selectors, because they are one
scrape's worth of ``COUNT ... GROUP BY`` that nothing else needs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Count
from django.db.models.fields.json import KT
from django.utils import timezone
from prometheus_client import Gauge
from prometheus_client.core import GaugeMetricFamily, Metric

from agents import selectors as agent_selectors
from agents.models import AuthProfileState, Run, RunStep
from agents.providers import REASONS as PROVIDER_ERROR_REASONS
from channels_app.models import InboundMessage, OutboundMessage
from core import kombu_memory
from core.ttlcache import TTLCache
from gateway import bus
from gateway.consumers import GatewayConsumer
from gateway.metrics import REGISTRY
from gateway.models import Node

logger = logging.getLogger(__name__)

CACHE_S = 5.0
# kombu's Redis transport keeps a queue's priority levels in separate lists: the queue's
# own name (priority 0) and "<name>\x06\x16<n>" for the other steps of PRIORITY_STEPS.
KOMBU_PRIORITY_SEP = "\x06\x16"
KOMBU_PRIORITY_STEPS = (3, 6, 9)
REDIS_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class ClusterFigures:
    """One scrape-time read; a source that failed leaves its figures empty."""

    database_up: bool
    redis_up: bool | None  # None: no Redis configured (embedded mode)
    runs: dict[str, int] = field(default_factory=dict)
    inbound: dict[str, int] = field(default_factory=dict)
    outbound: dict[str, int] = field(default_factory=dict)
    provider_errors: dict[str, int] = field(default_factory=dict)
    profiles_cooling_down: int = 0
    nodes: int = 0
    nodes_online: int = 0
    queues: dict[str, int] = field(default_factory=dict)
    read_seconds: float = 0.0


# --- reads ---------------------------------------------------------------------------------
def _by_status(rows: Iterable[tuple[Any, int]], statuses: Iterable[str]) -> dict[str, int]:
    counts = dict.fromkeys(statuses, 0)
    for status, n in rows:
        key = str(status) if status is not None else "unknown"
        counts[key] = counts.get(key, 0) + n
    return counts


def _count_by(queryset: Any, column: Any) -> list[tuple[Any, int]]:
    return list(queryset.order_by().values_list(column).annotate(n=Count("pk")))


def database_figures() -> dict[str, Any]:
    """Runs, messages, failed model calls, cooling keys and nodes, counted (8 queries)."""
    runs: dict[str, int] = dict.fromkeys(Run.Status.values, 0)
    for status, _origin, n in agent_selectors.run_counts():
        runs[status] = runs.get(status, 0) + n
    # A model step fails with the provider's reason once every attempt (keys, fallback
    # models) failed; a step merely interrupted by a worker restart has no reason.
    failed_calls = RunStep.objects.filter(
        kind=RunStep.Kind.MODEL_CALL, status=RunStep.Status.FAILED, output__has_key="reason"
    )
    return {
        "runs": runs,
        "inbound": _by_status(
            _count_by(InboundMessage.objects, "status"), InboundMessage.Status.values
        ),
        "outbound": _by_status(
            _count_by(OutboundMessage.objects, "status"), OutboundMessage.Status.values
        ),
        "provider_errors": _by_status(
            _count_by(failed_calls, KT("output__reason")), sorted(PROVIDER_ERROR_REASONS)
        ),
        "profiles_cooling_down": AuthProfileState.objects.filter(
            cooldown_until__gt=timezone.now()
        ).count(),
        "nodes": Node.objects.count(),
        "nodes_online": Node.objects.alive().count(),
    }


def queue_names() -> list[str]:
    """The Celery queues tasks are routed to (``default``, ``llm``, ``connectors``)."""
    names = {str(settings.CELERY_TASK_DEFAULT_QUEUE)}
    names.update(str(route["queue"]) for route in settings.CELERY_TASK_ROUTES.values())
    return sorted(names)


_redis_clients: dict[str, Any] = {}


def _redis(url: str) -> Any:
    client = _redis_clients.get(url)
    if client is None:
        import redis  # noqa: PLC0415  (team mode only: embedded mode never loads the client)

        client = redis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
        )
        _redis_clients[url] = client
    return client


def redis_queue_depths(url: str, names: list[str]) -> dict[str, int]:
    """Messages waiting in each queue of the Redis broker (one round trip)."""
    pipe = _redis(url).pipeline(transaction=False)
    for name in names:
        pipe.llen(name)
        for step in KOMBU_PRIORITY_STEPS:
            pipe.llen(f"{name}{KOMBU_PRIORITY_SEP}{step}")
    lengths = iter(pipe.execute())
    return {
        name: sum(next(lengths) for _ in range(1 + len(KOMBU_PRIORITY_STEPS))) for name in names
    }


def memory_queue_depths(names: list[str]) -> dict[str, int]:
    """Messages waiting in the embedded broker's memory queues (this process holds them)."""
    return {name: kombu_memory.size(name) for name in names}


def cluster_figures() -> ClusterFigures:
    """Read the cluster-wide figures now; a source that is down is reported, not raised."""
    started = time.perf_counter()
    db: dict[str, Any] = {}
    database_up = True
    try:
        db = database_figures()
    except Exception:
        logger.warning("metrics: the database could not be read", exc_info=True)
        database_up = False
    names = queue_names()
    redis_up: bool | None = None
    queues: dict[str, int] = {}
    if settings.REDIS_URL:
        try:
            queues = redis_queue_depths(settings.REDIS_URL, names)
            redis_up = True
        except Exception as exc:
            logger.warning("metrics: Redis could not be read (%s)", type(exc).__name__)
            redis_up = False
    else:
        queues = memory_queue_depths(names)
    return ClusterFigures(
        database_up=database_up,
        redis_up=redis_up,
        queues=queues,
        read_seconds=time.perf_counter() - started,
        **db,
    )


_cache: TTLCache[None, ClusterFigures] = TTLCache("metrics.cluster", ttl_s=CACHE_S, max_entries=1)


# --- the collectors ------------------------------------------------------------------------
def _gauge(name: str, doc: str, label: str, values: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=[label])
    for key in sorted(values):
        family.add_metric([key], values[key])
    return family


class ClusterCollector:
    """The cluster-wide gauges, from ``cluster_figures`` cached for ``CACHE_S``."""

    def collect(self) -> Iterator[Metric]:
        f = _cache.get_or_load(None, cluster_figures)
        up = GaugeMetricFamily(
            "openclaw_cluster_source_up",
            "Whether the scrape-time read of a source (database, redis) succeeded.",
            labels=["source"],
        )
        up.add_metric(["database"], int(f.database_up))
        if f.redis_up is not None:
            up.add_metric(["redis"], int(f.redis_up))
        yield up
        yield GaugeMetricFamily(
            "openclaw_cluster_read_seconds",
            "How long the last scrape-time read of the cluster figures took.",
            value=f.read_seconds,
        )
        if f.queues:
            yield _gauge(
                "openclaw_queue_depth", "Celery messages waiting per queue.", "queue", f.queues
            )
        if not f.database_up:
            return
        yield _gauge("openclaw_runs", "Runs (agent turns) by state.", "state", f.runs)
        yield _gauge(
            "openclaw_inbound_messages", "Inbound channel messages by status.", "status", f.inbound
        )
        yield _gauge(
            "openclaw_outbound_messages",
            "Outbound channel messages by status.",
            "status",
            f.outbound,
        )
        yield _gauge(
            "openclaw_provider_errors",
            "Model calls that failed after every attempt, by the provider error's reason "
            "(failed model steps stored; falls when their runs are deleted).",
            "reason",
            f.provider_errors,
        )
        yield GaugeMetricFamily(
            "openclaw_provider_profiles_cooling_down",
            "Model provider keys (auth profiles) in cooldown after errors.",
            value=f.profiles_cooling_down,
        )
        yield GaugeMetricFamily(
            "openclaw_nodes", "Cluster nodes (worker processes) registered.", value=f.nodes
        )
        yield GaugeMetricFamily(
            "openclaw_nodes_online",
            "Cluster nodes with a recent heartbeat.",
            value=f.nodes_online,
        )


def open_sockets() -> int:
    """WebSocket clients of this process past the handshake (each is on the event bus)."""
    return sum(1 for s in bus.subscribers() if isinstance(s, GatewayConsumer))


_installed = False


def install() -> None:
    """Register the scrape-time collectors in ``gateway.metrics.REGISTRY`` (once)."""
    global _installed  # noqa: PLW0603  (one registration per process)
    if _installed:
        return
    _installed = True
    sockets = Gauge(
        "openclaw_websocket_connections",
        "WebSocket clients connected to this process (past the handshake).",
        registry=REGISTRY,
    )
    sockets.set_function(open_sockets)
    REGISTRY.register(ClusterCollector())


def forget() -> None:
    """Drop the cached read (tests; the next scrape reads again)."""
    _cache.clear()
