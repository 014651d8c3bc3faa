"""``manage.py status [--json] [--port N]``: OpenClaw's ``openclaw status``.

The gateway (does it answer /health on its port, for how long, and would a restart
change its port, bind, address or credentials: ``gateway.listen``), the database (reachable,
migrations pending), Redis (team mode), the workers and the cluster nodes
(gateway.node_selectors), the channel accounts with their
state and last error, the sessions, and the model that answers. Exit 0 when the gateway
and the database answer, 1 when one does not.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from agents.models import ModelProvider
from agents.runtime.model_config import NoModelConfiguredError, model_chain
from agents.selectors import default_agent
from channels_app.admin.accounts import account_state
from channels_app.connectors.registry import connector_kinds
from channels_app.models import ChannelAccount
from gateway import listen, node_selectors
from gateway.doctor import redis_error
from gateway.web.status import uptime_text
from sessions_app.models import Session

EXIT_DOWN = 1


def _gateway(host: str, port: int) -> dict[str, Any]:
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/health"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            body = json.loads(response.read())
    except (OSError, urllib.error.URLError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return {"up": False, "url": url, "error": str(reason)}
    return {"up": True, "url": url, "uptimeMs": body.get("uptimeMs")}


def _restart() -> dict[str, Any]:
    """What a restart would change: port, bind, address or credentials (gateway.listen)."""
    pending = listen.pending_restart()
    if pending is None:
        return {"known": False, "pending": []}
    return {"known": True, "pending": pending}


def _database() -> dict[str, Any]:
    db = settings.DATABASES["default"]
    where = (
        str(db.get("NAME"))
        if connection.vendor == "sqlite"
        else f"{db.get('HOST')}/{db.get('NAME')}"
    )
    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        pending = len(executor.migration_plan(executor.loader.graph.leaf_nodes()))
    except DatabaseError as exc:
        return {"ok": False, "vendor": connection.vendor, "where": where, "error": str(exc)}
    return {"ok": True, "vendor": connection.vendor, "where": where, "pendingMigrations": pending}


def _redis() -> dict[str, Any]:
    if not settings.REDIS_URL:
        return {"used": False}
    error = redis_error()
    return (
        {"used": True, "ok": True} if error is None else {"used": True, "ok": False, "error": error}
    )


def _workers() -> dict[str, Any]:
    if not settings.TEAM_MODE:
        processes = settings.EMBEDDED_WORKER_PROCESSES
        return {
            "mode": "embedded",
            "processes": processes,
            "threads": settings.EMBEDDED_WORKER_THREADS,
            "where": f"{processes} worker process(es)" if processes else "the gateway process",
        }
    health = node_selectors.cluster_health()
    return {"mode": "team", "nodes": health.total_nodes, "online": health.online_nodes}


def _nodes() -> dict[str, Any]:
    """The cluster's nodes (gateway.node_selectors): counts, capacity, and each node."""
    return {
        **node_selectors.cluster_health().as_dict(),
        "nodes": [view.as_dict() for view in node_selectors.nodes_all()],
    }


def _channels() -> list[dict[str, Any]]:
    now, kinds = timezone.now(), connector_kinds()
    return [
        {
            "account": f"{a.kind}:{a.account_id}",
            "enabled": a.enabled,
            "state": account_state(a, now=now, kinds=kinds),
            "lastUpdateAt": a.last_update_at.isoformat() if a.last_update_at else None,
            "lastError": a.last_error or None,
        }
        for a in ChannelAccount.objects.order_by("kind", "account_id")
    ]


def _model() -> dict[str, Any]:
    agent = default_agent()
    try:
        chain = model_chain(agent=agent)
    except NoModelConfiguredError as exc:
        return {"defaultAgent": agent.slug if agent else None, "model": None, "why": str(exc)}
    return {
        "defaultAgent": agent.slug if agent else None,
        "model": chain[0] if chain else None,
        "fallbacks": chain[1:],
        "storedProviders": ModelProvider.objects.count(),
    }


def _sessions() -> dict[str, Any]:
    day = timezone.now() - timedelta(days=1)
    return {
        "count": Session.objects.count(),
        "activeLast24h": Session.objects.filter(last_activity_at__gte=day).count(),
    }


class Command(BaseCommand):
    help = (
        "Show the gateway, database, Redis, workers, channels, sessions and model "
        "(OpenClaw's `openclaw status`). Exit 1 when the gateway or the database is down."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
        parser.add_argument(
            "--port", type=int, default=None, help="the gateway's port (default 18789)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host, port = listen.probe_address(options["port"])
        report: dict[str, Any] = {
            "mode": "team" if settings.TEAM_MODE else "embedded",
            "gateway": _gateway(host, port),
            "database": _database(),
        }
        if report["gateway"]["up"]:
            report["gateway"]["restart"] = _restart()
        if report["database"]["ok"] and not report["database"]["pendingMigrations"]:
            report.update(
                redis=_redis(),
                workers=_workers(),
                nodes=_nodes(),
                channels=_channels(),
                sessions=_sessions(),
                model=_model(),
            )
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
        else:
            self._text(report)
        if not (report["gateway"]["up"] and report["database"]["ok"]):
            sys.exit(EXIT_DOWN)

    def _text(self, report: dict[str, Any]) -> None:
        write = self.stdout.write
        gw = report["gateway"]
        if gw["up"]:
            up = uptime_text(int(gw["uptimeMs"] or 0))
            write(
                f"Gateway: up {up} at {gw['url'].removesuffix('/health')} ({report['mode']} mode)"
            )
            for change in gw["restart"]["pending"]:
                write(
                    f"  restart pending: {change['key']} is {change['running']} in the running "
                    f"gateway, {change['configured']} once restarted"
                )
        else:
            write(
                f"Gateway: not answering at {gw['url']} ({gw['error']}); start it: manage.py gateway"
            )
        db = report["database"]
        if not db["ok"]:
            write(f"Database: {db['vendor']} at {db['where']} unreachable: {db['error']}")
            return
        pending = db["pendingMigrations"]
        write(
            f"Database: {db['vendor']} at {db['where']}"
            + (
                f", {pending} migration(s) pending (the gateway applies them at start)"
                if pending
                else ""
            )
        )
        if pending:
            return  # the rest reads tables the migrations make
        redis = report["redis"]
        if redis["used"]:
            write("Redis: ok" if redis["ok"] else f"Redis: unreachable: {redis['error']}")
        workers = report["workers"]
        if workers["mode"] == "embedded":
            write(f"Workers: {workers['where']}, {workers['threads']} thread(s) each")
        else:
            write(f"Workers: {workers['online']} of {workers['nodes']} node(s) online")
        self._nodes_text(report["nodes"])
        channels = report["channels"]
        write(f"Channels: {len(channels) or 'none'}")
        for row in channels:
            error = f"; last error: {row['lastError']}" if row["lastError"] else ""
            write(f"  {row['account']}: {row['state']}{error}")
        sessions = report["sessions"]
        write(f"Sessions: {sessions['count']} ({sessions['activeLast24h']} active in 24 h)")
        model = report["model"]
        if model["model"]:
            write(f"Model: {model['model']} (agent {model['defaultAgent']})")
        else:
            write(f"Model: none configured: {model['why']}")

    def _nodes_text(self, nodes: dict[str, Any]) -> None:
        write = self.stdout.write
        write(
            f"Nodes: {nodes['online_nodes']} of {nodes['total_nodes']} online, "
            f"{nodes['available_capacity']} of {nodes['total_capacity']} task slot(s) free"
        )
        for node in nodes["nodes"]:
            ago = node["seconds_since_heartbeat"]
            seen = "never" if ago is None else f"{ago:.0f} s ago"
            write(
                f"  {node['node_id']} ({node['host'] or 'unknown host'}): {node['status']}, "
                f"skills {', '.join(node['skills']) or 'none'}, "
                f"{node['tasks_in_flight']}/{node['max_concurrent_tasks']} busy, "
                f"last heartbeat {seen}"
            )
