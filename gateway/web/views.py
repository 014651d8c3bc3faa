"""Browser pages: the operator home page, WebChat, and OpenClaw's Control UI.

All views are async and make no database call of their own (the home page reads the
cached health summary, see ``gateway.web.status``): a sync view would run on the
process's one database thread, which every socket shares. File reads of the Control UI
go to a worker thread.
"""

from __future__ import annotations

import asyncio
import json

from django.conf import settings
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponsePermanentRedirect,
)
from django.template.loader import render_to_string
from django.urls import Resolver404, resolve
from django.views.decorators.http import require_safe

from gateway import authcache
from gateway.lib.protocol import MAX_PAYLOAD_BYTES
from gateway.web import control_ui
from gateway.web.status import gateway_status

CONTROL_UI_URL_NAME = "control-ui"


def page_csp(request: HttpRequest) -> str:
    """A strict policy for our own pages: our scripts and styles only, sockets to this host."""
    host = request.get_host()
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src 'self' ws://{host} wss://{host}",
            "base-uri 'none'",
            "object-src 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def _page(request: HttpRequest, template: str, context: dict[str, object]) -> HttpResponse:
    response = HttpResponse(render_to_string(template, context, request=request))
    response["Content-Security-Policy"] = page_csp(request)
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-cache"
    return response


def _ws_url(request: HttpRequest) -> str:
    return f"{'wss' if request.is_secure() else 'ws'}://{request.get_host()}"


@require_safe
async def home(request: HttpRequest) -> HttpResponse:
    """The operator's start page: state, links, and how to point OpenClaw's clients here."""
    user = await request.auser()
    return _page(
        request,
        "home/index.html",
        {
            "status": await gateway_status(),
            "is_staff": user.is_staff,
            "ws_url": _ws_url(request),
            "auth_mode": settings.GATEWAY_AUTH_MODE,
            "control_ui": settings.CONTROL_UI_DIR is not None,
            "webchat_url": "/webchat" if settings.CONTROL_UI_DIR is not None else "/chat",
        },
    )


@require_safe
async def webchat(request: HttpRequest) -> HttpResponse:
    """The WebChat page; it talks to the gateway over the WebSocket on this origin."""
    return _page(
        request,
        "webchat/index.html",
        {
            "auth_mode": settings.GATEWAY_AUTH_MODE,
            "max_payload": MAX_PAYLOAD_BYTES,
            "home_url": "/home" if settings.CONTROL_UI_DIR is not None else "/",
        },
    )


@require_safe
async def root(request: HttpRequest) -> HttpResponse:
    """``/``: the Control UI when one is configured (as OpenClaw serves it), else home."""
    if settings.CONTROL_UI_DIR is not None:
        return await control_ui_view(request, "")
    return await home(request)


@require_safe
async def chat(request: HttpRequest) -> HttpResponse:
    """``/chat``: WebChat, unless the Control UI owns that route (its chat page)."""
    if settings.CONTROL_UI_DIR is not None:
        return await control_ui_view(request, "chat")
    return await webchat(request)


def _slash_redirect(path: str) -> HttpResponse | None:
    """CommonMiddleware's APPEND_SLASH, which this catch-all route would otherwise defeat."""
    if not path or not settings.APPEND_SLASH or path.endswith("/"):
        return None
    try:
        match = resolve(f"/{path}/")
    except Resolver404:
        return None
    if match.url_name == CONTROL_UI_URL_NAME:
        return None
    return HttpResponsePermanentRedirect(f"/{path}/")


# OpenClaw's bootstrap config path, its pre-2026.7 alias and its namespace alias
# (``matchesControlUiBootstrapConfigPath`` for an empty base path).
CONTROL_UI_CONFIG_PATHS = frozenset(
    {
        "control-ui-config.json",
        "__openclaw/control-ui-config.json",
        "__openclaw__/control-ui-config.json",
    }
)


def _control_ui_config() -> HttpResponse:
    agent = authcache.default_agent() or "main"
    body = {
        "basePath": "",
        "assistantName": "Assistant",
        # Agents here have no avatar image (see gateway.web.resources): OpenClaw's "none".
        "assistantAvatar": None,
        "assistantAvatarSource": None,
        "assistantAvatarStatus": "none",
        "assistantAvatarReason": "missing",
        "assistantAgentId": agent,
    }
    response = HttpResponse(json.dumps(body), content_type="application/json; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    return response


async def control_ui_view(request: HttpRequest, path: str) -> HttpResponse:
    """Any other path: a file of the Control UI, its index page, or 404."""
    redirect = _slash_redirect(path)
    if redirect is not None:
        return redirect
    root = settings.CONTROL_UI_DIR
    if root is None:
        raise Http404("no such page")
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    if path in CONTROL_UI_CONFIG_PATHS:
        return _control_ui_config()
    found = await asyncio.to_thread(
        control_ui.resolve,
        root,
        path,
        wants_html="text/html" in request.headers.get("Accept", ""),
        accept_encoding=request.headers.get("Accept-Encoding", ""),
    )
    if found is None:
        raise Http404("no such file in the Control UI")
    if isinstance(found, control_ui.IndexPage):
        response = HttpResponse(found.body, content_type="text/html; charset=utf-8")
        response["Content-Security-Policy"] = control_ui.csp(found.script_hashes)
        response["Referrer-Policy"] = "no-referrer"
        response["Cache-Control"] = control_ui.REVALIDATE
        return response
    body = b"" if request.method == "HEAD" else await asyncio.to_thread(found.path.read_bytes)
    response = HttpResponse(body, content_type=found.content_type)
    if request.method == "HEAD":
        response["Content-Length"] = str(found.path.stat().st_size)
    response["Cache-Control"] = found.cache_control
    response["Vary"] = "Accept-Encoding"
    if found.encoding:
        response["Content-Encoding"] = found.encoding
    return response
