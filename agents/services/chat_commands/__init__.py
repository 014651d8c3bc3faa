"""In-chat commands (``/new``, ``/reset``, ``/status``, ``/model``, ``/stop``, ``/approve``).

``chat_command_handle`` is called before a message reaches the model, by the channel
pipeline and by ``chat.send``; see ``handle.py``.
"""

from __future__ import annotations

from agents.services.chat_commands.handle import NOT_OWNER_TEXT, CommandReply, chat_command_handle
from agents.services.chat_commands.parse import STOP_WORDS, ParsedCommand, command_parse

__all__ = [
    "NOT_OWNER_TEXT",
    "STOP_WORDS",
    "CommandReply",
    "ParsedCommand",
    "chat_command_handle",
    "command_parse",
]
