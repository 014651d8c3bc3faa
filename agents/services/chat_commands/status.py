"""``/status``: a compact card of the session, like OpenClaw's status message.

Reads only (four or five queries): the session row, its agent, the configured default
model when neither sets one, and the session's active runs.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.utils import timezone

from agents.models import Agent, Run
from agents.runtime.claim import ACTIVE_STATUSES
from agents.runtime.model_config import NoModelConfiguredError, context_window_for, model_chain
from agents.selectors import agent_by_slug_or_default
from sessions_app.lib import keys
from sessions_app.models import Session


def format_tokens(count: int) -> str:
    """1234 → ``1.2k``, 2_000_000 → ``2m`` (OpenClaw's status card style)."""
    for limit, suffix in ((1_000_000, "m"), (1_000, "k")):
        if count >= limit:
            return f"{count / limit:.1f}".removesuffix(".0") + suffix
    return str(count)


def format_age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    for unit_s, suffix in ((86_400, "d"), (3_600, "h"), (60, "m")):
        if seconds >= unit_s:
            return f"{seconds // unit_s}{suffix}"
    return f"{seconds}s"


def _model_line(agent: Agent | None, session: Session | None) -> tuple[str, str]:
    """(the model the next turn uses, its line on the card)."""
    override = session.model_override if session is not None else ""
    try:
        model = model_chain(agent=agent, session_override=override)[0]
    except NoModelConfiguredError:
        return "", "🧠 Model: none configured (set OPENAI_API_KEY or ANTHROPIC_API_KEY)"
    if override:
        origin = "session, set with /model"
    elif agent is not None and agent.model_primary:
        origin = "agent default"
    else:
        origin = "gateway default"
    return model, f"🧠 Model: {model} ({origin})"


def model_summary(*, session_key: str) -> str:
    """The card's model line for the session with this canonical key (``/model``)."""
    session = Session.objects.filter(key=session_key).first()
    agent = agent_by_slug_or_default(keys.parse_agent_id(session_key))
    return _model_line(agent, session)[1]


def _runs_line(key: str, now: datetime) -> str:
    active = list(
        Run.objects.filter(session__key=key, status__in=ACTIVE_STATUSES)
        .order_by("pk")
        .values_list("run_id", "status", "started_at", "created_at")
    )
    running = [row for row in active if row[1] == Run.Status.RUNNING]
    queued = len(active) - len(running)
    if not running:
        return f"🏃 Run: {queued} queued" if queued else "🏃 Run: idle"
    run_id, _status, started_at, created_at = running[0]
    since = format_age((now - (started_at or created_at)).total_seconds())
    more = f" (+{queued} queued)" if queued else ""
    return f"🏃 Run: {run_id} running for {since}{more} · /stop to abort"


def status_text(*, session_key: str) -> str:
    """The ``/status`` card of the session with this canonical key (it may not exist yet)."""
    now = timezone.now()
    session = Session.objects.filter(key=session_key).first()
    agent = agent_by_slug_or_default(keys.parse_agent_id(session_key))
    agent_line = "🤖 Agent: none configured"
    if agent is not None:
        named = f" ({agent.name})" if agent.name and agent.name != agent.slug else ""
        agent_line = f"🤖 Agent: {agent.slug}{named}"
    model, model_line = _model_line(agent, session)
    lines = ["🦞 OpenClaw status", agent_line, model_line]
    if session is None:
        lines.append(f"🧵 Session: {session_key} • no messages yet")
    else:
        # As OpenClaw's card: the last turn's total tokens against the context window.
        window = session.context_tokens or (context_window_for(model) if model else 0)
        used = session.total_tokens
        share = f" ({round(100 * used / window)}%)" if window else ""
        lines += [
            f"🧮 Tokens: {format_tokens(session.input_tokens)} in / "
            f"{format_tokens(session.output_tokens)} out",
            f"📚 Context: {format_tokens(used)}/{format_tokens(window) if window else '?'}"
            f"{share} · 🧹 Compactions: {session.compaction_count}",
            f"🧵 Session: {session_key} • "
            + (
                f"updated {format_age((now - session.last_activity_at).total_seconds())} ago"
                if session.last_activity_at
                else "no activity"
            ),
        ]
    queue_mode = (session.queue_mode if session is not None else "") or settings.AGENT_QUEUE_MODE
    lines.append(f"🪢 Queue: {queue_mode}")
    lines.append(_runs_line(session_key, now))
    return "\n".join(lines)
