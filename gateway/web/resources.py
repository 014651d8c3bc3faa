"""The Control UI's resource routes that this gateway answers (OpenClaw
``src/gateway/control-ui-resource-routes.ts``): an agent's avatar and a session's
workspace icon.

- ``/avatar/<agentId>``: agents here have no avatar image (their identity is a name and an
  emoji, shown by the UI itself), so the image is a 404 for every id, as OpenClaw answers
  an agent without a local avatar file; ``?meta=1`` says so in OpenClaw's JSON. The answer
  is the same for every id, so it tells nobody which agents exist. Cross-origin reads get
  CORS only for the configured allowed origins, OpenClaw's rule for avatars
  (``user-profiles-http.ts``); nothing is opened for other origins.
- ``/__openclaw__/workspace-icon/<sessionKey>``: the first icon of OpenClaw's fixed list
  of conventional favicon paths in the session's agent workspace, else 404. Nothing but
  those files is ever read.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path, PurePosixPath

from channels.db import database_sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse

from agents import selectors as agent_selectors
from agents.services.agents import agent_workspace_path
from gateway import origins
from gateway.web.control_ui import CONTENT_TYPES, safe_file
from sessions_app.lib.keys import parse_agent_id

AGENT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$", re.IGNORECASE)
# OpenClaw's WORKSPACE_ICON_RELATIVE_PATHS, in its order of precedence.
WORKSPACE_ICON_PATHS = (
    "favicon.svg", "favicon.ico", "favicon.png", "public/favicon.svg", "public/favicon.ico",
    "public/favicon.png", "public/favicon-32.png", "public/apple-touch-icon.png",
    "static/favicon.svg", "static/favicon.ico", "static/favicon.png",
    "ui/public/favicon-32.png", "ui/public/favicon.svg", "ui/public/favicon.ico",
    "ui/public/favicon.png", "app/favicon.ico", "app/favicon.png", "app/icon.svg",
    "app/icon.png", "app/icon.ico", "src/favicon.ico", "src/favicon.svg",
    "src/app/favicon.ico", "src/app/icon.svg", "src/app/icon.png", "assets/icon.svg",
    "assets/icon.png", "assets/logo.svg", "assets/logo.png",
)  # fmt: skip
ICON_MAX_BYTES = 1024 * 1024
SVG_MAX_BYTES = 256 * 1024
# An SVG is markup: served inert, never as a page that runs scripts.
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


def _not_found() -> HttpResponse:
    response = HttpResponse("Not Found", status=404, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response


async def _cors(request: HttpRequest, response: HttpResponse) -> bool:
    """Add CORS for a configured allowed origin; False when a cross-origin caller is not one."""
    raw = request.headers.get("Origin")
    if raw is None:
        return True
    origin = origins.parse_origin(raw)
    await origins.policy_ready(raw)
    allowed = origins.cached_policy().allowed
    if origin is None or not ("*" in allowed or origin.origin in allowed):
        return False
    response["Access-Control-Allow-Origin"] = origin.origin
    response["Access-Control-Allow-Credentials"] = "true"
    response["Vary"] = "Origin"
    return True


async def agent_avatar(request: HttpRequest, agent_id: str) -> HttpResponse:
    """``/avatar/<agentId>``: no avatar image here; ``?meta=1`` says so."""
    if request.method == "OPTIONS":
        preflight = HttpResponse(status=204)
        if not await _cors(request, preflight):
            return JsonResponse({"ok": False, "error": {"type": "origin_not_allowed"}}, status=403)
        preflight["Access-Control-Allow-Methods"] = "GET, HEAD"
        preflight["Access-Control-Allow-Headers"] = "Authorization"
        preflight["Access-Control-Max-Age"] = "600"
        return preflight
    if request.method not in ("GET", "HEAD"):
        response = HttpResponse(status=405)
        response["Allow"] = "GET, HEAD"
        return response
    if AGENT_ID.match(agent_id) and request.GET.get("meta") == "1":
        response = JsonResponse(
            {
                "avatarUrl": None,
                "avatarSource": None,
                "avatarStatus": "none",
                "avatarReason": "missing",
            }
        )
        response["Cache-Control"] = "no-cache"
    else:
        response = _not_found()
    await _cors(request, response)
    return response


def _workspace_root(agent_id: str | None) -> Path | None:
    agent = agent_selectors.agent_by_slug_or_default(agent_id) if agent_id else None
    return agent_workspace_path(agent) if agent is not None else None


_icon_cache: dict[Path, tuple[Path, str] | None] = {}


def _workspace_icon(root: Path) -> tuple[Path, str] | None:
    """The workspace's icon file and type, found once per process (as OpenClaw does)."""
    if root in _icon_cache:
        return _icon_cache[root]
    found = None
    try:
        real = root.resolve(strict=True)
    except (OSError, RuntimeError):
        real = None
    for rel in WORKSPACE_ICON_PATHS if real is not None else ():
        path = safe_file(real, rel) if real is not None else None
        suffix = PurePosixPath(rel).suffix
        limit = SVG_MAX_BYTES if suffix == ".svg" else ICON_MAX_BYTES
        if path is not None and 0 < path.stat().st_size <= limit:
            found = (path, CONTENT_TYPES[suffix])
            break
    if len(_icon_cache) >= 32:
        _icon_cache.clear()
    _icon_cache[root] = found
    return found


async def workspace_icon(request: HttpRequest, session_key: str) -> HttpResponse:
    """``/__openclaw__/workspace-icon/<sessionKey>``: the agent workspace's favicon."""
    if request.method not in ("GET", "HEAD"):
        response = HttpResponse(status=405)
        response["Allow"] = "GET, HEAD"
        return response
    agent_id = parse_agent_id(session_key.strip().lower())
    root = await database_sync_to_async(_workspace_root)(agent_id) if agent_id else None
    icon = await asyncio.to_thread(_workspace_icon, root) if root is not None else None
    if icon is None:
        return _not_found()
    path, content_type = icon
    body = b"" if request.method == "HEAD" else await asyncio.to_thread(path.read_bytes)
    response = HttpResponse(body, content_type=content_type)
    response["Cache-Control"] = "private, no-cache"
    response["X-Content-Type-Options"] = "nosniff"
    if content_type.startswith("image/svg"):
        response["Content-Security-Policy"] = SVG_CSP
    return response
