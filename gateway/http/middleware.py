"""The outermost HTTP middleware: a request id for the logs, and the latency histogram.

Every request gets an id: the client's or proxy's ``X-Request-ID`` when it is a sane
token (nginx's ``$request_id``, a load balancer's trace id), else a new one. It is echoed
in the response's ``X-Request-ID`` and set as ``requestId`` in the log context
(``core.logging``), so every line logged while the request is served carries it, in the
database threads too. The request's latency is observed by route name, method and status
class (``gateway.metrics``). WebSocket traffic does not pass here (Channels routes it).

A view that meets the database down (``core.dbdown``) answers 503 with a JSON error that
says so and ``Retry-After``, instead of Django's 500 and a traceback per request.

Sync and async capable, so Django's ASGI handler chains it without a thread hop.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase, JsonResponse

from core import dbdown
from core.logging import log_context
from gateway import metrics

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
# Letters, digits and the punctuation of common trace ids; anything else (or longer) is
# replaced, so a client cannot forge log structure or flood a line with it.
_SANE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
UNMATCHED = "unmatched"


def request_id_of(request: HttpRequest) -> str:
    """The request's id: its ``X-Request-ID`` when sane, else a new random one."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex


def route_of(request: HttpRequest) -> str:
    """The URL pattern's name (namespaced, e.g. ``admin:index``), or ``unmatched``."""
    match = request.resolver_match
    return (match.view_name or UNMATCHED) if match is not None else UNMATCHED


class RequestContextMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(
        self,
        get_response: Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]],
    ) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self._acall(request)
        started = time.perf_counter()
        request_id = request_id_of(request)
        with log_context(requestId=request_id):
            response = self.get_response(request)
        assert isinstance(response, HttpResponseBase)
        return _finish(request, response, request_id, started)

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        request_id = request_id_of(request)
        with log_context(requestId=request_id):
            response = await self.get_response(request)  # type: ignore[misc]
        return _finish(request, response, request_id, started)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponseBase | None:
        if not isinstance(exc, dbdown.DATABASE_DOWN):
            return None  # Django's own handling
        what = f"{request.method} {request.path}"
        dbdown.log_database_down(logger, what, exc)
        error = {
            "type": "service_unavailable",
            "code": dbdown.CODE,
            "message": dbdown.database_down_message(what, exc),
        }
        retry_after_s = str(max(1, dbdown.RETRY_AFTER_MS // 1000))
        return JsonResponse({"error": error}, status=503, headers={"Retry-After": retry_after_s})


def _finish(
    request: HttpRequest, response: HttpResponseBase, request_id: str, started: float
) -> HttpResponseBase:
    response[REQUEST_ID_HEADER] = request_id
    metrics.http_observe(
        route=route_of(request),
        method=request.method or "",
        status=response.status_code,
        seconds=time.perf_counter() - started,
    )
    return response
