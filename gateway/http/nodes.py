"""The cluster node API (docs/nodes.md): read-only, gateway token, ``operator.read``.

``GET /api/v1/nodes``, ``/api/v1/nodes/online``, ``/api/v1/nodes/skills/<skill>``,
``/api/v1/nodes/<id>/health`` (503 while the node is offline) and
``/api/v1/cluster/health``. Errors are ``{"error": {"type", "message"}}``: 401 without a
valid ``Authorization: Bearer`` token, 429 after too many failures (with
``Retry-After``), 403 without ``operator.read``, 404 for an unknown node, 405 for any
method but GET.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from gateway import node_selectors
from gateway import scopes as gw_scopes
from gateway.http.auth import Refusal, gateway_caller
from gateway.http.common import client_of, db, json_response
from gateway.http.openai import RATE_LIMITED
from gateway.lib.nodes import NodeConfigError, check_skill

View = Callable[..., Coroutine[Any, Any, HttpResponse]]


def _error(status: int, type_: str, message: str, **headers: str) -> HttpResponse:
    return json_response(status, {"error": {"type": type_, "message": message}}, **headers)


def _read_api(view: View) -> View:
    """GET only, then the gateway token with ``operator.read``; else the JSON error."""

    @csrf_exempt
    @wraps(view)
    async def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method != "GET":
            return _error(
                405, "method_not_allowed", f"{request.method} is not allowed; use GET", Allow="GET"
            )
        caller = await gateway_caller(request, await client_of(request))
        if isinstance(caller, Refusal):
            if caller.status == 429:
                return _error(
                    429, "rate_limited", RATE_LIMITED, Retry_After=str(caller.retry_after_s)
                )
            return _error(
                401,
                "unauthorized",
                "send the gateway token as Authorization: Bearer <token>",
                WWW_Authenticate="Bearer",
            )
        if not caller.allows(gw_scopes.READ):
            return _error(403, "forbidden", f"missing scope: {gw_scopes.READ}")
        return await view(request, *args, **kwargs)

    return wrapped


def _node_list(views: list[node_selectors.NodeView], **extra: Any) -> HttpResponse:
    return json_response(
        200, {**extra, "count": len(views), "nodes": [view.as_dict() for view in views]}
    )


@_read_api
async def nodes(request: HttpRequest) -> HttpResponse:
    return _node_list(await db(node_selectors.nodes_all))


@_read_api
async def nodes_online(request: HttpRequest) -> HttpResponse:
    return _node_list(await db(node_selectors.nodes_online_views))


@_read_api
async def nodes_with_skill(request: HttpRequest, skill: str) -> HttpResponse:
    try:
        check_skill(skill)
    except NodeConfigError as exc:
        return _error(400, "invalid_request", str(exc))
    return _node_list(await db(node_selectors.nodes_with_skill, skill), skill=skill)


@_read_api
async def node_health(request: HttpRequest, node_id: str) -> HttpResponse:
    view = await db(node_selectors.node_view, node_id)
    if view is None:
        return _error(404, "not_found", f"no node {node_id!r}; GET /api/v1/nodes lists them")
    return json_response(200 if view.online else 503, view.health())


@_read_api
async def cluster_health(request: HttpRequest) -> HttpResponse:
    health = await db(node_selectors.cluster_health)
    return json_response(200, health.as_dict())
