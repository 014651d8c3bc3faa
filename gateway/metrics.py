"""The gateway's Prometheus instruments: what this process measures on its hot paths.

``/metrics`` (``gateway.http.metrics``) exposes one registry, ``REGISTRY``, that holds:

- the per-process instruments below, observed where the work happens: HTTP request
  latency (``gateway.http.middleware``) and RPC latency (``gateway.calls``). Observing
  one costs a dict lookup and a few microseconds under the instrument's lock;
- the process, platform and GC collectors of ``prometheus_client`` (memory, CPU, fds);
- the scrape-time collectors of ``gateway.metrics_cluster``: open sockets of this process,
  and the cluster-wide figures read from the database and Redis (runs, queues, messages,
  provider errors, nodes), registered by the ``/metrics`` view.

Nothing here touches the database. The registry is the module's own, not
``prometheus_client.REGISTRY``, so importing another library's metrics adds nothing.
See docs/observability.md for every name and label.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

# HTTP answers are milliseconds (health, ready) to seconds (a blocking /v1 turn).
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# An RPC answered from memory takes ~0.1 ms; one database hop 1-5 ms.
RPC_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
)  # fmt: skip

HTTP_LATENCY = Histogram(
    "openclaw_http_request_duration_seconds",
    "HTTP requests served by this process, until the response (its headers for a stream).",
    ["route", "method", "status"],
    buckets=HTTP_BUCKETS,
    registry=REGISTRY,
)
RPC_LATENCY = Histogram(
    "openclaw_rpc_duration_seconds",
    "Gateway protocol requests (WebSocket req frames) handled by this process, until the "
    "first res frame.",
    ["method", "outcome"],
    buckets=RPC_BUCKETS,
    registry=REGISTRY,
)

# Label values are bounded: unknown HTTP methods share one value, route names come from
# the URLconf, RPC method names from the registry (an unknown one is refused before).
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OK = "ok"
ERROR = "error"


def http_observe(*, route: str, method: str, status: int, seconds: float) -> None:
    """Count one HTTP request: its route name, method and status class (``2xx``)."""
    method = method if method in HTTP_METHODS else "other"
    HTTP_LATENCY.labels(route, method, f"{status // 100}xx").observe(seconds)


class RpcTimer:
    """The latency of one RPC, from its creation to ``done`` (only the first call counts)."""

    __slots__ = ("_method", "_started")

    def __init__(self, method: str) -> None:
        self._method = method
        self._started: float | None = time.perf_counter()

    def done(self, outcome: str) -> None:
        if self._started is not None:
            elapsed = time.perf_counter() - self._started
            self._started = None
            RPC_LATENCY.labels(self._method, outcome).observe(elapsed)
