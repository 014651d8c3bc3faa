"""The request a model step sends: the session's history, the system prompt, the tools.

The prompt files are the operator's: always the agent's own workspace, never a
sandboxed session's copy (``TurnPlace.prompt_files``). The model is told where its tools
work.
"""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.utils import timezone

from agents.lib import compaction, prompt
from agents.providers import ModelRequest
from agents.runtime.claim import Claimed
from agents.runtime.context import history_for
from agents.runtime.place import TurnPlace
from agents.tools.base import Tool


def _timezone_name() -> str:
    return str(settings.AGENT_TIMEZONE or settings.TIME_ZONE or "UTC")


def _tzinfo() -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(_timezone_name())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def model_request(
    *, claimed: Claimed, place: TurnPlace, allowed: dict[str, Tool], model_ref: str, model: str
) -> tuple[ModelRequest, int]:
    """The request for ``model`` (of ``model_ref``), and its estimated size in tokens."""
    history = history_for(session=claimed.session, run=claimed.run)
    messages = list(history.messages)
    if history.summary:
        messages.insert(0, compaction.summary_message(history.summary))
    system = _system_prompt(claimed=claimed, place=place, allowed=allowed, model_ref=model_ref)
    specs = [tool.spec() for tool in allowed.values()]
    request = ModelRequest(
        model=model,
        system=system,
        messages=messages,
        tools=specs,
        max_tokens=int(settings.AGENT_MAX_OUTPUT_TOKENS),
    )
    return request, compaction.estimate_request_tokens(system, messages, specs)


def _system_prompt(
    *, claimed: Claimed, place: TurnPlace, allowed: dict[str, Tool], model_ref: str
) -> str:
    files = place.prompt_files()
    where = place.session_workspace
    origin = claimed.run.reply_to or {}
    session = claimed.session
    agent = claimed.agent
    facts = prompt.RuntimeFacts(
        agent_id=agent.slug,
        agent_name=agent.name or agent.slug,
        model_ref=model_ref,
        session_key=session.key,
        channel=str(origin.get("channel") or session.channel or "webchat"),
        chat_type=str(session.chat_type or "direct"),
        sender=str(origin.get("sender") or ""),
        timezone=_timezone_name(),
        now=timezone.localtime(timezone.now(), _tzinfo()),
        workspace=where.path,
        sandboxed=place.sandboxed,
        is_main_session=place.is_main_session,
        host="linux",
        workspace_access=where.access,
    )
    return prompt.system_prompt(
        facts=facts, tools=[t.spec() for t in allowed.values()], files=files
    )
