"""``manage.py gateway_token create|list|revoke``: operator tokens."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gateway import scopes as gw_scopes
from gateway.models import GatewayToken
from gateway.services import TokenError, gateway_token_create, gateway_token_revoke


class Command(BaseCommand):
    help = "Create, list or revoke gateway operator tokens. A new token is shown once."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a token and print it once")
        create.add_argument("--name", default="operator")
        create.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            choices=gw_scopes.ALL_SCOPES,
            help="repeatable; default operator.admin",
        )
        sub.add_parser(
            "list",
            help="list tokens (never their values): id, prefix, name, state, source "
            "(environment = OPENCLAW_GATEWAY_TOKEN), strength, scopes, last use",
        )
        revoke = sub.add_parser("revoke", help="revoke a token by its id (see list)")
        revoke.add_argument("token_id", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "create":
            try:
                issued = gateway_token_create(name=options["name"], scopes=options["scopes"])
            except TokenError as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(
                f"Token {issued.record.pk} ({', '.join(issued.record.scopes)}), shown once:\n"
                f"{issued.token}"
            )
        elif action == "list":
            for token in GatewayToken.objects.order_by("pk"):
                state = "revoked" if token.revoked_at else "active"
                used = token.last_used_at.isoformat() if token.last_used_at else "never"
                source = (
                    "environment (OPENCLAW_GATEWAY_TOKEN)"
                    if token.source == GatewayToken.Source.ENVIRONMENT
                    else token.source
                )
                strength = {True: "strong", False: "weak", None: "strength unknown"}[token.strong]
                self.stdout.write(
                    f"{token.pk}\t{token.prefix}…\t{token.name}\t{state}\t{source}\t"
                    f"{strength}\t{','.join(token.scopes)}\tlast used {used}"
                )
        elif action == "revoke":
            if not gateway_token_revoke(token_pk=options["token_id"]):
                raise CommandError(
                    f"no active token with id {options['token_id']}; see `gateway_token list`"
                )
            self.stdout.write(f"Token {options['token_id']} revoked")
