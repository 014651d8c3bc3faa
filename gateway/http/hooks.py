"""Webhooks: ``POST <hooks.path>/wake``, ``/agent`` and mapped ``/<name>`` (OpenClaw's order).

1. off, or a path outside ``hooks.path``: not ours (the Control UI's catch-all answers);
2. a ``?token=`` query parameter: 400 (tokens go in headers only);
3. the token (``Authorization: Bearer`` or ``x-openclaw-token``): 401, 429 + ``Retry-After``
   after repeated failures from the client;
4. a method other than POST: 405 (``Allow: POST``);
5. the body: 413 past ``hooks.maxBodyBytes``, 400 when it is not JSON (an empty body is ``{}``);
6. ``wake`` → 200 ``{ok, mode}``; ``agent`` → 202 ``{ok, runId}``; a mapping → either;
   nothing matches → 404.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from channels_app.connectors.registry import connector_kinds
from gateway import http_config
from gateway.hooks import hook_agent_start, hook_wake
from gateway.http.auth import hook_authenticate
from gateway.http.common import (
    BodyError,
    client_of,
    db,
    headers_of,
    json_body,
    json_response,
    method_not_allowed,
    text_response,
)
from gateway.lib import hook_mappings
from gateway.lib.hooks import (
    AgentAction,
    HookError,
    HooksPolicy,
    agent_normalize,
    wake_normalize,
)
from gateway.web.views import control_ui_view

logger = logging.getLogger(__name__)

QUERY_TOKEN_REFUSAL = (
    "Hook token must be provided via Authorization: Bearer <token> or X-OpenClaw-Token "  # noqa: S105
    "header (query parameters are not allowed)."
)


def _channels(raw: Any) -> list[str]:
    """The channel kinds a hook may name (loaded only when it names one)."""
    return [] if raw in (None, "last") else connector_kinds()


def _bad(message: str, status: int = 400) -> HttpResponse:
    return json_response(status, {"ok": False, "error": message})


async def _agent(policy: HooksPolicy, action: AgentAction, *, source: str) -> HttpResponse:
    try:
        run_id = await db(hook_agent_start, action=action, policy=policy, source=source)
    except HookError as exc:
        return _bad(exc.message)
    return json_response(202, {"ok": True, "runId": run_id})


def _mapped_agent(fields: dict[str, Any]) -> AgentAction:
    action = agent_normalize(fields, channels=_channels(fields.get("channel")))
    unsafe = fields.get("allowUnsafeExternalContent") is True
    if unsafe:
        action = dataclasses.replace(action, allow_unsafe_external_content=True)
    return action


async def _mapping(
    policy: HooksPolicy, request: HttpRequest, sub: str, payload: dict[str, Any]
) -> HttpResponse:
    ctx = hook_mappings.MappingContext(
        payload=payload,
        headers=headers_of(request),
        query={k: str(v) for k, v in request.GET.items()},
        path=sub,
    )
    mapping = hook_mappings.mapping_match(policy.mappings, ctx)
    if mapping is None:
        return text_response(404, "Not Found")
    try:
        fields = hook_mappings.mapping_action(mapping, ctx)
        if fields.pop("kind") == "wake":
            wake = wake_normalize(fields)
            await db(hook_wake, action=wake)
            return json_response(200, {"ok": True, "mode": wake.mode})
        action = _mapped_agent(fields)
    except (hook_mappings.MappingError, HookError) as exc:
        return _bad(str(exc))
    return await _agent(policy, action, source="mapping")


# OpenClaw's order of checks, one answer each.
async def _dispatch(policy: HooksPolicy, request: HttpRequest, sub: str) -> HttpResponse:  # noqa: PLR0911
    client = await client_of(request)
    refused = hook_authenticate(request, client, policy.token)
    if refused is not None:
        if refused.status == 429:
            return text_response(429, "Too Many Requests", Retry_After=str(refused.retry_after_s))
        return text_response(401, "Unauthorized")
    if request.method != "POST":
        return method_not_allowed("POST")
    if not sub:
        return text_response(404, "Not Found")
    try:
        payload = json_body(request, policy.max_body_bytes, empty={})
    except BodyError as exc:
        return _bad(exc.message, exc.status)
    if not isinstance(payload, dict):
        payload = {}  # OpenClaw: a JSON body that is no object counts as {}
    try:
        if sub == "wake":
            wake = wake_normalize(payload)
            await db(hook_wake, action=wake)
            return json_response(200, {"ok": True, "mode": wake.mode})
        if sub == "agent":
            action = agent_normalize(payload, channels=_channels(payload.get("channel")))
            return await _agent(policy, action, source="request")
    except HookError as exc:
        return _bad(exc.message)
    if policy.mappings:
        return await _mapping(policy, request, sub, payload)
    return text_response(404, "Not Found")


@csrf_exempt
async def hooks_or_control_ui(request: HttpRequest, path: str) -> HttpResponse:
    """The webhooks when ``path`` is under ``hooks.path`` and they are on; else the
    Control UI's catch-all (its files, or 404)."""
    if request.method in ("GET", "HEAD") and not http_config.maybe_hooks_path("/" + path):
        # A page load of the Control UI reads no configuration. (A GET under the hooks
        # path is answered by the webhooks: 401, or 405 with the right token.)
        return await control_ui_view(request, path)
    policy = (await http_config.ready()).hooks
    sub = policy.sub_path("/" + path.rstrip("/")) if policy is not None else None
    if policy is None or sub is None:
        return await control_ui_view(request, path)
    if "token" in request.GET:
        return text_response(400, QUERY_TOKEN_REFUSAL)
    return await _dispatch(policy, request, sub)
