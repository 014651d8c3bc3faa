"""Health, status and presence."""

from __future__ import annotations

from typing import Any

from gateway import state
from gateway.methods.registry import CallContext, Params, method


class HealthParams(Params):
    probe: bool | None = None


@method("health", params=HealthParams, roles=frozenset({"operator", "node"}))
async def health(ctx: CallContext, params: HealthParams) -> dict[str, Any]:
    """Answer from the cached summary; no database call unless stale or ``probe``."""
    return await state.health_get(force=bool(params.probe))


@method("system-presence")
async def system_presence(ctx: CallContext, params: Params) -> list[dict[str, Any]]:
    return state.presence_list()
