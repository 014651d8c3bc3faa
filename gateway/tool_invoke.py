"""``POST /tools/invoke``: one tool of an agent, run outside a turn (OpenClaw's contract).

The tool must be allowed to the session's agent exactly as in a turn of that session
(``agents.runtime.place.TurnPlace``: the tool profile, allow and deny, the sandbox tool
policy of a sandboxed session), and not be on the HTTP deny list: ``sessions_spawn``,
``sessions_send``, ``gateway`` and ``whatsapp_login`` by default, less what
``gateway.tools.allow`` names, plus ``gateway.tools.deny``. A tool that is not available
is a 404, as OpenClaw answers, whatever the reason.

Runs on a worker thread of its own (a tool may take minutes), never the event loop.
"""

from __future__ import annotations

import fnmatch
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from pydantic import ValidationError

from agents.agent_cache import agent_by_slug
from agents.agent_cache import default_agent as cached_default_agent
from agents.runtime.place import TurnPlace
from agents.selectors import default_slug_of
from agents.tools.base import ToolContext, ToolError
from core.redact import redact
from sessions_app.lib import keys

logger = logging.getLogger(__name__)

DEFAULT_HTTP_DENY = ("sessions_spawn", "sessions_send", "gateway", "whatsapp_login")


@dataclass(frozen=True)
class ToolInvokeResult:
    """The HTTP answer: ``status`` and the body OpenClaw gives."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)


def _error(status: int, type_: str, message: str) -> ToolInvokeResult:
    return ToolInvokeResult(status, {"ok": False, "error": {"type": type_, "message": message}})


def http_denied(name: str, *, allow: Sequence[str], deny: Sequence[str]) -> bool:
    """Whether the HTTP deny list (defaults less ``allow``, plus ``deny``) holds ``name``."""
    denied = [n for n in DEFAULT_HTTP_DENY if n not in allow] + [n.lower() for n in deny]
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in denied)


def _default_slug() -> str:
    agent = cached_default_agent()
    return default_slug_of([agent] if agent is not None else [])


def _with_action(
    schema: Mapping[str, Any], args: dict[str, Any], action: str | None
) -> dict[str, Any]:
    """OpenClaw's ``mergeActionIntoArgsIfSupported``."""
    if action and "action" not in args and "action" in (schema.get("properties") or {}):
        return {**args, "action": action}
    return args


def tool_invoke(  # noqa: PLR0911  (one answer per refusal)
    *,
    tool: str,
    args: dict[str, Any],
    action: str | None = None,
    session_key: str | None = None,
    http_allow: Sequence[str] = (),
    http_deny: Sequence[str] = (),
    origin: Mapping[str, str] | None = None,
) -> ToolInvokeResult:
    """Run one tool for the session ``session_key`` (default: the main session)."""
    try:
        key = keys.canonicalize(session_key or "main", default_agent=_default_slug)
    except keys.SessionKeyError as exc:
        return _error(400, "invalid_request", str(exc))
    agent = agent_by_slug(keys.parse_agent_id(key) or "")
    if agent is None:
        return _error(400, "invalid_request", f"session key {key!r} names no existing agent")
    place = TurnPlace(agent=agent, session_key=key)
    found = place.tools().get(tool)
    if found is None or http_denied(tool, allow=http_allow, deny=http_deny):
        return _error(404, "not_found", f"Tool not available: {tool}")
    spec = found.spec()
    try:
        parsed = found.args_model.model_validate(_with_action(spec.parameters, args, action))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(arguments)'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        return _error(400, "tool_error", f"the arguments do not match {tool}'s schema: {problems}")
    where = place.session_workspace
    ctx = ToolContext(
        agent_slug=agent.slug,
        session_key=key,
        run_id=f"http-{uuid.uuid4()}",
        workspace=where.path,
        sandboxed=place.sandboxed,
        is_main_session=place.is_main_session,
        workspace_access=where.access,
        protected_files=where.protected_files,
        deadline=time.monotonic() + float(settings.AGENT_RUN_TIMEOUT_S),
        origin=dict(origin or {}),
    )
    try:
        output = found.run(ctx, parsed)
    except ToolError as exc:
        return _error(400, "tool_error", redact(exc.message))
    except Exception:
        logger.exception("tools/invoke: %s failed", tool)
        return _error(500, "tool_error", "tool execution failed")
    result = {
        "content": [{"type": "text", "text": redact(output.content)}],
        "details": dict(output.meta),
        "isError": output.is_error,
    }
    return ToolInvokeResult(200, {"ok": True, "result": result})
