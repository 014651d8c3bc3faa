"""Channel accounts: their configuration by OpenClaw key, the credential check, and the
``AccountConfig`` every connector call is given.

``channel_account_upsert`` is the one writer of an account's configuration (the config
paths, ``config.patch``, the admin and ``TELEGRAM_BOT_TOKEN`` all go through it): it
validates every key (``channels_app.lib.account_keys``), merges secrets into the
encrypted ``credentials``, and saves only the columns it changed, so the poller's
cursor and lease written meanwhile are kept. The save's signal starts the account's
poller once the change commits: no restart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from agents.services.config import ConfigError
from channels_app.connectors.base import AccountConfig, BotIdentity, ConnectorError
from channels_app.connectors.registry import connector_for, connector_kinds
from channels_app.lib.account_keys import (
    ACCOUNT_KEYS,
    FIELD_OF,
    REDACTED,
    SECRET_KEYS,
    TOKEN_SOURCE,
    AccountKeyError,
    check_account,
    clean_secret,
    clean_value,
    closest,
    stored_secrets,
    unknown_key_message,
)
from channels_app.models import ChannelAccount
from core.validators import OPENCLAW_ID_RE

DEFAULT_ACCOUNT = "default"
# The failure state a new credential starts over from (written by the poller).
_FAILURE_STATE = {
    "failed_at": None,
    "last_error": "",
    "last_error_at": None,
    "poll_failures": 0,
    "poll_retry_at": None,
}


class ChannelConfigError(ConfigError):
    """A channel setting that cannot be applied; says what is wrong and what to do.

    ``key`` is the OpenClaw key at fault when there is one (the admin puts the message
    on that field).
    """

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def where_of(kind: str, account_id: str) -> str:
    """The config path prefix of an account: ``channels.telegram`` for the default one."""
    if account_id == DEFAULT_ACCOUNT:
        return f"channels.{kind}"
    return f"channels.{kind}.accounts.{account_id}"


def connector_kind_check(kind: str) -> None:
    """Raise ``ChannelConfigError`` unless ``kind`` has a connector (naming those that do)."""
    kinds = connector_kinds()
    if kind in kinds:
        return
    guess = closest(kind, kinds)
    hint = f" (did you mean {guess}?)" if guess and guess != kind else ""
    raise ChannelConfigError(
        f"channels.{kind}: no connector for {kind}{hint}; channels with a connector: "
        f"{', '.join(kinds) or 'none'}"
    )


def account_id_clean(kind: str, account_id: object) -> str:
    text = str(account_id).strip().lower()
    if not OPENCLAW_ID_RE.fullmatch(text):
        raise ChannelConfigError(
            f"channels.{kind}.accounts.{str(account_id)[:40]}: an account id is 1-64 "
            "lowercase letters, digits, - or _, starting with a letter or digit (e.g. work)"
        )
    return text


def account_config(account: ChannelAccount) -> AccountConfig:
    """What the account's connector is given: decrypted secrets (legacy names mapped),
    the API root and the bot identity learned by the last check."""
    return account_config_with(account, secrets=stored_secrets(account.credentials))


def account_config_with(account: ChannelAccount, *, secrets: Mapping[str, str]) -> AccountConfig:
    return AccountConfig(
        kind=account.kind,
        account_id=account.account_id,
        credentials=MappingProxyType(dict(secrets)),
        api_root=account.api_root,
        bot_id=account.bot_id,
        bot_username=account.bot_username,
    )


def _default(field: str) -> Any:
    model_field = ChannelAccount._meta.get_field(field)
    assert isinstance(model_field, models.Field)
    return model_field.get_default()


def _bot_of(token: str | None) -> str:
    """The bot id part of a Telegram token (``123:abc`` → ``123``)."""
    return (token or "").partition(":")[0]


@dataclass
class AccountDraft:
    """An account with a change applied in memory (nothing saved yet)."""

    account: ChannelAccount
    created: bool
    fields: set[str]
    secrets: dict[str, str]
    credentials: dict[str, Any] | None  # None: the stored credentials are left as they are
    # A credential or the API root changed: the platform should be asked again.
    credentials_changed: bool
    old_token: str | None = None

    @property
    def config(self) -> AccountConfig:
        return account_config_with(self.account, secrets=self.secrets)


def _apply_secret(draft: AccountDraft, kind: str, key: str, value: Any, where: str) -> None:
    if value == REDACTED:  # config.get's marker written back: keep the stored secret
        return
    if draft.credentials is None:
        # An Undecryptable (a str) when no configured key opens it.
        stored: object = draft.account.credentials
        if not isinstance(stored, Mapping):
            if key != "botToken" or value is None:
                raise ChannelConfigError(
                    f"{where}: the stored credentials cannot be decrypted (the encryption key "
                    f"changed); set {where}.botToken again",
                    key="botToken",
                )
            stored = {}
        draft.credentials = {
            ("botToken" if name == "bot_token" else name): secret for name, secret in stored.items()
        }
    blank = value is None or (isinstance(value, str) and not value.strip())
    new = None if blank else clean_secret(kind, key, value, where=where)
    if draft.secrets.get(key) == new:
        return
    if new is None:
        draft.credentials.pop(key, None)
        draft.secrets.pop(key, None)
    else:
        draft.credentials[key] = new
        draft.secrets[key] = new
    if key == "botToken":
        draft.credentials.pop(TOKEN_SOURCE, None)  # typed in: no longer from the environment
        draft.credentials_changed = True


def channel_account_draft(
    *, kind: str, account_id: str = DEFAULT_ACCOUNT, changes: Mapping[str, Any], lock: bool = False
) -> AccountDraft:
    """Validate ``changes`` (OpenClaw keys; ``None`` resets a key, or deletes a secret)
    against the stored account and return it changed in memory. Writes nothing.

    ``lock``: lock the row (PostgreSQL) until the caller's transaction ends, so two
    writers merge their secrets one after the other. Raises ``ChannelConfigError``
    naming the first bad key and what to write instead.
    """
    connector_kind_check(kind)
    account_id = account_id_clean(kind, account_id)
    where = where_of(kind, account_id)
    for key in changes:
        if key not in ACCOUNT_KEYS:
            raise ChannelConfigError(
                unknown_key_message(where, str(key), ACCOUNT_KEYS, what="a channel account setting")
            )
    rows = ChannelAccount.objects.filter(kind=kind, account_id=account_id)
    existing = (rows.select_for_update() if lock else rows).first()
    account = existing or ChannelAccount(kind=kind, account_id=account_id)
    secrets = stored_secrets(account.credentials)
    draft = AccountDraft(
        account=account,
        created=existing is None,
        fields=set(),
        secrets=dict(secrets),
        credentials=None if existing is not None else {},
        credentials_changed=existing is None,
        old_token=secrets.get("botToken"),
    )
    try:
        for key, value in changes.items():
            if key in SECRET_KEYS:
                _apply_secret(draft, kind, key, value, where)
                continue
            field = FIELD_OF[key]
            new = _default(field) if value is None else clean_value(kind, key, value, where=where)
            if getattr(account, field) != new:
                setattr(account, field, new)
                draft.fields.add(field)
                if field == "api_root":
                    draft.credentials_changed = True
        state = {key: getattr(account, field) for key, field in FIELD_OF.items()}
        check_account(kind, state, secrets=draft.secrets, where=where)
    except AccountKeyError as exc:
        raise ChannelConfigError(exc.message, key=exc.key) from None
    return draft


def channel_account_draft_save(*, draft: AccountDraft, identity: BotIdentity | None = None) -> None:
    """Save a draft's changed columns (in the caller's transaction); with ``identity``
    (the bot a check of its credentials found) also the bot and a cleared failure."""
    account = draft.account
    fields = set(draft.fields)
    if draft.credentials is not None:
        account.credentials = draft.credentials
        fields.add("credentials")
    if draft.credentials_changed and not draft.created:
        # A new token (or API root) gets a fresh start: the poller was stopped by the old
        # one's failure. Another bot behind the new token: the old bot's update offset
        # and identity mean nothing to it.
        for name, value in _FAILURE_STATE.items():
            setattr(account, name, value)
        account.poll_lease_owner, account.poll_lease_expires_at = "", None
        fields.update([*_FAILURE_STATE, "poll_lease_owner", "poll_lease_expires_at"])
        if (
            _bot_of(draft.old_token) != _bot_of(draft.secrets.get("botToken"))
            or "api_root" in fields
        ):
            account.cursor, account.bot_id, account.bot_username = "", "", ""
            fields.update(["cursor", "bot_id", "bot_username"])
    if identity is not None:
        account.bot_id, account.bot_username = identity.id, identity.username
        for name, value in _FAILURE_STATE.items():
            setattr(account, name, value)
        fields.update(["bot_id", "bot_username", *_FAILURE_STATE])
    try:
        # The fields' own rules (lengths, choices, the account id); channel_account_draft
        # checked everything the model's clean() does, with OpenClaw's key names.
        account.clean_fields(exclude=["credentials"])
    except ValidationError as exc:
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        raise ChannelConfigError(
            f"{where_of(account.kind, account.account_id)}: {detail}"
        ) from None
    if draft.created:
        account.save()
    elif fields:
        account.save(update_fields=[*sorted(fields), "updated_at"])


@transaction.atomic
def channel_account_upsert(
    *,
    kind: str,
    account_id: str = DEFAULT_ACCOUNT,
    changes: Mapping[str, Any],
    identity: BotIdentity | None = None,
) -> ChannelAccount:
    """Apply ``changes`` (OpenClaw keys) to the account, creating it if needed.

    All or nothing, in one transaction; see ``channel_account_draft`` for the rules.
    ``identity``: the bot a check of the new credentials found (the admin checks before
    saving); stored, and the account's failure cleared. Only changed columns are
    written; the post-save signal starts the account's poller after commit.
    """
    draft = channel_account_draft(kind=kind, account_id=account_id, changes=changes, lock=True)
    channel_account_draft_save(draft=draft, identity=identity)
    return draft.account


def channel_credentials_check(config: AccountConfig) -> BotIdentity:
    """Ask the platform who the credentials belong to (Telegram getMe). Writes nothing.

    Raises ``ChannelConfigError`` (``key="botToken"``) when the platform rejects them or
    cannot be reached, with the platform's reason; never contains the token.
    """
    where = where_of(config.kind, config.account_id)
    try:
        return connector_for(config.kind).check(config)
    except ConnectorError as exc:
        if exc.permanent:
            raise ChannelConfigError(f"{where}: {exc.message}", key="botToken") from None
        raise ChannelConfigError(
            f"{where}: could not check the bot token ({exc.message}); nothing was saved, "
            "try again when the platform is reachable",
            key="botToken",
        ) from None


def channel_account_check(*, account: ChannelAccount) -> BotIdentity | None:
    """Check the stored account with its platform (Telegram getMe); call it outside a
    transaction (it waits on the network).

    Accepted: the bot's id and username are stored and the account's failure cleared
    (its poller starts again). Rejected for good (a token Telegram refuses, no token):
    the account is marked failed with the reason, shown in the admin and
    ``channels.status``, and None is returned. A transient failure (the platform
    unreachable) is raised as the ``ConnectorError`` and stores nothing.
    """
    connector_kind_check(account.kind)
    try:
        identity = connector_for(account.kind).check(account_config(account))
    except ConnectorError as exc:
        if not exc.permanent:
            raise
        account_mark_failed(account=account, reason=exc.message)
        return None
    account.bot_id, account.bot_username = identity.id, identity.username
    for name, value in _FAILURE_STATE.items():
        setattr(account, name, value)
    account.save(update_fields=["bot_id", "bot_username", *_FAILURE_STATE, "updated_at"])
    return identity


def account_mark_failed(*, account: ChannelAccount, reason: str) -> None:
    """Mark the account failed with ``reason``: its poller stops until it is fixed."""
    now = timezone.now()
    account.failed_at = account.last_error_at = now
    account.last_error = reason[:2000]
    ChannelAccount.objects.filter(pk=account.pk).update(
        failed_at=now, last_error=account.last_error, last_error_at=now
    )
