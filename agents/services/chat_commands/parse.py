"""Which chat messages are commands (no Django: tested without a database).

A command is a message whose first word is ``/name`` (any case), optionally addressed
``/name@bot`` as Telegram writes commands in groups, with the rest of the message as its
argument; or one of OpenClaw's stop words alone (``stop``, ``esc``, ``abort`` …, trailing
punctuation ignored: src/auto-reply/reply/abort.ts), which is ``/stop``. Any other
``/word`` is not ours: it goes to the model as text, as OpenClaw does with commands it
does not know.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COMMANDS = frozenset({"new", "reset", "status", "model", "stop", "approve"})
# OpenClaw's abort triggers (src/auto-reply/reply/abort.ts), the English subset.
STOP_WORDS = frozenset(
    {"/stop", "stop", "esc", "abort", "wait", "exit", "interrupt", "halt", "please stop"}
)
_TRAILING = ".!?\u3002\uff01\uff1f "
_COMMAND_RE = re.compile(r"^/(?P<name>[A-Za-z][A-Za-z0-9_-]*)(?:@(?P<bot>[A-Za-z0-9_]+))?$")


@dataclass(frozen=True)
class ParsedCommand:
    name: str  # lower case, without the slash, e.g. "model"
    args: str  # the rest of the message, stripped ("" for none)


def is_stop_word(text: str) -> bool:
    return text.strip().lower().rstrip(_TRAILING) in STOP_WORDS


def command_parse(text: str, *, bot_username: str = "") -> ParsedCommand | None:
    """The command ``text`` is, or None when it is a message for the model.

    ``bot_username`` (without ``@``), when known, makes ``/cmd@otherbot`` someone
    else's command (None); without it any ``@bot`` suffix is accepted.
    """
    stripped = text.strip()
    if not stripped:
        return None
    if is_stop_word(stripped):
        return ParsedCommand("stop", "")
    if not stripped.startswith("/"):
        return None
    head, *rest = stripped.split(maxsplit=1)
    match = _COMMAND_RE.match(head)
    name = match["name"].lower() if match else ""
    bot = (match["bot"] or "") if match else ""
    addressed_elsewhere = bool(bot and bot_username) and (
        bot.lower() != bot_username.lstrip("@").lower()
    )
    if name not in COMMANDS or addressed_elsewhere:
        return None
    return ParsedCommand(name, rest[0].strip() if rest else "")
