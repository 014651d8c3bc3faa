"""``commands.list`` and ``chat.metadata``: the slash commands, models and chat defaults."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from gateway.catalog.agents import models_list


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


_MODEL_ARG: CommandArg = {
    "name": "model",
    "description": "provider/model (or a configured model id), e.g. openai/gpt-4o-mini",
    "type": "string",
}
# The slash commands this gateway answers itself, in every channel and in chat.send
# (agents.services.chat_commands): (name, description, category, arguments). OpenClaw has
# ~70; any other /word goes to the model as text, as OpenClaw does with unknown ones.
_SLASH_COMMANDS: tuple[tuple[str, str, str, list[CommandArg]], ...] = (
    ("new", "Start a new session; /new <model> also sets its model.", "session", [_MODEL_ARG]),
    (
        "reset",
        "Reset the current session; /reset <model> also sets its model.",
        "session",
        [_MODEL_ARG],
    ),
    ("stop", "Stop the current run.", "session", []),
    ("status", "Show current status.", "status", []),
    (
        "model",
        "Show or set the session's model; /model default goes back to the agent's.",
        "options",
        [_MODEL_ARG],
    ),
    (
        "approve",
        "Approve a DM pairing code (bot owners only).",
        "management",
        [
            {
                "name": "code",
                "description": "the 8-character code the sender got, e.g. K7MX3PQA",
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


def chat_metadata() -> dict[str, Any]:
    """Return ``chat.metadata`` (and ``chat.startup``'s ``metadata``): the models a chat can
    pick and the slash commands, in OpenClaw's shape."""
    return {
        "models": models_list(),
        "commands": slash_commands(include_args=False),
        "runtimeSelectionLocked": False,
    }
