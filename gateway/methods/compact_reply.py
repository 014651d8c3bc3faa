"""``sessions.compact``'s wait for its worker, and the answer it makes of the reply."""

from __future__ import annotations

import asyncio
from typing import Any

from channels.db import database_sync_to_async

from agents.services.compaction import CompactionOutcome
from gateway.frames import ErrorCode
from gateway.methods.registry import MethodError
from sessions_app import selectors

# How often the database is checked for a compaction whose reply event has not come.
COMPACT_RECHECK_S = 5.0


async def compact_reply(
    reply: asyncio.Future[dict[str, Any]], *, key: str, request_id: str, wait_s: float
) -> dict[str, Any]:
    """The worker's reply event, or (should the event be lost: a full or expired
    channel-layer group in team mode) the compaction entry it wrote, looked up every
    ``COMPACT_RECHECK_S`` seconds. Refusals are not stored: they come back in seconds,
    and a lost one ends in the timeout error."""
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise MethodError(
                f"the compaction of {key} did not finish within {wait_s:g}s; it may still "
                "complete (chat.history shows a compaction entry when it does)",
                code=ErrorCode.UNAVAILABLE,
            )
        try:
            return await asyncio.wait_for(asyncio.shield(reply), min(left, COMPACT_RECHECK_S))
        except TimeoutError:
            details = await database_sync_to_async(selectors.compaction_details)(
                session_key=key, request_id=request_id
            )
            if details is not None:
                return {"ok": True, "outcome": _stored_outcome(details).to_json()}


def _stored_outcome(details: dict[str, Any]) -> CompactionOutcome:
    return CompactionOutcome(
        True,
        summarized=int(details.get("summarized", 0)),
        kept=int(details.get("kept", 0)),
        tokens_before=int(details.get("tokensBefore", 0)),
        tokens_after=int(details.get("tokensAfter", 0)),
    )


def compact_answer(key: str, reply: dict[str, Any]) -> dict[str, Any]:
    if reply.get("crashed"):
        raise MethodError("sessions.compact failed; see the worker log", code=ErrorCode.UNAVAILABLE)
    if not reply.get("ok"):
        raise MethodError(str(reply.get("error") or "the compaction failed"))
    outcome = CompactionOutcome.from_json(reply["outcome"])
    answer: dict[str, Any] = {"ok": True, "key": key, "compacted": outcome.compacted}
    if outcome.compacted:
        answer.update(
            kept=outcome.kept,
            summarized=outcome.summarized,
            tokensBefore=outcome.tokens_before,
            tokensAfter=outcome.tokens_after,
        )
    else:
        answer["reason"] = outcome.reason
    return answer
