"""``commands.list`` and the empty ``chat.startup``: the slash commands and chat defaults."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from agents.selectors import default_agent_slug
from gateway.catalog.agents import models_list
from gateway.catalog.wire import thinking
from sessions_app.lib.keys import canonicalize, is_main_key, parse_agent_id


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
            **thinking(),
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
