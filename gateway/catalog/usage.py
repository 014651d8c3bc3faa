"""``sessions.usage`` and ``usage.status``: token counts this gateway really keeps.

A session carries its input, output and total token counters (since its last reset,
``sessions_app``). ``sessions.usage`` reports them for the sessions active in the date
range, in OpenClaw's ``SessionsUsageResult`` shape. Costs are not tracked here: every
cost is 0 and counted in ``missingCostEntries``. Provider quota windows
(``usage.status``) are not known either: the provider list is empty.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from core.clock import now_ms
from gateway.catalog.wire import ms
from sessions_app import selectors
from sessions_app.lib.keys import parse_agent_id
from sessions_app.models import Session
from sessions_app.wire import split_model_ref

DEFAULT_DAYS = 30


def _totals(input_tokens: int = 0, output_tokens: int = 0, total: int = 0) -> dict[str, Any]:
    return {
        "input": input_tokens,
        "output": output_tokens,
        "cacheRead": 0,
        "cacheWrite": 0,
        "totalTokens": total,
        "totalCost": 0,
        "inputCost": 0,
        "outputCost": 0,
        "cacheReadCost": 0,
        "cacheWriteCost": 0,
        "missingCostEntries": 0,
    }


def _add(into: dict[str, Any], session: Session) -> None:
    into["input"] += session.input_tokens
    into["output"] += session.output_tokens
    into["totalTokens"] += session.total_tokens
    into["missingCostEntries"] += 1 if session.total_tokens else 0


def date_range(start: date | None, end: date | None, *, today: date) -> tuple[date, date]:
    """The inclusive range asked for: ``DEFAULT_DAYS`` up to today when open."""
    end = end or today
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    return start, end


def sessions_usage(
    *, start: date, end: date, limit: int, key: str | None, default_model: str | None
) -> dict[str, Any]:
    """Return ``sessions.usage`` for the sessions last active from ``start`` to ``end``."""
    since = datetime.combine(start, time.min, tzinfo=UTC)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)
    rows = selectors.sessions_active_between(since=since, until=until, limit=limit, key=key)
    totals = _totals()
    by_agent: dict[str, dict[str, Any]] = defaultdict(_totals)
    by_channel: dict[str, dict[str, Any]] = defaultdict(_totals)
    by_model: dict[tuple[str | None, str | None], dict[str, Any]] = {}
    daily: dict[str, dict[str, Any]] = {}
    sessions = []
    for session in rows:
        provider, model = split_model_ref(session.model_override or default_model)
        agent_id = parse_agent_id(session.key) or session.agent_slug
        channel = session.channel or "webchat"
        usage = _totals(session.input_tokens, session.output_tokens, session.total_tokens)
        usage["missingCostEntries"] = 1 if session.total_tokens else 0
        last = ms(session.last_activity_at)
        day = (session.last_activity_at or since).astimezone(UTC).date().isoformat()
        usage.update(firstActivity=ms(session.created_at), lastActivity=last, activityDates=[day])
        sessions.append(
            {
                "key": session.key,
                **({"label": session.label} if session.label else {}),
                "sessionId": str(session.session_id),
                "updatedAt": last,
                "agentId": agent_id,
                "channel": channel,
                "chatType": session.chat_type,
                "modelProvider": provider,
                "model": model,
                "usage": usage,
            }
        )
        for bucket in (totals, by_agent[agent_id], by_channel[channel]):
            _add(bucket, session)
        entry = by_model.setdefault((provider, model), {"count": 0, "totals": _totals()})
        entry["count"] += 1
        _add(entry["totals"], session)
        point = daily.setdefault(
            day,
            {"date": day, "tokens": 0, "cost": 0, "messages": 0, "toolCalls": 0, "errors": 0},
        )
        point["tokens"] += session.total_tokens
    models = [
        {"provider": provider, "model": model, **entry}
        for (provider, model), entry in by_model.items()
    ]
    return {
        "updatedAt": now_ms(),
        "startDate": start.isoformat(),
        "endDate": end.isoformat(),
        "sessions": sessions,
        "totals": totals,
        "aggregates": {
            # Per-message counts, tool calls and latency are not tracked per session here.
            "messages": {
                "total": 0,
                "user": 0,
                "assistant": 0,
                "toolCalls": 0,
                "toolResults": 0,
                "errors": 0,
            },
            "tools": {"totalCalls": 0, "uniqueTools": 0, "tools": []},
            "byModel": models,
            "byProvider": models,
            "byAgent": [{"agentId": a, "totals": t} for a, t in by_agent.items()],
            "byChannel": [{"channel": c, "totals": t} for c, t in by_channel.items()],
            "daily": sorted(daily.values(), key=lambda point: point["date"]),
        },
    }


def usage_status() -> dict[str, Any]:
    """Return ``usage.status``: provider quota windows, which this gateway does not read."""
    return {"updatedAt": now_ms(), "providers": []}
