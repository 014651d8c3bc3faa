"""Read use-cases behind the catalog gateway methods (``gateway/methods/catalog.py``).

Each selector returns the wire payload of one method, in the shape OpenClaw 2026.9.6's
own gateway answers (``tests/fixtures/openclaw-frames.jsonl``). They read the database
and settings only. **Nothing secret ever enters a payload**: channel credentials are
only tested for presence, gateway tokens and passwords are not read at all, and the
database URL (which may hold a password) is never named.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import uuid
from datetime import UTC, datetime
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any, NotRequired, TypedDict, cast

from django.conf import settings
from django.db.models import Count, F, Max, Min, Q
from django.utils import timezone

from agents.models import Agent, CronJob, RoutingRule, Run
from agents.runtime.model_config import display_model_ref as default_model_ref
from agents.services.agents import agent_workspace_path
from channels_app.models import ChannelAccount, ChannelKind, InboundMessage, OutboundMessage
from core.fields import Undecryptable
from gateway import state
from gateway.models import Node
from gateway.proxies import configured as trusted_proxies_configured
from pairing.models import Device
from sessions_app.lib.keys import (
    DEFAULT_AGENT_ID,
    MAIN_KEY,
    canonicalize,
    is_main_key,
    parse_agent_id,
)
from sessions_app.models import Session

STORE_PATH = "database"
# Names this process to clients (mentions.list, system.info); new on every start.
INSTANCE_ID = str(uuid.uuid4())
CRON_PAGE_DEFAULT = 50
CRON_PAGE_MAX = 200
# Thinking levels are not configurable yet; OpenClaw's minimal answer for a model without.
THINKING_LEVELS: tuple[dict[str, str], ...] = ({"id": "off", "label": "off"},)


class ModelChoice(TypedDict):
    id: str
    name: str
    provider: str
    contextWindow: NotRequired[int]
    reasoning: NotRequired[bool]
    tags: NotRequired[list[str]]


class AgentIdentity(TypedDict):
    agentId: str
    name: str
    nameSource: str
    avatar: str
    emoji: NotRequired[str]


def ms(value: datetime | None) -> int | None:
    """Epoch milliseconds of an aware datetime (None stays None)."""
    return int(value.timestamp() * 1000) if value is not None else None


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def runtime_version() -> str:
    try:
        return metadata.version("openclaw-django")
    except metadata.PackageNotFoundError:
        return "0.0.0"


# --- agents and models ---------------------------------------------------------------
def _default_slug(agents: list[Agent]) -> str:
    return agents[0].slug if agents else DEFAULT_AGENT_ID


def agents_list() -> dict[str, Any]:
    """Return ``agents.list``: every agent, the default first."""
    agents = list(Agent.objects.default_first())
    rows = []
    for agent in agents:
        row: dict[str, Any] = {"id": agent.slug, "kind": "agent"}
        if agent.name:
            row["name"] = agent.name
        if agent.name or agent.emoji:
            row["identity"] = {k: v for k, v in (("name", agent.name), ("emoji", agent.emoji)) if v}
        row["workspace"] = str(agent_workspace_path(agent))
        model: dict[str, Any] = {"primary": agent.model_primary or default_model_ref()}
        if agent.model_fallbacks:
            model["fallbacks"] = list(agent.model_fallbacks)
        row["model"] = model
        row["thinkingLevels"] = [dict(level) for level in THINKING_LEVELS]
        row["thinkingOptions"] = [level["id"] for level in THINKING_LEVELS]
        row["thinkingDefault"] = "off"
        rows.append(row)
    return {
        "defaultId": _default_slug(agents),
        "ownership": "sole",
        "selectionRequired": False,
        "mainKey": MAIN_KEY,
        "scope": "per-sender",
        "agents": rows,
    }


def agent_slug_from_session_key(session_key: str) -> str | None:
    """The agent id of an ``agent:<id>:...`` key (None for any other key)."""
    return parse_agent_id(session_key.strip().lower())


def agent_identity(*, agent_id: str | None) -> AgentIdentity | None:
    """Return ``agent.identity.get`` for an agent id, or the default agent's without one.

    None when there is no such agent.
    """
    agents = Agent.objects.default_first()
    agent = agents.filter(slug=agent_id).first() if agent_id else agents.first()
    if agent is None:
        return None
    name = agent.name or "Assistant"
    identity: AgentIdentity = {
        "agentId": agent.slug,
        "name": name,
        "nameSource": "config" if agent.name else "default",
        "avatar": agent.emoji or name[:1].upper(),
    }
    if agent.emoji:
        identity["emoji"] = agent.emoji
    return identity


def default_agent_slug() -> str:
    slug = Agent.objects.default_first().values_list("slug", flat=True).first()
    return slug or DEFAULT_AGENT_ID


def models_list() -> list[ModelChoice]:
    """Return the configured models (``agents.runtime.model_config.configured_models``)."""
    from agents.runtime.model_config import configured_models

    return cast("list[ModelChoice]", configured_models())


# --- config ---------------------------------------------------------------------------
def _binding(rule: RoutingRule) -> dict[str, Any]:
    match: dict[str, Any] = {"channel": rule.channel}
    if rule.account_id:
        match["accountId"] = rule.account_id
    if rule.peer_kind:
        match["peer"] = {"kind": rule.peer_kind, "id": rule.peer_id}
    if rule.guild_id:
        match["guildId"] = rule.guild_id
    if rule.team_id:
        match["teamId"] = rule.team_id
    if rule.roles:
        match["roles"] = list(rule.roles)
    binding: dict[str, Any] = {"agentId": rule.agent.slug, "match": match}
    if rule.comment:
        binding["comment"] = rule.comment
    return binding


def _account_config(account: ChannelAccount) -> dict[str, Any]:
    # Every field but ``credentials``: policy and ids are configuration, not secrets.
    return {
        "name": account.name or None,
        "enabled": account.enabled,
        "dmPolicy": account.dm_policy,
        "allowFrom": list(account.allow_from),
        "groupPolicy": account.group_policy,
        "groupAllowFrom": list(account.group_allow_from),
        "requireMention": account.require_mention,
        "mode": account.mode,
    }


def config_document() -> dict[str, Any]:
    """Return the effective configuration as an OpenClaw config object, without secrets."""
    agents = list(Agent.objects.default_first())
    default = agents[0] if agents else None
    channels: dict[str, Any] = {}
    for account in ChannelAccount.objects.defer("credentials").order_by("kind", "account_id"):
        entry = channels.setdefault(account.kind, {"accounts": {}})
        entry["accounts"][account.account_id] = _account_config(account)
    rules = RoutingRule.objects.filter(enabled=True).select_related("agent")
    return {
        "gateway": {
            "mode": "local",
            "port": settings.GATEWAY_PORT,
            "bind": settings.GATEWAY_BIND,
            "auth": {"mode": settings.GATEWAY_AUTH_MODE},
            "trustedProxies": trusted_proxies_configured(),
        },
        "agents": {
            "defaults": {
                "model": {"primary": (default and default.model_primary) or default_model_ref()}
            },
            "list": [
                {
                    "id": agent.slug,
                    "default": agent.is_default,
                    **({"name": agent.name} if agent.name else {}),
                    "workspace": str(agent_workspace_path(agent)),
                    "model": {
                        "primary": agent.model_primary or default_model_ref(),
                        "fallbacks": list(agent.model_fallbacks),
                    },
                    "identity": {"name": agent.name or None, "emoji": agent.emoji or None},
                    "tools": {
                        "profile": agent.tool_profile,
                        "allow": list(agent.tools_allow),
                        "deny": list(agent.tools_deny),
                        "sandbox": {
                            "tools": {
                                "allow": list(agent.sandbox_tools_allow),
                                "deny": list(agent.sandbox_tools_deny),
                            }
                        },
                    },
                    "sandbox": {
                        "mode": agent.sandbox_mode,
                        "workspaceAccess": agent.sandbox_workspace_access,
                    },
                }
                for agent in agents
            ],
        },
        "bindings": [_binding(rule) for rule in rules],
        "channels": channels,
        "session": {"mainKey": MAIN_KEY, "scope": "per-sender"},
        "cron": {"enabled": True, "store": STORE_PATH},
    }


def config_snapshot() -> dict[str, Any]:
    """Return ``config.get``: OpenClaw's ConfigFileSnapshot of ``config_document()``.

    The configuration lives in the database, so the snapshot always ``exists`` and is
    ``valid``; ``hash`` is the sha256 of its canonical JSON (a ``baseHash`` for writes).
    """
    config = config_document()
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return {
        "path": STORE_PATH,
        "includedPaths": [],
        "includeProvenance": [],
        "agentRosterIncludeOwned": False,
        "bindingsIncludeOwned": False,
        "exists": True,
        "raw": json.dumps(config, indent=2, ensure_ascii=False),
        "parsed": config,
        "sourceConfig": config,
        "resolved": config,
        "valid": True,
        "runtimeConfig": config,
        "config": config,
        "hash": digest,
        "issues": [],
        "warnings": [],
        "legacyIssues": [],
        "configRevisionHash": digest,
        "appliedConfigHash": digest,
    }


# --- channels -------------------------------------------------------------------------
def _token_source(credentials: object) -> str:
    if isinstance(credentials, Undecryptable):
        return "undecryptable"
    return "config" if isinstance(credentials, dict) and credentials else "none"


def channels_status() -> dict[str, Any]:
    """Return ``channels.status``: one AccountSnapshot per channel account, no secrets.

    Three queries: the accounts, and the last inbound and outbound time per account.
    """
    now = timezone.now()
    accounts = list(ChannelAccount.objects.order_by("kind", "account_id"))
    last_in = dict(
        InboundMessage.objects.values_list("account_id").annotate(last=Max("received_at"))
    )
    last_out = dict(
        OutboundMessage.objects.filter(sent_at__isnull=False)
        .values_list("account_id")
        .annotate(last=Max("sent_at"))
    )
    labels = dict(ChannelKind.choices)
    snapshots: dict[str, list[dict[str, Any]]] = {}
    for account in accounts:
        # Only whether credentials exist is read; the values never leave this function.
        source = _token_source(account.credentials)
        running = bool(
            account.enabled
            and account.poll_lease_owner
            and account.poll_lease_expires_at
            and account.poll_lease_expires_at > now
        )
        snapshot: dict[str, Any] = {
            "accountId": account.account_id,
            "name": account.name or None,
            "enabled": account.enabled,
            "configured": source == "config",
            "running": running,
            "connected": running,
            "mode": account.mode,
            "lastError": account.last_error
            or ("credentials cannot be decrypted" if source == "undecryptable" else None),
            "lastInboundAt": ms(last_in.get(account.pk)),
            "lastOutboundAt": ms(last_out.get(account.pk)),
            "dmPolicy": account.dm_policy,
            "allowFrom": [str(x) for x in account.allow_from],
            "tokenSource": source,
        }
        snapshots.setdefault(account.kind, []).append(snapshot)
    order = list(snapshots)
    return {
        "ts": ms(now),
        "channelOrder": order,
        "channelLabels": {kind: str(labels.get(kind, kind)) for kind in order},
        "channelDetailLabels": {kind: str(labels.get(kind, kind)) for kind in order},
        "channelMeta": [
            {
                "id": kind,
                "label": str(labels.get(kind, kind)),
                "detailLabel": str(labels.get(kind, kind)),
            }
            for kind in order
        ],
        "channels": {
            kind: {
                "configured": any(s["configured"] for s in rows),
                "running": any(s["running"] for s in rows),
                "accounts": len(rows),
            }
            for kind, rows in snapshots.items()
        },
        "channelAccounts": snapshots,
        "channelDefaultAccountId": {
            kind: next(
                (s["accountId"] for s in rows if s["accountId"] == "default"), rows[0]["accountId"]
            )
            for kind, rows in snapshots.items()
        },
    }


# --- cron -----------------------------------------------------------------------------
def _schedule(job: CronJob) -> dict[str, Any]:
    if job.schedule_kind == CronJob.ScheduleKind.AT:
        return {"kind": "at", "at": _iso(job.at)}
    if job.schedule_kind == CronJob.ScheduleKind.EVERY:
        return {"kind": "every", "everyMs": job.every_ms}
    schedule: dict[str, Any] = {"kind": "cron", "expr": job.cron_expr}
    if job.tz:
        schedule["tz"] = job.tz
    if job.stagger_ms is not None:
        schedule["staggerMs"] = job.stagger_ms
    return schedule


def _cron_state(job: CronJob) -> dict[str, Any]:
    state = {
        "nextRunAtMs": ms(job.next_run_at),
        "runningAtMs": ms(job.running_at),
        "lastRunAtMs": ms(job.last_run_at),
        "lastRunStatus": job.last_status or None,
        "lastStatus": job.last_status or None,
        "lastError": job.last_error or None,
        "lastDurationMs": job.last_duration_ms,
    }
    compact = {k: v for k, v in state.items() if v is not None}
    compact["consecutiveErrors"] = job.consecutive_errors
    return compact


def cron_job(job: CronJob) -> dict[str, Any]:
    """Return OpenClaw's CronJob shape (protocol §9) of a row; ``agent`` must be loaded."""
    row: dict[str, Any] = {
        "id": str(job.public_id),
        "name": job.name,
        "enabled": job.enabled,
        "createdAtMs": ms(job.created_at),
        "updatedAtMs": ms(job.updated_at),
    }
    if job.agent is not None:
        row["agentId"] = job.agent.slug
    if job.session_key:
        row["sessionKey"] = job.session_key
    if job.description:
        row["description"] = job.description
    row["deleteAfterRun"] = job.delete_after_run
    row["schedule"] = _schedule(job)
    row["sessionTarget"] = job.session_target
    row["wakeMode"] = job.wake_mode
    row["payload"] = job.payload
    if job.delivery:
        row["delivery"] = job.delivery
    if job.failure_alert:
        row["failureAlert"] = job.failure_alert
    row["state"] = _cron_state(job)
    return row


def _cron_job_compact(job: CronJob, default_agent: str) -> dict[str, Any]:
    # The row the Control UI asks for with ``compact: true`` (captured frames).
    row: dict[str, Any] = {"id": str(job.public_id), "name": job.name}
    if job.agent is not None:
        row["agentId"] = job.agent.slug
    row.update(
        {
            "updatedAtMs": ms(job.updated_at),
            "enabled": job.enabled,
            "nextRunAt": _iso(job.next_run_at),
            "nextRunAtMs": ms(job.next_run_at),
            "scheduleKind": job.schedule_kind,
            "schedule": _schedule(job),
            "lastRunAt": _iso(job.last_run_at),
            "lastRunAtMs": ms(job.last_run_at),
            "lastRunStatus": job.last_status or None,
            "lastRunError": job.last_error or None,
            "effectiveAgentId": job.agent.slug if job.agent is not None else default_agent,
        }
    )
    return row


_CRON_SORT = {"nextRunAtMs": "next_run_at", "updatedAtMs": "updated_at", "name": "name"}


def cron_jobs_page(
    *,
    enabled: str = "enabled",
    agent_id: str | None = None,
    query: str | None = None,
    sort_by: str = "nextRunAtMs",
    sort_dir: str = "asc",
    offset: int = 0,
    limit: int = CRON_PAGE_DEFAULT,
    compact: bool = False,
) -> dict[str, Any]:
    """Return one page of ``cron.list``: ``{jobs, total, offset, limit, hasMore, nextOffset}``.

    ``enabled`` is ``all``, ``enabled`` or ``disabled``. A job without an agent belongs to
    the default agent, so ``agent_id`` of the default agent matches it too.
    """
    jobs = CronJob.objects.select_related("agent")
    if enabled == "enabled":
        jobs = jobs.filter(enabled=True)
    elif enabled == "disabled":
        jobs = jobs.filter(enabled=False)
    default_agent = default_agent_slug()
    if agent_id:
        match = Q(agent__slug=agent_id)
        if agent_id == default_agent:
            match |= Q(agent__isnull=True)
        jobs = jobs.filter(match)
    if query and query.strip():
        jobs = jobs.filter(
            Q(name__icontains=query.strip()) | Q(description__icontains=query.strip())
        )
    field = F(_CRON_SORT.get(sort_by, "next_run_at"))
    primary = field.desc(nulls_last=True) if sort_dir == "desc" else field.asc(nulls_last=True)
    total = jobs.count()
    limit = max(1, min(limit, CRON_PAGE_MAX))
    offset = max(0, offset)
    page = list(jobs.order_by(primary, "name", "pk")[offset : offset + limit])
    has_more = offset + len(page) < total
    rows = [_cron_job_compact(job, default_agent) if compact else cron_job(job) for job in page]
    canonical = json.dumps(rows, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return {
        "jobs": rows,
        # Changes whenever a job on the page does, so a client can skip re-rendering.
        "snapshotRevision": "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
        "total": total,
        "offset": offset,
        "limit": limit,
        "hasMore": has_more,
        "nextOffset": offset + len(page) if has_more else None,
    }


def _sqlite_path() -> str | None:
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        return str(database["NAME"])
    return None  # never the URL of a server database: it may carry a password


def cron_status() -> dict[str, Any]:
    """Return ``cron.status``: job count and the next time a job is due."""
    counts = CronJob.objects.aggregate(
        jobs=Count("pk"), next_wake=Min("next_run_at", filter=Q(enabled=True))
    )
    return {
        "enabled": True,
        "triggersEnabled": True,
        "storePath": STORE_PATH,
        "storage": STORE_PATH,
        "sqlitePath": _sqlite_path(),
        "jobs": counts["jobs"],
        "nextWakeAtMs": ms(counts["next_wake"]),
    }


# --- nodes and devices ----------------------------------------------------------------
def nodes_list() -> dict[str, Any]:
    """Return ``node.list`` from the cluster's Node rows."""
    return {
        "ts": ms(timezone.now()),
        "nodes": [
            {
                "nodeId": node.node_id,
                "displayName": node.display_name or node.node_id,
                "platform": node.platform or None,
                "version": node.version or None,
                "caps": list(node.skills),
                "commands": [],
                "paired": True,
                "connected": node.is_alive,
                "lastSeenAtMs": ms(node.last_heartbeat_at),
            }
            for node in Node.objects.order_by("node_id")
        ],
    }


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def device_pending(device: Device) -> dict[str, Any]:
    """A pending pairing request (protocol §6.6), keyed by its ``requestId``."""
    return _drop_none(
        {
            "requestId": str(device.request_id) if device.request_id else None,
            "deviceId": device.device_id,
            "publicKey": device.public_key,
            "displayName": device.display_name or None,
            "platform": device.platform or None,
            "deviceFamily": device.device_family or None,
            "clientId": device.client_id or None,
            "clientMode": device.client_mode or None,
            "role": device.role,
            "roles": [device.role],
            "scopes": list(device.scopes),
            "remoteIp": device.remote_ip,
            "ts": ms(device.requested_at or device.created_at),
        }
    )


def device_paired(device: Device) -> dict[str, Any]:
    """A paired device (protocol §6.6) with a token summary; never the token hash."""
    tokens = []
    if device.token_hash:
        tokens.append(
            _drop_none(
                {
                    "role": device.role,
                    "scopes": list(device.scopes),
                    "createdAtMs": ms(device.token_issued_at),
                    "lastUsedAtMs": ms(device.last_seen_at),
                }
            )
        )
    return _drop_none(
        {
            "deviceId": device.device_id,
            "publicKey": device.public_key,
            "displayName": device.display_name or None,
            "platform": device.platform or None,
            "deviceFamily": device.device_family or None,
            "clientId": device.client_id or None,
            "clientMode": device.client_mode or None,
            "role": device.role,
            "roles": [device.role],
            "scopes": list(device.scopes),
            "remoteIp": device.remote_ip,
            "tokens": tokens,
            "createdAtMs": ms(device.created_at),
            "approvedAtMs": ms(device.approved_at),
        }
    )


def device_pairing_list(*, only_device_id: str | None = None) -> dict[str, Any]:
    """Return ``device.pair.list``: pending requests and paired devices.

    ``only_device_id`` limits both lists to one device (a non-admin device caller sees
    only itself, as in OpenClaw).
    """
    devices = Device.objects.filter(
        Q(status=Device.Status.PENDING, request_id__isnull=False) | Q(status=Device.Status.PAIRED)
    ).order_by("-created_at")
    if only_device_id is not None:
        devices = devices.filter(device_id=only_device_id)
    pending, paired = [], []
    for device in devices:
        if device.status == Device.Status.PENDING:
            pending.append(device_pending(device))
        else:
            paired.append(device_paired(device))
    return {"pending": pending, "paired": paired}


# --- status ---------------------------------------------------------------------------
_RUN_STATUS_KEYS = {
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
    for status, origin, count in Run.objects.values_list("status", "origin").annotate(
        n=Count("pk")
    ):
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
    stale = Run.objects.filter(
        status=Run.Status.RUNNING, lease_expires_at__lt=timezone.now()
    ).count()
    return {
        "total": stale,
        "warnings": stale,
        "errors": 0,
        "byCode": {"stale_running": stale},
    }


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def process_memory() -> dict[str, Any]:
    return {"rssBytes": _rss_bytes()}


def _event_loop() -> dict[str, Any]:
    # The loop's lag is not measured here; this is OpenClaw's form for a healthy loop.
    return {"degraded": False, "degradedSinceMs": None, "reasons": []}


def _degraded_secret_owners() -> list[str]:
    # Reads only whether the stored credentials can be decrypted, never their values.
    return [
        f"channels.{account.kind}.accounts.{account.account_id}"
        for account in ChannelAccount.objects.order_by("kind", "account_id")
        if _token_source(account.credentials) == "undecryptable"
    ]


def status_summary(*, include_sensitive: bool) -> dict[str, Any]:
    """Return ``status``, OpenClaw's status summary.

    Session keys (they carry platform sender ids) and the storage path are only in it
    with ``include_sensitive`` (operator.admin callers), as OpenClaw redacts them.
    """
    agents = list(Agent.objects.default_first().values_list("slug", "model_primary"))
    default_agent = agents[0][0] if agents else DEFAULT_AGENT_ID
    per_agent = dict(Session.objects.values_list("agent_slug").annotate(n=Count("pk")))
    recent = [
        {"key": key, "agentId": slug, "updatedAt": ms(updated)}
        for key, slug, updated in Session.objects.recent().values_list(
            "key", "agent_slug", "last_activity_at"
        )[:5]
    ]
    accounts = (
        ChannelAccount.objects.values("kind")
        .annotate(total=Count("pk"), enabled=Count("pk", filter=Q(enabled=True)))
        .order_by("kind")
    )
    tasks = _tasks_summary()
    return {
        "runtimeVersion": runtime_version(),
        "hostDesktop": {"enabled": False, "state": "disabled", "port": None},
        "heartbeat": {
            "defaultAgentId": default_agent,
            "agents": [
                {"agentId": slug, "enabled": False, "every": "disabled", "everyMs": None}
                for slug, _model in agents
            ],
        },
        "channelSummary": [
            f"{row['kind']}: {row['enabled']} of {row['total']} account(s) enabled"
            for row in accounts
        ],
        "queuedSystemEvents": [],
        "degradedSecretOwners": _degraded_secret_owners(),
        "degradedPlugins": [],
        "tasks": tasks,
        "taskAudit": _task_audit(),
        "sessions": {
            "paths": [STORE_PATH] if include_sensitive else [],
            "count": sum(per_agent.values()),
            "defaults": {
                "model": (agents[0][1] if agents else "") or default_model_ref(),
                "contextTokens": None,
            },
            "recent": recent if include_sensitive else [],
            "byAgent": [
                {
                    "agentId": slug,
                    "path": STORE_PATH if include_sensitive else "[redacted]",
                    "count": per_agent.get(slug, 0),
                    "recent": [r for r in recent if r["agentId"] == slug]
                    if include_sensitive
                    else [],
                }
                for slug, _model in agents
            ],
        },
        "modelRuntime": {"degraded": False, "pendingAgents": []},
        "eventLoop": _event_loop(),
        "processMemory": process_memory(),
        "workerPools": {},
        "pid": os.getpid(),
        "shutdownBudget": {
            "timeoutMs": int(settings.SHUTDOWN_TIMEOUT_SECONDS * 1000),
            "activeWork": {"runs": tasks["active"]},
        },
    }


# --- system.info ------------------------------------------------------------------------
@cache
def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith(("model name", "hardware")):
                    return line.split(":", 1)[1].strip() or None
    except OSError:
        pass
    return platform.processor() or None


def _memory_bytes(pages: str) -> int | None:
    try:
        return os.sysconf(pages) * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _disk(path: Path) -> dict[str, Any]:
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("/"))
    try:
        usage = shutil.disk_usage(existing)
    except OSError:
        return {"path": str(existing), "totalBytes": None, "availableBytes": None}
    return {"path": str(existing), "totalBytes": usage.total, "availableBytes": usage.free}


def system_info(*, include_host: bool) -> dict[str, Any]:
    """Return ``system.info`` for the Control UI's about panel (no database).

    Host name, OS release, pid and the data dir path only with ``include_host`` (admin).
    ``nodeVersion`` is null: this gateway is not a Node process.
    """
    load = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else []
    disk = _disk(Path(settings.DATA_DIR))
    info: dict[str, Any] = {
        "platform": platform.system().lower(),
        "arch": platform.machine(),
        "port": settings.GATEWAY_PORT,
        "nodeVersion": None,
        "uptimeMs": state.uptime_ms(),
        "cpuCount": os.cpu_count(),
        "cpuModel": _cpu_model(),
        "loadAverage": load,
        "memoryTotalBytes": _memory_bytes("SC_PHYS_PAGES"),
        "memoryFreeBytes": _memory_bytes("SC_AVPHYS_PAGES"),
        "eventLoop": _event_loop(),
        "processMemory": process_memory(),
        "disks": [disk] if include_host else [],
        "diskTotalBytes": disk["totalBytes"],
        "diskAvailableBytes": disk["availableBytes"],
        "defaultAgentUtilityModel": {"status": "unavailable"},
    }
    if include_host:
        info.update(
            {
                "machineName": platform.node(),
                "hostname": platform.node(),
                "release": platform.release(),
                "osLabel": f"{platform.system()} {platform.release()}",
                "pid": os.getpid(),
                "processInstanceId": INSTANCE_ID,
                "diskPath": disk["path"],
            }
        )
    return info


# --- slash commands and chat start-up ---------------------------------------------------
class CommandArg(TypedDict):
    name: str
    description: str
    type: str


class SlashCommand(TypedDict):
    name: str
    nativeName: str
    textAliases: list[str]
    description: str
    category: str
    source: str
    scope: str
    acceptsArgs: bool
    args: NotRequired[list[CommandArg]]


# The slash commands a chat message may start with here (OpenClaw has ~70):
# (name, description, category, arguments).
_SLASH_COMMANDS: tuple[tuple[str, str, str, list[CommandArg]], ...] = (
    ("new", "Start a new session.", "session", []),
    ("reset", "Reset the current session.", "session", []),
    ("stop", "Stop the current run.", "session", []),
    ("status", "Show current status.", "status", []),
    (
        "model",
        "Show or set the model.",
        "options",
        [
            {
                "name": "model",
                "description": "provider/model, e.g. openai/gpt-4o-mini",
                "type": "string",
            }
        ],
    ),
)


def slash_commands(*, include_args: bool = True) -> list[SlashCommand]:
    """Return ``commands.list``'s entries, in OpenClaw's shape; ``args`` only when asked."""
    commands = []
    for name, description, category, args in _SLASH_COMMANDS:
        command: SlashCommand = {
            "name": name,
            "nativeName": name,
            "textAliases": [f"/{name}"],
            "description": description,
            "category": category,
            "source": "native",
            "scope": "both",
            "acceptsArgs": bool(args),
        }
        if args and include_args:
            command["args"] = args
        commands.append(command)
    return commands


def chat_startup_empty(*, session_key: str) -> dict[str, Any]:
    """Return a ``chat.startup`` with no messages: defaults, models and commands only.

    The Control UI loads the transcript with ``chat.history`` right after, so the empty
    message list here costs nothing but a first paint. Raises ``SessionKeyError``.
    """
    key = canonicalize(session_key, default_agent=default_agent_slug)
    models = models_list()
    default = models[0]
    model = {"modelProvider": default["provider"], "model": default["id"]}
    return {
        "sessionKey": key,
        "messages": [],
        "pendingInputs": {"items": [], "total": 0},
        "hasMore": False,
        "totalMessages": 0,
        "defaults": {
            **model,
            "contextTokens": None,
            "thinkingLevels": [dict(level) for level in THINKING_LEVELS],
            "thinkingOptions": [level["id"] for level in THINKING_LEVELS],
            "thinkingDefault": "off",
            "modelSelectionTarget": "session",
        },
        "sessionInfo": {
            "key": key,
            "kind": "direct",
            "agentId": parse_agent_id(key),
            "isMain": is_main_key(key),
            "updatedAt": None,
            "hasActiveRun": False,
            "activeRunIds": [],
            **model,
        },
        "thinkingLevel": "off",
        "metadata": {
            "models": models,
            "commands": slash_commands(include_args=False),
            "runtimeSelectionLocked": False,
        },
    }
