"""``POST /tools/invoke`` (OpenClaw's ``tools-invoke-http.ts``): always on, gateway auth.

Body ``{tool, action?, args?, sessionKey? (default main), dryRun? (ignored)}``, at most
2 MB; optional headers ``x-openclaw-message-channel``, ``x-openclaw-account-id``,
``x-openclaw-message-to``, ``x-openclaw-thread-id`` (what the ``message`` tool replies
to). Answers 200 ``{ok: true, result}``, 400 / 500 ``{ok: false, error: {type,
message}}``, 404 when the tool is not available to the session (policy or the HTTP deny
list, ``gateway.tool_invoke``), 401, 429, 405. Needs ``operator.write`` (403 otherwise).
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connections
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from gateway import http_config
from gateway import scopes as gw_scopes
from gateway.http.auth import Refusal, gateway_caller
from gateway.http.common import BodyError, client_of, json_body, json_response, method_not_allowed
from gateway.http.openai import RATE_LIMITED
from gateway.tool_invoke import ToolInvokeResult, tool_invoke

MAX_BODY_BYTES = 2 * 1024 * 1024
ORIGIN_HEADERS = {
    "x-openclaw-message-channel": "channel",
    "x-openclaw-account-id": "accountId",
    "x-openclaw-message-to": "to",
    "x-openclaw-thread-id": "threadId",
}


def _error(status: int, type_: str, message: str, **headers: str) -> HttpResponse:
    return json_response(
        status, {"ok": False, "error": {"type": type_, "message": message}}, **headers
    )


def _invoke_on_own_thread(**kwargs: Any) -> ToolInvokeResult:
    """A tool may run for minutes: off the request's database thread, with its own
    connection, closed afterwards (this thread is not one Django manages)."""
    close_old_connections()
    try:
        return tool_invoke(**kwargs)
    finally:
        connections.close_all()


@csrf_exempt
async def tools_invoke(request: HttpRequest) -> HttpResponse:  # noqa: PLR0911
    if request.method != "POST":
        return method_not_allowed("POST")
    caller = await gateway_caller(request, await client_of(request))
    if isinstance(caller, Refusal):
        if caller.status == 429:
            return _error(429, "rate_limited", RATE_LIMITED, Retry_After=str(caller.retry_after_s))
        return _error(401, "unauthorized", "Unauthorized")
    if not caller.allows(gw_scopes.WRITE):
        return _error(403, "forbidden", f"missing scope: {gw_scopes.WRITE}")
    try:
        body = json_body(request, MAX_BODY_BYTES, empty={})
    except BodyError as exc:
        return _error(exc.status, "invalid_request", exc.message)
    body = body if isinstance(body, dict) else {}
    raw_tool = body.get("tool")
    tool = raw_tool.strip() if isinstance(raw_tool, str) else ""
    if not tool:
        return _error(400, "invalid_request", "tools.invoke requires body.tool")
    args = body.get("args")
    action = body.get("action")
    key = body.get("sessionKey")
    settings_ = await http_config.ready()
    origin = {
        field: value
        for header, field in ORIGIN_HEADERS.items()
        if (value := request.headers.get(header, "").strip())
    }
    result = await sync_to_async(_invoke_on_own_thread, thread_sensitive=False)(
        tool=tool,
        args=args if isinstance(args, dict) else {},
        action=action.strip() if isinstance(action, str) else None,
        session_key=key.strip() if isinstance(key, str) and key.strip() else None,
        http_allow=settings_.tools_allow,
        http_deny=settings_.tools_deny,
        origin=origin,
    )
    return json_response(result.status, result.body)
