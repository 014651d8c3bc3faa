"""A realistic ``~/.openclaw`` state dir for the import and export tests.

Built from what openclaw-protocol.md documents (§4.3 sessions, §6.3 pairing stores, §7
config, §9 cron): a JSON5 ``openclaw.json`` with comments, a ``$include`` and ``${VAR}``
references; two agents with bindings; a Telegram channel with a second account; hooks,
``gateway.http`` switches and sections this gateway does not keep; a cron store; the
approved-pairing stores; one agent's session store with a JSONL transcript (a tree with
an abandoned branch, a tool call and a compaction).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MAIN_TOKEN = "7012345678:AAHmainTokenForTheImportTests_0123456"
WORK_TOKEN = "7098765432:AAHworkTokenForTheImportTests_6543210"
HOOKS_TOKEN = "9f2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c0b2d4f6e8a1c3e5b"
ENV = {"TELEGRAM_BOT_TOKEN": MAIN_TOKEN, "HOOKS_TOKEN": HOOKS_TOKEN}
SESSION_ID = "0b6c3f2e-8d41-4b7a-9e55-3c1d2a4b5c6d"
JOB_ID = "5f0e7a2c-1b3d-4c5e-8f9a-0b1c2d3e4f5a"
SESSION_KEY = "agent:main:telegram:direct:123456789"

CONFIG = """// OpenClaw config, as a user keeps it
{
  $schema: "https://openclaw.ai/schema/openclaw.json",
  meta: { lastTouchedVersion: "2026.2.27" },
  env: { vars: { WORK_OWNER: "222333444" } },
  agents: {
    defaults: {
      model: { primary: "anthropic/claude-sonnet-4-6" },
      workspace: "WORKSPACE",
      heartbeat: { every: "30m" },
    },
    list: [
      { id: "main", default: true, name: "Clawd", identity: { emoji: "🦞" } },
      {
        id: "work",
        name: "Work",
        model: { primary: "openai/gpt-4o-mini", fallbacks: ["anthropic/claude-haiku-4-5"] },
        tools: { profile: "coding", deny: ["exec"] },
        sandbox: { mode: "all", workspaceAccess: "ro" },
      },
    ],
  },
  bindings: [
    { agentId: "work", match: { channel: "telegram", accountId: "work" } },
    { agentId: "main", comment: "me", match: { channel: "telegram", peer: { kind: "direct", id: "123456789" } } },
  ],
  channels: { $include: "./channels.json5" },
  session: {
    dmScope: "per-channel-peer",
    identityLinks: { alice: ["telegram:123456789"] },
    reset: { mode: "daily", atHour: 5 },
  },
  hooks: { enabled: true, token: "${HOOKS_TOKEN}", path: "/hooks" },
  gateway: {
    mode: "local",
    port: 18789,
    bind: "loopback",
    auth: { mode: "token" },
    trustedProxies: ["10.0.0.1"],
    http: { endpoints: { chatCompletions: { enabled: false }, responses: { enabled: true } } },
  },
  messages: { queue: { mode: "collect" } },
  cron: { enabled: true },
}
"""

CHANNELS = """{
  telegram: {
    botToken: "${TELEGRAM_BOT_TOKEN}",
    dmPolicy: "pairing",
    groupPolicy: "allowlist",
    groups: { "-1001234567890": { requireMention: false } },
    streaming: "partial",
    accounts: {
      work: {
        name: "Work bot",
        botToken: "WORK_TOKEN",
        dmPolicy: "allowlist",
        allowFrom: ["${WORK_OWNER}", "tg:555666777"],
      },
    },
  },
}
"""


def _jsonl(path: Path, lines: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")


def transcript_lines() -> list[dict[str, Any]]:
    at = "2026-11-02T10:00:0{}.000Z"
    return [
        {"type": "session", "id": SESSION_ID, "cwd": "/home/me", "timestamp": at.format(0)},
        {
            "type": "message",
            "id": "e1",
            "parentId": None,
            "timestamp": at.format(1),
            "message": {"role": "user", "content": "hello"},
        },
        {  # an abandoned branch: the user edited their first answer
            "type": "message",
            "id": "e2",
            "parentId": "e1",
            "timestamp": at.format(2),
            "message": {"role": "assistant", "content": [{"type": "text", "text": "old"}]},
        },
        {
            "type": "message",
            "id": "e3",
            "parentId": "e1",
            "timestamp": at.format(3),
            "message": {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Let me check."},
                    {"type": "toolCall", "id": "call_1", "name": "web_fetch", "arguments": {}},
                ],
                "provider": "anthropic",
                "model": "claude-sonnet-4-6",
                "usage": {"input": 12, "output": 7, "totalTokens": 19},
                "stopReason": "toolUse",
            },
        },
        {
            "type": "message",
            "id": "e4",
            "parentId": "e3",
            "timestamp": at.format(4),
            "message": {
                "role": "toolResult",
                "toolCallId": "call_1",
                "toolName": "web_fetch",
                "content": [{"type": "text", "text": "200 OK"}],
                "isError": False,
            },
        },
        {"type": "model_change", "id": "e5", "parentId": "e4", "timestamp": at.format(5)},
        {
            "type": "compaction",
            "id": "e6",
            "parentId": "e5",
            "timestamp": at.format(6),
            "summary": "The user said hello; the page was fetched.",
            "firstKeptEntryId": "e4",
            "tokensBefore": 1234,
        },
        {
            "type": "message",
            "id": "e7",
            "parentId": "e6",
            "timestamp": at.format(7),
            "message": {
                "role": "assistant",
                "content": [{"type": "text", "text": "Hi!"}],
                "provider": "anthropic",
                "model": "claude-sonnet-4-6",
                "stopReason": "stop",
            },
        },
    ]


def build(root: Path) -> Path:
    """Write the state dir under ``root``; return it."""
    state = root / ".openclaw"
    (state / "workspace").mkdir(parents=True)
    (state / "workspace" / "SOUL.md").write_text("I am Clawd.\n", encoding="utf-8")
    (state / "workspace-work").mkdir()
    config = CONFIG.replace("WORKSPACE", str(state / "workspace"))
    (state / "openclaw.json").write_text(config, encoding="utf-8")
    (state / "channels.json5").write_text(CHANNELS.replace("WORK_TOKEN", WORK_TOKEN), "utf-8")
    (state / "cron").mkdir()
    jobs = {
        "version": 1,
        "jobs": [
            {
                "id": JOB_ID,
                "name": "Morning brief",
                "enabled": True,
                "agentId": "main",
                "createdAtMs": 1_761_990_000_000,
                "updatedAtMs": 1_761_990_000_000,
                "schedule": {"kind": "cron", "expr": "0 7 * * *", "tz": "Europe/Berlin"},
                "sessionTarget": "isolated",
                "wakeMode": "now",
                "payload": {"kind": "agentTurn", "message": "Summarise my day"},
                "delivery": {"mode": "announce", "channel": "telegram", "to": "123456789"},
                "state": {"nextRunAtMs": 1_762_066_800_000, "consecutiveErrors": 0},
            },
            {
                "id": "water-plants",
                "name": "Water the plants",
                "schedule": {"kind": "every", "everyMs": 86_400_000},
                "sessionTarget": "main",
                "wakeMode": "next-heartbeat",
                "payload": {"kind": "systemEvent", "text": "Water the plants"},
                "state": {},
            },
        ],
    }
    (state / "cron" / "jobs.json").write_text(json.dumps(jobs), encoding="utf-8")
    credentials = state / "credentials"
    credentials.mkdir()
    for name, senders in (
        ("telegram-allowFrom.json", ["123456789", "987654321"]),
        ("telegram-work-allowFrom.json", ["222333444"]),
        ("whatsapp-allowFrom.json", ["+15551234567"]),
    ):
        (credentials / name).write_text(json.dumps({"version": 1, "allowFrom": senders}), "utf-8")
    (credentials / "telegram-pairing.json").write_text('{"version": 1, "requests": []}', "utf-8")
    sessions = state / "agents" / "main" / "sessions"
    sessions.mkdir(parents=True)
    store = {
        SESSION_KEY: {
            "sessionId": SESSION_ID,
            "updatedAt": 1_762_077_607_000,
            "chatType": "direct",
            "channel": "telegram",
            "lastAccountId": "default",
            "label": "Me",
            "thinkingLevel": "low",
            "queueMode": "steer-backlog",
            "inputTokens": 12,
            "outputTokens": 7,
            "totalTokens": 19,
        }
    }
    (sessions / "sessions.json").write_text(json.dumps(store), encoding="utf-8")
    _jsonl(sessions / f"{SESSION_ID}.jsonl", transcript_lines())
    _jsonl(sessions / f"{SESSION_ID}.jsonl.reset.2026-10-01", transcript_lines()[:2])
    return state
