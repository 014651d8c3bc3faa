"""Channel settings from the environment: ``TELEGRAM_BOT_TOKEN``, as in OpenClaw."""

from __future__ import annotations

from collections.abc import Mapping

from django.db import transaction

from channels_app.connectors.registry import connector_kinds
from channels_app.lib.account_keys import TOKEN_SOURCE, stored_secrets
from channels_app.models import ChannelAccount
from channels_app.services.accounts import (
    DEFAULT_ACCOUNT,
    ChannelConfigError,
    channel_account_draft,
    channel_account_draft_save,
    where_of,
)

# The environment variable that gives a kind's default account its bot token (OpenClaw's).
ENV_TOKENS = {"telegram": "TELEGRAM_BOT_TOKEN"}
ENV_SOURCE = "env"


@transaction.atomic
def channel_env_tokens_sync(*, environ: Mapping[str, str]) -> list[str]:
    """Give each default account its bot token from the environment, as OpenClaw does
    (``TELEGRAM_BOT_TOKEN``); return the lines to show at start-up (never a token).

    A token set in the config wins and is kept (a line says so); a token that came from
    the environment follows it: replaced when the variable changes, removed when it is
    no longer set.
    """
    lines: list[str] = []
    for kind, name in ENV_TOKENS.items():
        where = where_of(kind, DEFAULT_ACCOUNT)
        value = environ.get(name, "").strip()
        account = ChannelAccount.objects.filter(kind=kind, account_id=DEFAULT_ACCOUNT).first()
        credentials: object = account.credentials if account is not None else {}
        stored = stored_secrets(credentials).get("botToken")
        from_env = isinstance(credentials, Mapping) and credentials.get(TOKEN_SOURCE) == ENV_SOURCE
        # Checked only now: a gateway without the variable never loads a platform SDK.
        if not (value or from_env) or kind not in connector_kinds():
            continue
        if not value:
            if stored and from_env:
                draft = channel_account_draft(
                    kind=kind, account_id=DEFAULT_ACCOUNT, changes={"botToken": None}, lock=True
                )
                channel_account_draft_save(draft=draft)
                lines.append(f"{where}: {name} is no longer set; its bot token was removed")
            continue
        if stored and not from_env:
            if stored != value:
                lines.append(
                    f"{where}: {name} is ignored: {where}.botToken is set in the config and "
                    f"wins (`manage.py config unset {where}.botToken` to use {name})"
                )
            continue
        if stored != value:
            try:
                draft = channel_account_draft(
                    kind=kind, account_id=DEFAULT_ACCOUNT, changes={"botToken": value}, lock=True
                )
            except ChannelConfigError as exc:
                lines.append(f"{where}: {name} is not used: {exc.message}")
                continue
            assert draft.credentials is not None  # a new token was merged in
            draft.credentials[TOKEN_SOURCE] = ENV_SOURCE
            channel_account_draft_save(draft=draft)
        lines.append(f"{where}: bot token from {name}")
    return lines
