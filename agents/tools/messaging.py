"""Messaging and session tools: message (group:messaging), sessions_list and sessions_send
(group:sessions).

They call services and selectors: the ``message`` tool queues through the delivery port
(``core.delivery``, which the channels app serves; agents does not import it), the
session tools call the runs service and the sessions app's selectors. The registry
imports this module on first use (``agents.tools.registry``), when the apps are loaded.
Side effects are idempotent per run: the outbox dedupe key and the run idempotency key
are derived from the run id and the arguments, so a call repeated in the same run (a
redelivered step) never sends twice.

A sandboxed session (``ToolContext.sandboxed``) only reaches sandboxed sessions: the
rule is ``agents.services.agents.agent_session_sandboxed``, the one the run loop sandboxes by.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import Field

from agents.agent_cache import default_agent
from agents.models import Agent
from agents.services.agents import agent_session_sandboxed
from agents.services.runs import RunError, run_start, session_key_canonical
from agents.tools.base import Tool, ToolArgs, ToolContext, ToolError, ToolOutput
from agents.tools.base import register as register_tool
from core.delivery import ChannelMessage, DeliveryError, deliver
from sessions_app.lib.keys import SessionKeyError, main_session_key, parse_agent_id
from sessions_app.selectors import session_describe, sessions_list
from sessions_app.wire import SessionRow

# OutboundMessage.dedupe_key and Run.run_id are both CharField(max_length=200).
KEY_MAX_LENGTH = 200
SESSIONS_LIST_MAX = 100


class MessageArgs(ToolArgs):
    action: Literal["send"] = Field(description="What to do; only 'send' is supported.")
    channel: str = Field(description="Channel kind to send on, e.g. 'telegram'.")
    to: str = Field(description="Chat id to send to on that channel.")
    text: str = Field(description="The message text.")
    account_id: str = Field(
        default="default", description="Which configured account of the channel sends it."
    )
    thread_id: str | None = Field(
        default=None, description="Thread or topic id inside the chat, if any."
    )


class SessionsListArgs(ToolArgs):
    limit: int = Field(
        default=20, ge=1, le=SESSIONS_LIST_MAX, description="How many sessions (default 20)."
    )


class SessionsSendArgs(ToolArgs):
    session_key: str = Field(description="Key of the session to send to (from sessions_list).")
    message: str = Field(description="The message to post in that session as a user turn.")


def args_digest(args: ToolArgs) -> str:
    """A stable hash of the arguments: the same call gives the same digest."""
    canonical = json.dumps(args.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:40]


def bounded_key(*parts: str) -> str:
    """Join ``parts`` with ':'; hash the longest part if the key would pass 200 characters."""
    key = ":".join(parts)
    if len(key) <= KEY_MAX_LENGTH:
        return key
    longest = max(range(len(parts)), key=lambda i: len(parts[i]))
    shortened = list(parts)
    shortened[longest] = hashlib.sha256(parts[longest].encode("utf-8")).hexdigest()[:40]
    return ":".join(shortened)[:KEY_MAX_LENGTH]


# --- message ---------------------------------------------------------------------------
def message_run(ctx: ToolContext, args: MessageArgs) -> ToolOutput:
    channel = args.channel.strip().lower()
    try:
        accepted = deliver(
            ChannelMessage(
                channel=channel,
                account_id=args.account_id.strip() or "default",
                chat_id=args.to.strip(),
                text=args.text,
                dedupe_key=bounded_key("tool", ctx.run_id, args_digest(args)),
                thread_id=args.thread_id or "",
            )
        )
    except DeliveryError as exc:
        raise ToolError(str(exc)) from None
    outbound_id = accepted.outbound_id
    meta: dict[str, Any] = {
        "outboundId": outbound_id,
        "created": accepted.created,
        "channel": channel,
        "to": accepted.chat_id,
    }
    if not accepted.created:
        return ToolOutput(
            f"this exact message was already queued earlier in this run (outbox #{outbound_id});"
            " it was not sent again",
            meta=meta,
        )
    return ToolOutput(
        f"queued for delivery on {channel} to {accepted.chat_id} (outbox #{outbound_id})",
        meta=meta,
    )


# --- sessions_list ---------------------------------------------------------------------
def _listed_sessions(ctx: ToolContext, limit: int) -> tuple[list[SessionRow], int]:
    """This agent's sessions the caller may see (a page of them) and how many there are.

    A sandboxed session sees only sandboxed sessions (least disclosure): not the ones it
    may not post to with sessions_send, i.e. the main session of a "non-main" agent.
    """
    if not ctx.sandboxed:
        page = sessions_list(agent_id=ctx.agent_slug, limit=limit, include_last_message=True)
        return page.rows, page.total_count
    agent = Agent.objects.filter(slug=ctx.agent_slug).first()
    if agent is None or agent.sandbox_mode == Agent.SandboxMode.OFF:
        return [], 0  # none of this agent's sessions runs sandboxed

    def visible(key: str) -> bool:
        return agent_session_sandboxed(agent=agent, session_key=key)

    # At most one session is hidden (the main one), so one row more fills the page.
    page = sessions_list(agent_id=agent.slug, limit=limit + 1, include_last_message=True)
    rows = [row for row in page.rows if visible(str(row.get("key", "")))]
    hidden = len(page.rows) - len(rows)
    main_key = main_session_key(agent.slug)
    if not hidden and len(page.rows) < page.total_count and not visible(main_key):
        hidden = int(session_describe(key=main_key) is not None)  # further down the list
    return rows[:limit], page.total_count - hidden


def sessions_list_run(ctx: ToolContext, args: SessionsListArgs) -> ToolOutput:
    rows, total = _listed_sessions(ctx, args.limit)
    lines = [
        json.dumps(
            {
                "key": row.get("key"),
                "label": row.get("label") or row.get("displayName"),
                "updatedAt": row.get("updatedAt"),
                "preview": row.get("lastMessagePreview"),
            },
            ensure_ascii=False,
        )
        for row in rows
    ]
    meta = {"count": len(lines), "total": total}
    if not lines:
        return ToolOutput(f"agent {ctx.agent_slug} has no sessions yet", meta=meta)
    footer = f"({len(lines)} of {total} sessions, most recent first)"
    return ToolOutput("\n".join([*lines, footer]), meta=meta)


# --- sessions_send ---------------------------------------------------------------------
def _same_session(a: str, b: str) -> bool:
    try:
        return session_key_canonical(a) == session_key_canonical(b)
    except SessionKeyError:
        return a.strip().lower() == b.strip().lower()


def _refuse_unsandboxed_target(raw_key: str) -> None:
    """Raise ``ToolError`` when the session ``raw_key`` runs outside the sandbox.

    For sandboxed callers: a message posted there would be answered by an unsandboxed
    turn (the operator's main session, with host exec and the full tool set). The target
    agent is found as ``run_start`` finds it; a bad key or an unknown agent is left to
    ``run_start``, which refuses it with its own message.
    """
    try:
        key = session_key_canonical(raw_key)
    except SessionKeyError:
        return
    slug = parse_agent_id(key)
    agent = Agent.objects.filter(slug=slug).first() if slug else default_agent()
    if agent is None or agent_session_sandboxed(agent=agent, session_key=key):
        return
    why = (
        f"agent {agent.slug!r} has sandbox mode 'off'"
        if agent.sandbox_mode == Agent.SandboxMode.OFF
        else f"it is the main session of agent {agent.slug!r}"
    )
    raise ToolError(
        f"cannot send to {key}: that session runs outside the sandbox ({why}), and this "
        "session is sandboxed, so it may only post to sandboxed sessions (sessions_list "
        "shows them). To allow it, an operator can sandbox that session too: set "
        f"agents.list[N].sandbox.mode to 'all' for agent {agent.slug!r}"
    )


def sessions_send_run(ctx: ToolContext, args: SessionsSendArgs) -> ToolOutput:
    if not args.message.strip():
        raise ToolError("message is empty; give the text to send")
    if _same_session(args.session_key, ctx.session_key):
        raise ToolError(
            "that is this session itself; sessions_send posts to another session (a message "
            "here would wait for this very run to finish)"
        )
    if ctx.sandboxed:
        _refuse_unsandboxed_target(args.session_key)
    try:
        started = run_start(
            session_key=args.session_key,
            message=args.message,
            idempotency_key=bounded_key(ctx.run_id, "send", args_digest(args)),
            agent_slug=None,
        )
    except RunError as exc:
        raise ToolError(exc.message) from None
    run = started.run
    result = {"status": "accepted", "runId": run.run_id, "sessionKey": run.session.key}
    return ToolOutput(json.dumps(result), meta={**result, "created": started.created})


register_tool(
    Tool(
        name="message",
        description=(
            "Send a message on a chat channel (action 'send'): channel kind, chat id in 'to', "
            "the text, and optionally the account and thread. Queued and delivered by the "
            "channel's connector."
        ),
        group="messaging",
        args_model=MessageArgs,
        run=message_run,
    )
)
register_tool(
    Tool(
        name="sessions_list",
        description=(
            "List this agent's sessions, most recent first, one JSON object per line "
            "(key, label, updatedAt, preview of the last message). A sandboxed session "
            "sees only sandboxed sessions."
        ),
        group="sessions",
        args_model=SessionsListArgs,
        run=sessions_list_run,
        side_effects=False,
    )
)
register_tool(
    Tool(
        name="sessions_send",
        description=(
            "Post a message into another session (by key) as a user turn; that session's "
            "agent answers it in its own run. Returns the accepted run id. A sandboxed "
            "session can only post to sandboxed sessions."
        ),
        group="sessions",
        args_model=SessionsSendArgs,
        run=sessions_send_run,
    )
)
