"""``manage.py channels status | check | webhook set|delete`` (OpenClaw's ``channels``).

- ``status [--json]``: every channel account, its state (polling, webhook, failed,
  disabled), its bot, its last update and last error. No secrets.
- ``check <kind> [--account ID]``: ask the platform whether the credential is accepted
  (Telegram ``getMe``); a rejected one marks the account failed with the reason.
- ``webhook set <kind> [--account ID]``: register the account's ``webhookUrl`` and
  ``webhookSecret`` with the platform and switch the account to webhook mode;
  ``webhook delete``: remove it and go back to long polling.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from agents.services.config import ConfigError
from channels_app.connectors.base import ConnectorError
from channels_app.connectors.registry import connector_for
from channels_app.models import ChannelAccount
from channels_app.services.accounts import account_config, channel_account_check
from gateway.catalog.channels import channels_status


def _account(kind: str, account_id: str) -> ChannelAccount:
    account = ChannelAccount.objects.filter(kind=kind, account_id=account_id).first()
    if account is None:
        known = (
            ", ".join(str(a) for a in ChannelAccount.objects.order_by("kind", "account_id"))
            or "none"
        )
        raise CommandError(
            f"no {kind} account {account_id!r}; configured accounts: {known}. Add one with "
            f"`manage.py config set channels.{kind}.botToken <token>`"
        )
    return account


class Command(BaseCommand):
    help = "Channel accounts: status, credential check, webhook registration."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        status = sub.add_parser("status", help="every channel account and its state")
        status.add_argument("--json", action="store_true")
        check = sub.add_parser("check", help="check an account's credential with the platform")
        check.add_argument("kind")
        check.add_argument("--account", default="default")
        webhook = sub.add_parser("webhook", help="register or remove an account's webhook")
        webhook.add_argument("op", choices=["set", "delete"])
        webhook.add_argument("kind")
        webhook.add_argument("--account", default="default")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "status":
            self._status(as_json=options["json"])
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
