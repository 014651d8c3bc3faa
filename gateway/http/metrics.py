"""``GET /metrics``: Prometheus text format (or OpenMetrics, when the scraper asks for it).

Protected like the other HTTP APIs: ``Authorization: Bearer <gateway token>`` (the
password in password mode) with the ``operator.read`` scope, failures counted by the
same per-address limiter as socket connects. ``OPENCLAW_METRICS_PUBLIC=true`` drops the
check, for a scraper on a private network that cannot send a token; the figures hold no
secrets, but they do tell an outsider how busy the gateway is and which channels fail.
The scrape itself (the cluster figures' queries, see ``gateway.metrics_collect``) runs on
the shared worker threads, never on the event loop.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client.exposition import choose_encoder

from gateway import metrics, metrics_collect
from gateway import scopes as gw_scopes
from gateway.http.auth import Refusal, gateway_caller
from gateway.http.common import client_of, db, method_not_allowed, text_response

metrics_collect.install()


def exposition(accept: str) -> tuple[bytes, str]:
    """The registry in the format ``accept`` asks for: (body, content type)."""
    encoder, content_type = choose_encoder(accept)
    return encoder(metrics.REGISTRY), content_type


async def metrics_view(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return method_not_allowed("GET")
    if not settings.METRICS_PUBLIC:
        caller = await gateway_caller(request, await client_of(request))
        if isinstance(caller, Refusal):
            if caller.status == 429:
                return text_response(
                    429, "Too many failed attempts\n", Retry_After=str(caller.retry_after_s)
                )
            return text_response(
                401,
                "Unauthorized: send Authorization: Bearer <gateway token>, or set "
                "OPENCLAW_METRICS_PUBLIC=true\n",
                WWW_Authenticate='Bearer realm="openclaw"',
            )
        if not caller.allows(gw_scopes.READ):
            return text_response(403, f"Forbidden: missing scope {gw_scopes.READ}\n")
    body, content_type = await db(exposition, request.headers.get("Accept", ""))
    return HttpResponse(body, content_type=content_type)
