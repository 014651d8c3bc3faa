"""Webhook actions (OpenClaw ``POST /hooks/wake`` and ``/hooks/agent``) as runs and events.

- ``hook_wake``: a system event for the default agent's main session. ``mode: "now"``
  starts a turn there at once (OpenClaw's immediate heartbeat); ``"next-heartbeat"``
  appends the event to the main session's transcript without a turn, so the agent's next
  heartbeat (``agents.services.cron.heartbeat``) or any earlier turn there sees it.
- ``hook_agent_start``: an agent turn in its own session (``hook:<uuid>``, or the
  configured ``defaultSessionKey``, or the request's key when allowed), started through
  ``agents.services.runs.run_start`` with origin ``hook``.

The text from outside is wrapped as untrusted content (``agents.lib.external_content``)
before it becomes the turn's message, unless a mapping sets
``allowUnsafeExternalContent``. One transaction per service.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from agents.agent_cache import agent_by_slug
from agents.agent_cache import default_agent as cached_default_agent
from agents.lib.external_content import safe_external_prompt, suspicious_patterns
from agents.models import Run
from agents.selectors import default_slug_of
from agents.services.runs import RunError, run_start
from gateway.lib.hooks import AGENT_POLICY_ERROR, AgentAction, HookError, HooksPolicy, WakeAction
from sessions_app.lib import keys
from sessions_app.models import Session
from sessions_app.services import (
    SessionError,
    session_get_or_create,
    session_message_append,
    session_patch,
)

logger = logging.getLogger(__name__)


def _known(slug: str) -> bool:
    return agent_by_slug(slug) is not None


def _default_slug() -> str:
    agent = cached_default_agent()
    if agent is None:
        raise HookError("no agent is configured; create one in the admin (Agents → Add)")
    return default_slug_of([agent])


def _log_suspicious(text: str, *, key: str) -> None:
    found = suspicious_patterns(text)
    if found:
        logger.warning(
            "webhook text for session %s looks like prompt injection (%d patterns); "
            "it is wrapped as untrusted content",
            key,
            len(found),
        )


def _wake_text(text: str) -> str:
    return safe_external_prompt(text, source="webhook", context=[("System event", "webhook wake")])


@transaction.atomic
def hook_wake(*, action: WakeAction) -> str | None:
    """Enqueue a webhook's system event for the main session; return the run id of the
    turn ``mode: "now"`` starts (None for ``next-heartbeat``). Raises ``HookError``."""
    slug = _default_slug()
    key = keys.main_session_key(slug)
    _log_suspicious(action.text, key=key)
    message = _wake_text(action.text)
    try:
        if action.mode == "now":
            run_id = f"hook-wake-{uuid.uuid4()}"
            run_start(
                session_key=key,
                message=message,
                idempotency_key=run_id,
                agent_slug=slug,
                origin=Run.Origin.HOOK,
            )
            return run_id
        session, _ = session_get_or_create(key=key, agent_slug=slug)
        session_message_append(
            session=session,
            role="user",
            content=[{"type": "text", "text": message}],
            details={"systemEvent": "hook:wake"},
        )
    except (RunError, SessionError) as exc:
        raise HookError(exc.message) from None
    return None


def _reply_to(action: AgentAction, main_key: str) -> dict[str, Any]:
    """Where the reply is to be delivered: ``channel``/``to`` as given, ``last`` the main
    session's chat. Empty when there is no such chat, or ``deliver`` is false."""
    if not action.deliver:
        return {}
    channel, account, chat = action.channel, "", action.to
    if channel == "last":
        row = (
            Session.objects.filter(key=main_key)
            .values_list("channel", "account_id", "peer_id")
            .first()
        )
        if row is None or not row[0]:
            return {}
        channel, account, last_peer = row
        chat = chat or last_peer
    if not chat:
        return {}
    return {"channel": channel, "accountId": account or keys.DEFAULT_ACCOUNT_ID, "chatId": chat}


@transaction.atomic
def hook_agent_start(*, action: AgentAction, policy: HooksPolicy, source: str) -> str:
    """Start a webhook's agent turn; return its run id.

    ``source`` is "request" (``POST <path>/agent``) or "mapping": only a request's
    ``sessionKey`` needs ``allowRequestSessionKey``. An ``agentId`` that is not an agent
    runs on the default agent (OpenClaw), if ``allowedAgentIds`` lets it. A ``model`` or
    ``thinking`` becomes the session's override. Raises ``HookError`` (400).
    """
    if not policy.agent_allowed(action.agent_id, known=_known):
        raise HookError(AGENT_POLICY_ERROR)
    slug = policy.target_agent(action.agent_id, known=_known) or _default_slug()
    run_id = str(uuid.uuid4())
    requested = policy.session_key(action.session_key, source=source)
    try:
        key = keys.canonicalize(requested, default_agent=slug)
    except keys.SessionKeyError as exc:
        raise HookError(str(exc)) from None
    if keys.parse_agent_id(key) != slug:
        # A key of another agent: OpenClaw keeps its agent (normalizeHookDispatchSessionKey).
        slug = keys.parse_agent_id(key) or slug
    _log_suspicious(action.message, key=key)
    if action.allow_unsafe_external_content:
        message = f"[hook:{run_id} {action.name}] {action.message}"
    else:
        source_kind = "email" if key.split(":", 2)[-1].startswith("hook:gmail:") else "webhook"
        message = safe_external_prompt(
            action.message,
            source=source_kind,
            context=[
                ("Task", action.name),
                ("Job ID", run_id),
                ("Received", timezone.now().isoformat(timespec="seconds")),
            ],
        )
    overrides = {"model_override": action.model, "thinking_level": action.thinking}
    overrides = {k: v for k, v in overrides.items() if v}
    try:
        if overrides:
            session_patch(key=key, changes=overrides)
        run_start(
            session_key=key,
            message=message,
            idempotency_key=run_id,
            agent_slug=slug,
            origin=Run.Origin.HOOK,
            reply_to=_reply_to(action, keys.main_session_key(slug)),
        )
    except (RunError, SessionError) as exc:
        raise HookError(exc.message) from None
    return run_id
