"""``manage.py gateway_token create|list|rotate|revoke [--json]``: operator tokens.

A new token is shown once. Bad input (an unknown id, a weak token) exits 2 with what to do.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError, CommandParser

from core.commands import OperatorCommand, json_after_subcommand
from gateway import scopes as gw_scopes
from gateway.models import GatewayToken
from gateway.services import (
    IssuedToken,
    TokenError,
    gateway_token_create,
    gateway_token_revoke,
    gateway_token_rotate,
)

EXIT_BAD_INPUT = 2


def _row(token: GatewayToken) -> dict[str, Any]:
    return {
        "id": token.pk,
        "prefix": token.prefix,
        "name": token.name,
        "state": "revoked" if token.revoked_at else "active",
        "source": token.source,
        "strength": {True: "strong", False: "weak", None: "unknown"}[token.strong],
        "scopes": list(token.scopes),
        "lastUsedAt": token.last_used_at.isoformat() if token.last_used_at else None,
    }


class Command(OperatorCommand):
    help = "Create, list, rotate or revoke gateway operator tokens. A new token is shown once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
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
        rotate = sub.add_parser(
            "rotate", help="replace a token by a new one (same name and scopes), shown once"
        )
        rotate.add_argument("token_id", type=int)
        revoke = sub.add_parser("revoke", help="revoke a token by its id (see list)")
        revoke.add_argument("token_id", type=int)
        json_after_subcommand(sub)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            if action == "create":
                self._issued(
                    gateway_token_create(name=options["name"], scopes=options["scopes"]),
                    options,
                )
            elif action == "rotate":
                old = options["token_id"]
                issued = gateway_token_rotate(token_pk=old)
                self._issued(issued, options, replaced=old)
            elif action == "list":
                self._list(options)
            elif action == "revoke":
                if not gateway_token_revoke(token_pk=options["token_id"]):
                    raise TokenError(
                        f"no active token with id {options['token_id']}; see `gateway_token list`"
                    )
                self._say(
                    options,
                    {"revoked": options["token_id"]},
                    f"Token {options['token_id']} revoked",
                )
        except TokenError as exc:
            raise CommandError(str(exc), returncode=EXIT_BAD_INPUT) from None

    def _say(self, options: dict[str, Any], data: dict[str, Any], text: str) -> None:
        self.stdout.write(json.dumps(data) if options["json"] else text)

    def _issued(
        self, issued: IssuedToken, options: dict[str, Any], *, replaced: int | None = None
    ) -> None:
        record = issued.record
        text = f"Token {record.pk} ({', '.join(record.scopes)}), shown once:\n{issued.token}"
        if replaced is not None:
            text = f"Token {replaced} revoked; its replacement, " + text[0].lower() + text[1:]
        data = {**_row(record), "token": issued.token}
        if replaced is not None:
            data["replaced"] = replaced
        self._say(options, data, text)

    def _list(self, options: dict[str, Any]) -> None:
        tokens = list(GatewayToken.objects.order_by("pk"))
        if options["json"]:
            self.stdout.write(json.dumps({"tokens": [_row(t) for t in tokens]}))
            return
        for token in tokens:
            row = _row(token)
            source = (
                "environment (OPENCLAW_GATEWAY_TOKEN)"
                if token.source == GatewayToken.Source.ENVIRONMENT
                else token.source
            )
            strength = {"unknown": "strength unknown"}.get(row["strength"], row["strength"])
            self.stdout.write(
                f"{token.pk}\t{token.prefix}…\t{token.name}\t{row['state']}\t{source}\t"
                f"{strength}\t{','.join(token.scopes)}\tlast used {row['lastUsedAt'] or 'never'}"
            )
