"""HTTP surfaces of the gateway: liveness and readiness."""

from __future__ import annotations

import time

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from gateway import selectors

_STARTED = time.monotonic()


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Touches neither the database nor Redis."""
    return JsonResponse(
        {"ok": True, "status": "live", "uptimeMs": int((time.monotonic() - _STARTED) * 1000)}
    )


@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    """Readiness: the database (and Redis, when configured) answer."""
    report = selectors.readiness()
    return JsonResponse(report.as_dict(), status=200 if report.ok else 503)
