"""OpenClaw's ``channels.*`` config paths, set one at a time or by merge patch.

- ``channels.<kind>.<key>``: the kind's default account (``accounts.default``);
- ``channels.<kind>.accounts.<id>.<key>``: any account (created on first write);
- ``<key>``: ``enabled``, ``name``, ``botToken``, ``apiRoot``, ``webhookUrl``,
  ``webhookSecret``, ``dmPolicy``, ``allowFrom``, ``groupPolicy``, ``groupAllowFrom``,
  ``groups`` (also ``groups.<chat id>`` and ``groups.<chat id>.<key>``) and
  ``requireMention``.

Setting an object at ``channels``, ``channels.<kind>``, ``…accounts`` or
``…accounts.<id>`` merges it, as ``config.patch`` does (``null`` resets a key or deletes
a secret); accounts are not removed by config (disable them, or delete them in the
admin). Kinds without a connector are refused. All or nothing: the caller's transaction
holds every account changed by one call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction

from channels_app.lib.account_keys import ACCOUNT_KEYS, merge_patch, unknown_key_message
from channels_app.models import ChannelAccount
from channels_app.services.accounts import (
    DEFAULT_ACCOUNT,
    ChannelConfigError,
    account_id_clean,
    channel_account_upsert,
    connector_kind_check,
    where_of,
)

KIND_KEYS = (*ACCOUNT_KEYS, "accounts")
SETTABLE = (
    "channels.<kind>.<key> (the default account) and channels.<kind>.accounts.<id>.<key>, "
    f"where <key> is one of {', '.join(ACCOUNT_KEYS)}"
)
# Changes per (kind, account id), in the order they were given.
_Changes = dict[tuple[str, str], dict[str, Any]]


def _kind(value: object) -> str:
    kind = str(value).strip().lower()
    connector_kind_check(kind)
    return kind


def _no_removal(where: str) -> ChannelConfigError:
    return ChannelConfigError(
        f"{where} cannot be removed by config; disable an account with "
        f"<account>.enabled false, or delete it in the admin"
    )


def _object(value: Any, where: str, example: str) -> Mapping[str, Any]:
    if value is None:
        raise _no_removal(where)
    if not isinstance(value, Mapping):
        raise ChannelConfigError(f"{where} must be an object, e.g. {example}")
    return value


def _stored_groups(kind: str, account_id: str) -> dict[str, Any]:
    groups = (
        ChannelAccount.objects.filter(kind=kind, account_id=account_id)
        .values_list("groups", flat=True)
        .first()
    )
    return dict(groups) if isinstance(groups, Mapping) else {}


def _pending(changes: _Changes, kind: str, account_id: str) -> dict[str, Any]:
    return changes.setdefault((kind, account_id_clean(kind, account_id)), {})


def _current_groups(changes: _Changes, kind: str, account_id: str) -> Any:
    pending = _pending(changes, kind, account_id)
    if "groups" in pending:
        return pending["groups"]
    return _stored_groups(kind, account_id_clean(kind, account_id))


def _merge_account(
    changes: _Changes,
    kind: str,
    account_id: str,
    patch: Mapping[str, Any],
    *,
    known: tuple[str, ...],
) -> None:
    """Queue a merge patch of one account's keys (``accounts`` is handled by the caller)."""
    where = where_of(kind, account_id_clean(kind, account_id))
    for key, value in patch.items():
        if key not in ACCOUNT_KEYS:
            raise ChannelConfigError(
                unknown_key_message(where, str(key), known, what="a channel account setting")
            )
        merged = (
            merge_patch(_current_groups(changes, kind, account_id), value)
            if key == "groups" and isinstance(value, Mapping)
            else value
        )
        _pending(changes, kind, account_id)[key] = merged


def _merge_accounts(changes: _Changes, kind: str, accounts: Any) -> None:
    accounts = _object(
        accounts,
        f"channels.{kind}.accounts",
        "{work: {botToken: '123:AA…', dmPolicy: 'allowlist'}}",
    )
    for account_id, patch in accounts.items():
        where = f"channels.{kind}.accounts.{account_id}"
        account_patch = _object(patch, where, "{dmPolicy: 'pairing'}")
        _merge_account(changes, kind, str(account_id), account_patch, known=ACCOUNT_KEYS)


def _merge_kind(changes: _Changes, kind: str, patch: Mapping[str, Any]) -> None:
    for key, value in patch.items():
        if key == "accounts":
            _merge_accounts(changes, kind, value)
        else:
            _merge_account(changes, kind, DEFAULT_ACCOUNT, {key: value}, known=KIND_KEYS)


def _merge_channels(changes: _Changes, patch: Any) -> None:
    patch = _object(patch, "channels", "{telegram: {botToken: '123:AA…'}}")
    for kind_key, kind_patch in patch.items():
        kind = _kind(kind_key)
        _merge_kind(
            changes,
            kind,
            _object(kind_patch, f"channels.{kind}", "{dmPolicy: 'pairing', allowFrom: ['123']}"),
        )


def _set_group(groups: Any, sub: Sequence[str | int], value: Any, where: str) -> dict[str, Any]:
    """``groups`` with ``value`` at ``<chat id>`` or ``<chat id>.<key>`` (None deletes)."""
    if len(sub) > 2:
        raise ChannelConfigError(
            f"{where}.groups.{'.'.join(map(str, sub))} is too deep; a group's keys are "
            "requireMention, allowFrom and enabled"
        )
    result = dict(groups) if isinstance(groups, Mapping) else {}
    chat = str(sub[0])
    if len(sub) == 1:
        if value is None:
            result.pop(chat, None)
        else:
            result[chat] = value
        return result
    entry = result.get(chat)
    entry = dict(entry) if isinstance(entry, Mapping) else {}
    if value is None:
        entry.pop(str(sub[1]), None)
    else:
        entry[str(sub[1])] = value
    result[chat] = entry
    return result


def _set_key(
    changes: _Changes, kind: str, account_id: str, rest: Sequence[str | int], value: Any
) -> None:
    """Queue ``<key>[.<sub>...] = value`` for one account."""
    where = where_of(kind, account_id_clean(kind, account_id))
    key = str(rest[0])
    known = KIND_KEYS if account_id == DEFAULT_ACCOUNT else ACCOUNT_KEYS
    if key not in ACCOUNT_KEYS:
        raise ChannelConfigError(
            unknown_key_message(where, key, known, what="a channel account setting")
        )
    if len(rest) > 1:
        if key != "groups":
            raise ChannelConfigError(f"{where}.{key} has no sub-keys; set {where}.{key} itself")
        value = _set_group(_current_groups(changes, kind, account_id), rest[1:], value, where)
    _pending(changes, kind, account_id)[key] = value


def _collect_set(parts: Sequence[str | int], value: Any) -> _Changes:
    changes: _Changes = {}
    if len(parts) == 1:
        _merge_channels(changes, value)
        return changes
    kind = _kind(parts[1])
    rest = list(parts[2:])
    if not rest:
        where = f"channels.{kind}"
        _merge_kind(changes, kind, _object(value, where, "{dmPolicy: 'pairing'}"))
        return changes
    account_id = DEFAULT_ACCOUNT
    if rest[0] == "accounts":
        if len(rest) == 1:
            _merge_accounts(changes, kind, value)
            return changes
        account_id = account_id_clean(kind, rest[1])
        rest = rest[2:]
        if not rest:
            where = f"channels.{kind}.accounts.{account_id}"
            patch = _object(value, where, "{dmPolicy: 'pairing'}")
            _merge_account(changes, kind, account_id, patch, known=ACCOUNT_KEYS)
            return changes
    _set_key(changes, kind, account_id, rest, value)
    return changes


def _apply(changes: _Changes) -> list[str]:
    changed: list[str] = []
    for (kind, account_id), account_changes in changes.items():
        if not account_changes:
            continue
        channel_account_upsert(kind=kind, account_id=account_id, changes=account_changes)
        where = where_of(kind, account_id)
        changed.extend(f"{where}.{key}" for key in account_changes)
    return changed


@transaction.atomic
def channels_config_set(parts: Sequence[str | int], value: Any) -> list[str]:
    """Set one ``channels...`` path (``parts`` from ``parse_path``; ``value`` None resets
    it); return the paths changed. See the module docstring."""
    if not parts or parts[0] != "channels":
        raise ChannelConfigError(f"not a channels path; settable: {SETTABLE}")
    return _apply(_collect_set(parts, value))


@transaction.atomic
def channels_config_patch(patch_obj: Any) -> list[str]:
    """Apply a JSON merge patch of the ``channels`` object; return the paths changed."""
    changes: _Changes = {}
    _merge_channels(changes, patch_obj)
    return _apply(changes)


def channels_path_canonical(parts: Sequence[str | int]) -> list[str | int]:
    """Where a ``channels`` path is shown in ``config.get``: the default account's keys
    (``channels.telegram.dmPolicy``) live under ``channels.telegram.accounts.default``."""
    if len(parts) >= 3 and parts[0] == "channels" and parts[2] in ACCOUNT_KEYS:
        return [*parts[:2], "accounts", DEFAULT_ACCOUNT, *parts[2:]]
    return list(parts)
