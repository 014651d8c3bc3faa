"""``last-heartbeat`` and ``set-heartbeats``: OpenClaw's heartbeat methods (spec §8.9).

``last-heartbeat`` answers the last ``heartbeat`` event (or null before the first);
``set-heartbeats {enabled}`` turns every agent's heartbeat on or off (``{ok, enabled}``);
while off, heartbeats end as ``skipped`` with reason ``disabled``. The heartbeat jobs
themselves are in ``cron.list`` (``heartbeat-<agent>``) and follow the config
``agents.defaults.heartbeat`` / ``agents.list[].heartbeat``.
"""

from __future__ import annotations

from typing import Any

from pydantic import StrictBool

from agents.heartbeat_selectors import heartbeat_last_event
from agents.services.cron import heartbeat_set_enabled
from gateway.methods.registry import CallContext, Params, WireParams, method


@method("last-heartbeat")
def last_heartbeat(ctx: CallContext, params: Params) -> dict[str, Any] | None:
    return heartbeat_last_event()


class SetHeartbeatsParams(WireParams):
    enabled: StrictBool


@method("set-heartbeats", params=SetHeartbeatsParams)
def set_heartbeats(ctx: CallContext, params: SetHeartbeatsParams) -> dict[str, Any]:
    heartbeat_set_enabled(enabled=params.enabled)
    return {"ok": True, "enabled": params.enabled}
