"""Celery beat's schedule, and the cron settings (imported by ``settings``).

Beat runs the gateway's periodic chores in both modes (embedded: inside the gateway
process; team: the one ``celery beat``). Frequent entries expire after one interval, so a
backlog never replays a pile of stale ticks.
"""

from __future__ import annotations

from typing import Any

from core.env import env_bool, env_int
from openclaw_site.node_settings import NODE_CHECK_SECONDS

# How often the cron tick (``cron.tick``: agents.services.cron) finishes runs that ended
# and claims the jobs that are due; a job runs at most this late.
CRON_TICK_SECONDS = env_int("OPENCLAW_CRON_TICK_SECONDS", 5, minimum=1, maximum=60)
# OpenClaw's switch: OPENCLAW_SKIP_CRON=1 keeps the jobs but starts none on schedule
# (``cron.run`` still runs one by hand).
CRON_ENABLED = not env_bool("OPENCLAW_SKIP_CRON", False)


def _every(task: str, seconds: float) -> dict[str, Any]:
    return {"task": task, "schedule": float(seconds), "options": {"expires": float(seconds)}}


def beat_schedule(*, sweep_s: int, channel_sweep_s: int) -> dict[str, dict[str, Any]]:
    """``CELERY_BEAT_SCHEDULE``: the work sweeper, the channel sweep, the cron tick and
    the node sweep (silent cluster nodes marked offline: gateway.nodes)."""
    return {
        "work-sweep": _every("gateway.work_sweep", sweep_s),
        "channel-sweep": _every("channels.sweep", channel_sweep_s),
        "cron-tick": _every("cron.tick", CRON_TICK_SECONDS),
        "node-sweep": _every("gateway.node_sweep", NODE_CHECK_SECONDS),
    }
