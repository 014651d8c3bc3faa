"""``manage.py channels list|status|add|remove|check|webhook`` (OpenClaw's ``channels``).

- ``status [--json]`` (or ``list``): every channel account, its state (polling, webhook,
  failed, disabled), its bot, its last update and last error. No secrets.
- ``add <kind> --token T [--account ID]``: the same service as ``config set
  channels.<kind>.botToken`` (stored encrypted; polling starts); ``remove <kind>
  [--account ID]``: delete an account that has no messages (else disable it).
- ``check <kind> [--account ID]``: ask the platform whether the credential is accepted
  (Telegram ``getMe``); a rejected one marks the account failed with the reason.
- ``webhook set <kind> [--account ID]``: register the account's ``webhookUrl`` and
  ``webhookSecret`` with the platform and switch the account to webhook mode;
  ``webhook delete``: remove it and go back to long polling.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db import transaction
from django.db.models import ProtectedError

from agents.services.config import ConfigError
from channels_app.connectors.base import ConnectorError
from channels_app.connectors.registry import connector_for, connector_kinds
from channels_app.models import ChannelAccount
from channels_app.services.accounts import (
    ChannelConfigError,
    account_config,
    channel_account_check,
    channel_account_upsert,
)
from core.commands import OperatorCommand
from gateway.catalog.channels import channels_status

EXIT_BAD_INPUT = 2


def _account(kind: str, account_id: str) -> ChannelAccount:
    account = ChannelAccount.objects.filter(kind=kind, account_id=account_id).first()
    if account is None:
        known = (
            ", ".join(str(a) for a in ChannelAccount.objects.order_by("kind", "account_id"))
            or "none"
        )
        raise CommandError(
            f"no {kind} account {account_id!r}; configured accounts: {known}. Add one with "
            f"`manage.py channels add {kind} --token <token>`",
            returncode=EXIT_BAD_INPUT,
        )
    return account


class Command(OperatorCommand):
    help = "Channel accounts: status, credential check, webhook registration."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        for name in ("status", "list"):
            listing = sub.add_parser(name, help="every channel account and its state")
            listing.add_argument("--json", action="store_true")
        add = sub.add_parser("add", help="add (or update) an account with its bot token")
        add.add_argument("kind", choices=connector_kinds())
        add.add_argument("--token", required=True, help="the bot token (stored encrypted)")
        add.add_argument("--account", default="default")
        remove = sub.add_parser("remove", help="delete an account that has no messages")
        remove.add_argument("kind")
        remove.add_argument("--account", default="default")
        check = sub.add_parser("check", help="check an account's credential with the platform")
        check.add_argument("kind")
        check.add_argument("--account", default="default")
        webhook = sub.add_parser("webhook", help="register or remove an account's webhook")
        webhook.add_argument("op", choices=["set", "delete"])
        webhook.add_argument("kind")
        webhook.add_argument("--account", default="default")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action in ("status", "list"):
            self._status(as_json=options["json"])
        elif action == "add":
            self._add(options["kind"], options["account"], options["token"])
        elif action == "remove":
            self._remove(options["kind"], options["account"])
        elif action == "check":
            self._check(options["kind"], options["account"])
        else:
            self._webhook(options["op"], options["kind"], options["account"])

    def _status(self, *, as_json: bool) -> None:
        status = channels_status()
        if as_json:
            self.stdout.write(json.dumps(status, indent=2))
            return
        rows = [s for accounts in status["channelAccounts"].values() for s in accounts]
        if not rows:
            self.stdout.write(
                "No channel accounts. Add one with "
                "`manage.py config set channels.telegram.botToken <token>`."
            )
            return
        for kind, accounts in status["channelAccounts"].items():
            for s in accounts:
                bot = f" @{s['bot']['username']}" if s.get("bot") else ""
                error = f" — last error: {s['lastError']}" if s.get("lastError") else ""
                self.stdout.write(f"{kind}:{s['accountId']}{bot} {s['state']}{error}")

    def _add(self, kind: str, account_id: str, token: str) -> None:
        try:
            account = channel_account_upsert(
                kind=kind, account_id=account_id, changes={"botToken": token, "enabled": True}
            )
        except ChannelConfigError as exc:
            raise CommandError(exc.message, returncode=EXIT_BAD_INPUT) from None
        self.stdout.write(
            f"{account}: token stored (encrypted); the gateway polls it. Check it with "
            f"`manage.py channels check {kind} --account {account_id}`"
        )

    def _remove(self, kind: str, account_id: str) -> None:
        account = _account(kind, account_id)
        try:
            account.delete()
        except ProtectedError:
            raise CommandError(
                f"{account} has messages, which are kept: disable it instead "
                f"(`manage.py config set channels.{kind}.enabled false`)",
                returncode=EXIT_BAD_INPUT,
            ) from None
        self.stdout.write(f"{account}: removed")

    def _check(self, kind: str, account_id: str) -> None:
        account = _account(kind, account_id)
        try:
            identity = channel_account_check(account=account)
        except ConnectorError as exc:
            raise CommandError(f"{account}: {exc.message}") from None
        except ConfigError as exc:
            raise CommandError(exc.message) from None
        if identity is None:
            account.refresh_from_db()
            raise CommandError(f"{account}: {account.last_error or 'the check failed'}")
        self.stdout.write(f"{account}: accepted as @{identity.username} (id {identity.id})")

    def _webhook(self, op: str, kind: str, account_id: str) -> None:
        account = _account(kind, account_id)
        config = account_config(account)
        try:
            connector = connector_for(kind)
            if op == "delete":
                connector.delete_webhook(config)
                mode = ChannelAccount.Mode.POLLING
            else:
                secret = str(config.credentials.get("webhookSecret") or "")
                if not account.webhook_url or not secret:
                    raise CommandError(
                        f"{account}: set channels.{kind}.webhookUrl and "
                        f"channels.{kind}.webhookSecret first (the secret: 16+ random "
                        "characters, e.g. `openssl rand -hex 24`)"
                    )
                connector.set_webhook(config, url=account.webhook_url, secret=secret)
                mode = ChannelAccount.Mode.WEBHOOK
        except ConnectorError as exc:
            raise CommandError(f"{account}: {exc.message}") from None
        with transaction.atomic():
            account.mode = mode
            account.save(update_fields=["mode", "updated_at"])
        if op == "delete":
            self.stdout.write(f"{account}: webhook removed; long polling resumes")
        else:
            self.stdout.write(f"{account}: webhook set to {account.webhook_url}")
