"""Operator scopes (OpenClaw src/gateway/method-scopes.ts)."""

from __future__ import annotations

ADMIN = "operator.admin"
READ = "operator.read"
WRITE = "operator.write"
APPROVALS = "operator.approvals"
PAIRING = "operator.pairing"

# OpenClaw 2026.9 also knows these; admin implies them, nothing here requires them yet.
QUESTIONS = "operator.questions"
TALK_SECRETS = "operator.talk.secrets"

ALL_SCOPES = (ADMIN, READ, WRITE, APPROVALS, PAIRING, QUESTIONS, TALK_SECRETS)


def invalid_scopes(scopes: list[str]) -> list[str]:
    return [scope for scope in scopes if scope not in ALL_SCOPES]


# Per-method scopes (OpenClaw src/gateway/method-scopes.ts). A method not listed here and
# not registered with its own scope needs admin (default deny).
READ_METHODS = frozenset(
    {
        "health", "doctor.memory.status", "logs.tail", "channels.status", "status",
        "usage.status", "usage.cost", "tts.status", "tts.providers", "models.list",
        "tools.catalog", "agents.list", "agent.identity.get", "skills.status",
        "voicewake.get", "sessions.list", "sessions.preview", "sessions.resolve",
        "sessions.describe", "sessions.subscribe", "sessions.unsubscribe",
        "sessions.messages.subscribe", "sessions.messages.unsubscribe",
        "sessions.usage", "sessions.usage.timeseries", "sessions.usage.logs", "cron.list", "cron.status", "cron.runs", "system-presence",
        "last-heartbeat", "node.list", "node.describe", "chat.history", "config.get",
        "talk.config", "agents.files.list", "agents.files.get", "commands.list",
        "config.schema.lookup", "environments.list", "diagnostics.stability", "themes.list",
    }
)  # fmt: skip
WRITE_METHODS = frozenset(
    {
        "send", "poll", "agent", "agent.wait", "wake", "talk.mode", "tts.enable",
        "tts.disable", "tts.convert", "tts.setProvider", "voicewake.set", "node.invoke",
        "chat.send", "chat.abort", "browser.request", "push.test", "sessions.create",
    }
)  # fmt: skip
APPROVAL_METHODS = frozenset(
    {
        "exec.approval.request", "exec.approval.waitDecision", "exec.approval.resolve",
        "exec.approval.grants.list",
    }
)  # fmt: skip
PAIRING_METHODS = frozenset(
    {
        "node.pair.request", "node.pair.list", "node.pair.approve", "node.pair.reject",
        "node.pair.verify", "device.pair.list", "device.pair.approve", "device.pair.reject",
        "device.pair.remove", "device.token.rotate", "device.token.revoke", "node.rename",
    }
)  # fmt: skip
NODE_ONLY_METHODS = frozenset(
    {"node.invoke.result", "node.event", "node.canvas.capability.refresh", "skills.bins"}
)


def required_scope(method: str) -> str:
    """Return the scope a method needs (admin for anything unclassified)."""
    if method in READ_METHODS:
        return READ
    if method in WRITE_METHODS:
        return WRITE
    if method in APPROVAL_METHODS:
        return APPROVALS
    if method in PAIRING_METHODS:
        return PAIRING
    return ADMIN


def satisfies(granted: frozenset[str] | set[str], required: str) -> bool:
    """Admin satisfies everything; write satisfies read."""
    if ADMIN in granted or required in granted:
        return True
    return required == READ and WRITE in granted


def grant(requested: list[str] | None, allowed: frozenset[str] | set[str]) -> frozenset[str]:
    """Scopes a client gets: what it asked for, within what its credential allows.

    A credential with admin allows every scope. Unknown scopes are dropped.
    """
    wanted = {scope for scope in (requested or []) if scope in ALL_SCOPES}
    if ADMIN in allowed:
        return frozenset(wanted)
    return frozenset(scope for scope in wanted if satisfies(frozenset(allowed), scope))
