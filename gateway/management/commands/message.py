"""``manage.py message send --channel K --to CHAT --message TEXT`` (OpenClaw's ``message``).

The message goes into the channel account's durable outbox, as an agent's reply does:
the running gateway sends it (within a few seconds: its channel sweep picks up work
another process stored), retrying transient errors. Prints the outbox id.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.core.management.base import CommandError, CommandParser

from channels_app.services.outbound import OutboundError, outbound_enqueue
from core.commands import OperatorCommand

EXIT_BAD_INPUT = 2


class Command(OperatorCommand):
    help = "Send a message to a chat through a channel account's outbox."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
        sub = parser.add_subparsers(dest="action", required=True)
        send = sub.add_parser("send", help="queue a message for a chat")
        send.add_argument("--channel", required=True, help="the channel kind, e.g. telegram")
        send.add_argument("--to", required=True, help="the chat id (a user or group)")
        send.add_argument("--message", required=True, help="the text (Markdown)")
        send.add_argument("--account", default="default", help="the channel account id")
        send.add_argument("--thread", default="", help="a forum topic / thread id")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["to"].strip():
            raise CommandError("--to needs a chat id", returncode=EXIT_BAD_INPUT)
        try:
            enqueued = outbound_enqueue(
                kind=options["channel"].strip().lower(),
                account_id=options["account"].strip().lower(),
                chat_id=options["to"].strip(),
                thread_id=options["thread"].strip(),
                text=options["message"],
                dedupe_key=f"cli:{uuid.uuid4().hex}",
            )
        except OutboundError as exc:
            raise CommandError(str(exc), returncode=EXIT_BAD_INPUT) from None
        row = enqueued.message
        if options["json"]:
            self.stdout.write(json.dumps({"outboundId": row.pk, "status": row.status}))
        else:
            self.stdout.write(
                f"Queued as outbound {row.pk}; the running gateway sends it "
                "(`manage.py channels status` shows errors)"
            )
