"""``manage.py sessions list|show|reset [--json]``: OpenClaw's ``openclaw sessions``.

``list`` shows the sessions, most recently active first; ``show KEY`` one session and the
last messages of its current conversation; ``reset KEY`` starts it over (a new session
id; the old transcript is kept). An unknown key exits 2 with what to run.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django.core.management.base import CommandError, CommandParser

from agents.selectors import default_agent_slug
from core.commands import OperatorCommand, json_after_subcommand
from sessions_app.lib import keys
from sessions_app.selectors import chat_history, session_describe, sessions_list
from sessions_app.services import session_reset
from sessions_app.wire import message_text

EXIT_BAD_INPUT = 2


def _when(ms: int | None) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


class Command(OperatorCommand):
    help = "List, show or reset conversation sessions (OpenClaw's `openclaw sessions`)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="sessions, most recently active first")
        listing.add_argument("--agent", help="only this agent's sessions")
        listing.add_argument("--limit", type=int, default=50, help="at most this many (1-500)")
        listing.add_argument("--search", help="in keys, labels and names")
        show = sub.add_parser("show", help="one session and its last messages")
        show.add_argument("key")
        show.add_argument("--messages", type=int, default=10, help="how many (1-1000)")
        reset = sub.add_parser("reset", help="start a session over (its transcript is kept)")
        reset.add_argument("key")
        json_after_subcommand(sub)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "list":
            self._list(options)
        elif action == "show":
            self._show(options)
        else:
            self._reset(options)

    def _key(self, raw: str) -> str:
        try:
            key = keys.canonicalize(raw.strip(), default_agent=default_agent_slug)
        except keys.SessionKeyError as exc:
            raise CommandError(str(exc), returncode=EXIT_BAD_INPUT) from None
        if session_describe(key=key) is None:
            raise CommandError(
                f"no session {key!r}; `manage.py sessions list` shows them",
                returncode=EXIT_BAD_INPUT,
            )
        return key

    def _list(self, options: dict[str, Any]) -> None:
        if not 1 <= options["limit"] <= 500:
            raise CommandError("--limit takes 1 to 500", returncode=EXIT_BAD_INPUT)
        page = sessions_list(
            agent_id=options["agent"], limit=options["limit"], search=options["search"]
        )
        if options["json"]:
            self.stdout.write(json.dumps({"sessions": page.rows, "count": page.total_count}))
            return
        if not page.rows:
            self.stdout.write("No sessions.")
            return
        for row in page.rows:
            self.stdout.write(
                f"{row['key']}\t{row.get('displayName') or '-'}\t{row['totalTokens']} tokens\t"
                f"last active {_when(row.get('updatedAt'))}"
            )
        if page.total_count > len(page.rows):
            self.stdout.write(f"({len(page.rows)} of {page.total_count}; use --limit)")

    def _show(self, options: dict[str, Any]) -> None:
        if not 1 <= options["messages"] <= 1000:
            raise CommandError("--messages takes 1 to 1000", returncode=EXIT_BAD_INPUT)
        key = self._key(options["key"])
        row = session_describe(key=key)
        history = chat_history(key=key, limit=options["messages"])
        if options["json"]:
            self.stdout.write(json.dumps({"session": row, "messages": history.messages}))
            return
        assert row is not None
        self.stdout.write(
            f"{row['key']} (session {row['sessionId']}): {row['totalTokens']} tokens, "
            f"last active {_when(row.get('updatedAt'))}"
        )
        for message in history.messages:
            content = message.get("content")
            text = content if isinstance(content, str) else message_text(content or [])
            self.stdout.write(f"  {message['role']}: {' '.join(str(text).split())[:200]}")

    def _reset(self, options: dict[str, Any]) -> None:
        key = self._key(options["key"])
        session = session_reset(key=key, reason="reset")
        data = {"key": key, "sessionId": str(session.session_id)}
        self.stdout.write(
            json.dumps(data)
            if options["json"]
            else f"Session {key} starts over (new session id {session.session_id})"
        )
