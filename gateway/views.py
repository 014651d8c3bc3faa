"""HTTP surfaces of the gateway: liveness and readiness."""

from __future__ import annotations

import time

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from gateway import selectors
from gateway.http.common import db

_STARTED = time.monotonic()


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Touches neither the database nor Redis."""
    return JsonResponse(
        {"ok": True, "status": "live", "uptimeMs": int((time.monotonic() - _STARTED) * 1000)}
    )


@require_GET
async def ready(request: HttpRequest) -> JsonResponse:
    """Readiness: the database (and Redis, when configured) answer. Checked on the shared
    worker threads (``gateway.http.common.db``): a database that takes its whole timeout
    to answer must not stall the sockets served by this process's database thread."""
    report = await db(selectors.readiness)
    return JsonResponse(report.as_dict(), status=200 if report.ok else 503)
