"""``status``: OpenClaw's status summary (agents, sessions, channels, tasks)."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.utils import timezone

from agents import selectors as agent_selectors
from agents.heartbeat_selectors import heartbeat_summaries
from agents.models import Run
from agents.runtime.model_config import display_model_ref as default_model_ref
from channels_app import selectors as channel_selectors
from gateway.catalog.channels import degraded_secret_owners
from gateway.catalog.system import event_loop, process_memory
from gateway.catalog.wire import STORE_PATH, ms, runtime_version
from gateway.selectors import session_counts_by_agent, sessions_recent

_RUN_STATUS_KEYS: dict[str, str] = {
    Run.Status.QUEUED: "queued",
    Run.Status.RUNNING: "running",
    Run.Status.SUCCEEDED: "succeeded",
    Run.Status.FAILED: "failed",
    Run.Status.ABORTED: "cancelled",
}


def _tasks_summary() -> dict[str, Any]:
    by_status = dict.fromkeys(
        ("queued", "running", "succeeded", "failed", "timed_out", "cancelled", "lost"), 0
    )
    by_runtime = dict.fromkeys(Run.Origin.values, 0)
    for status, origin, count in agent_selectors.run_counts():
        by_status[_RUN_STATUS_KEYS.get(status, "lost")] += count
        by_runtime[origin] = by_runtime.get(origin, 0) + count
    active = by_status["queued"] + by_status["running"]
    total = sum(by_status.values())
    return {
        "total": total,
        "active": active,
        "terminal": total - active,
        "failures": by_status["failed"] + by_status["timed_out"] + by_status["lost"],
        "byStatus": by_status,
        "byRuntime": by_runtime,
    }


def _task_audit() -> dict[str, Any]:
    # A running run whose lease ran out lost its worker; the sweeper will re-queue it.
    stale = agent_selectors.runs_stale_count(now=timezone.now())
    return {
        "total": stale,
        "warnings": stale,
        "errors": 0,
        "byCode": {"stale_running": stale},
    }


def status_summary(*, include_sensitive: bool) -> dict[str, Any]:
    """Return ``status``, OpenClaw's status summary.

    Session keys (they carry platform sender ids) and the storage path are only in it
    with ``include_sensitive`` (operator.admin callers), as OpenClaw redacts them.
    """
    agents = agent_selectors.agent_rows()
    heartbeats = heartbeat_summaries()
    per_agent = session_counts_by_agent()
    recent = [
        {"key": key, "agentId": slug, "updatedAt": ms(updated)}
        for key, slug, updated in sessions_recent()
    ]
    tasks = _tasks_summary()
    return {
        "runtimeVersion": runtime_version(),
        "hostDesktop": {"enabled": False, "state": "disabled", "port": None},
        "heartbeat": {
            "defaultAgentId": agent_selectors.default_slug_of(agents),
            "agents": [
                {
                    "agentId": agent.slug,
                    "enabled": bool(summary.get("enabled")),
                    "every": summary.get("every", "disabled"),
                    "everyMs": summary.get("everyMs"),
                }
                for agent in agents
                for summary in [heartbeats.get(agent.slug, {})]
            ],
        },
        "channelSummary": [
            f"{row.kind}: {row.enabled} of {row.total} account(s) enabled"
            for row in channel_selectors.channel_account_counts()
        ],
        "queuedSystemEvents": [],
        "degradedSecretOwners": degraded_secret_owners(),
        "degradedPlugins": [],
        "tasks": tasks,
        "taskAudit": _task_audit(),
        "sessions": {
            "paths": [STORE_PATH] if include_sensitive else [],
            "count": sum(per_agent.values()),
            "defaults": {
                "model": (agents[0].model_primary if agents else "") or default_model_ref(),
                "contextTokens": None,
            },
            "recent": recent if include_sensitive else [],
            "byAgent": [
                {
                    "agentId": agent.slug,
                    "path": STORE_PATH if include_sensitive else "[redacted]",
                    "count": per_agent.get(agent.slug, 0),
                    "recent": [r for r in recent if r["agentId"] == agent.slug]
                    if include_sensitive
                    else [],
                }
                for agent in agents
            ],
        },
        "modelRuntime": {"degraded": False, "pendingAgents": []},
        "eventLoop": event_loop(),
        "processMemory": process_memory(),
        "workerPools": {},
        "pid": os.getpid(),
        "shutdownBudget": {
            "timeoutMs": int(settings.SHUTDOWN_TIMEOUT_SECONDS * 1000),
            "activeWork": {"runs": tasks["active"]},
        },
    }
