"""``manage.py pairing list|approve|reject``: DM pairing from the shell, in OpenClaw's shape.

- ``pairing list <channel> [--account id] [--json]``: the open requests, oldest first;
- ``pairing approve <channel> <CODE> [--account id]``: allowlist the sender and queue
  OpenClaw's approval notice to their chat (``--notify`` is accepted: the notice is
  always sent);
- ``pairing reject <channel> <CODE> [--account id]``.

The channel may also be given as ``--channel`` (then ``approve``/``reject`` take only the
code), as OpenClaw's CLI allows. Bad arguments, a wrong or expired code and a database
without tables each end in one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db import DatabaseError
from django.utils import timezone

from core.commands import OperatorCommand
from pairing.models import PairingRequest
from pairing.services import (
    PairingError,
    pairing_request_approve_code,
    pairing_request_entry,
    pairing_request_reject_code,
    pairing_requests_pending,
)
from pairing.services.common import display_name_of

EXIT_USAGE = 2
# Wrong codes typed at this shell are counted under one name (see pairing.services.by_code).
APPROVER = "manage.py pairing"


def _fail(message: str) -> CommandError:
    return CommandError(message, returncode=EXIT_USAGE)


def _minutes(seconds: float) -> str:
    minutes = max(0, round(seconds / 60))
    return "under a minute" if minutes == 0 else f"{minutes} min"


def _describe(request: PairingRequest) -> str:
    now = timezone.now()
    meta = request.sender_meta or {}
    name = display_name_of(meta)
    username = meta.get("username")
    who = " ".join(
        part for part in (name, f"(@{username})" if username and username != name else "") if part
    )
    return "  ".join(
        part
        for part in (
            request.code,
            request.sender_ref,
            who,
            f"account {request.channel_account.account_id}",
            f"requested {_minutes((now - request.created_at).total_seconds())} ago, "
            f"expires in {_minutes((request.expires_at - now).total_seconds())}",
        )
        if part
    )


class Command(OperatorCommand):
    help = "List, approve or reject DM pairing requests (OpenClaw's `openclaw pairing`)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="list the open pairing requests of a channel")
        listing.add_argument("channel", nargs="?", help="channel, e.g. telegram")
        listing.add_argument("--json", action="store_true", help="print JSON")
        commands = [listing]
        for verb in ("approve", "reject"):
            decide = sub.add_parser(verb, help=f"{verb} a pairing request by its code")
            decide.add_argument("values", nargs="+", metavar="[channel] code")
            if verb == "approve":
                decide.add_argument(
                    "--notify", action="store_true", help="accepted: the sender is always told"
                )
            commands.append(decide)
        for command in commands:
            command.add_argument("--channel", dest="channel_option", help="channel, e.g. telegram")
            command.add_argument("--account", help="channel account id (default: any)")

    def handle(self, *args: Any, **options: Any) -> None:
        action: str = options["action"]
        try:
            if action == "list":
                self._list(self._channel(options.get("channel"), options), options)
                return
            channel, code = self._decision_args(options)
            self._decide(action, channel, code, options.get("account"))
        except PairingError as exc:
            raise _fail(str(exc)) from None
        except DatabaseError as exc:
            if "no such table" in str(exc) or "does not exist" in str(exc):
                raise _fail(
                    "the database has no tables yet: run `manage.py migrate` "
                    "(or start the gateway once, which does it)"
                ) from None
            raise _fail(f"database error: {exc}") from None

    # --- arguments --------------------------------------------------------------------
    def _channel(self, positional: str | None, options: dict[str, Any]) -> str:
        option: str | None = options.get("channel_option")
        if positional and option and positional.strip().lower() != option.strip().lower():
            raise _fail(f"two channels given ({positional} and --channel {option}); give one")
        channel = positional or option
        if not channel or not channel.strip():
            raise _fail("name the channel, e.g. manage.py pairing list telegram")
        return channel

    def _decision_args(self, options: dict[str, Any]) -> tuple[str, str]:
        values: list[str] = options["values"]
        action = options["action"]
        if len(values) > 2:
            raise _fail(
                f"too many arguments ({' '.join(values)}); "
                f"use manage.py pairing {action} <channel> <CODE>"
            )
        if len(values) == 2:
            return self._channel(values[0], options), values[1]
        if not options.get("channel_option"):
            raise _fail(
                f"name the channel and the code, e.g. manage.py pairing {action} telegram K7MX3PQA"
            )
        return self._channel(None, options), values[0]

    # --- actions ----------------------------------------------------------------------
    def _list(self, channel: str, options: dict[str, Any]) -> None:
        requests = pairing_requests_pending(channel=channel, account_id=options.get("account"))
        kind = channel.strip().lower()
        if options["json"]:
            entries = [pairing_request_entry(request) for request in requests]
            self.stdout.write(
                json.dumps({"channel": kind, "requests": entries}, indent=2, ensure_ascii=False)
            )
            return
        if not requests:
            self.stdout.write(f"No pending {kind} pairing requests.")
            return
        self.stdout.write(f"Pending {kind} pairing requests ({len(requests)}):")
        for request in requests:
            self.stdout.write(f"  {_describe(request)}")
        self.stdout.write(f"Approve one with: manage.py pairing approve {kind} <CODE>")

    def _decide(self, action: str, channel: str, code: str, account: str | None) -> None:
        if action == "reject":
            rejected = pairing_request_reject_code(
                channel=channel, code=code, account_id=account, approver=APPROVER
            )
            self.stdout.write(f"Rejected {rejected.code} (sender {rejected.sender_ref}).")
            return
        approval = pairing_request_approve_code(
            channel=channel, code=code, account_id=account, approver=APPROVER
        )
        request = approval.request
        self.stdout.write(
            f"Approved {request.code}: sender {request.sender_ref} may now talk to the agent "
            f"on {request.channel_account}."
        )
        if approval.notified:
            self.stdout.write("The sender is told (the notice is in the outbox).")
        else:
            self.stdout.write(
                f"The sender was not told ({approval.notice_error}); they can write again now."
            )
