"""OpenClaw's channel account keys (``channels.<kind>[.accounts.<id>].<key>``), validated.

Framework-free: the config paths (``channels_app.services.config``), the account service
and the admin form all check a value here, so a bad value gets the same message
wherever it is typed. Every message names the path, says what is wrong and what to
write instead, and never contains a secret's value.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn
from urllib.parse import urlsplit

# OpenClaw key → ChannelAccount field, for the keys kept in columns.
FIELD_OF: dict[str, str] = {
    "enabled": "enabled",
    "name": "name",
    "apiRoot": "api_root",
    "webhookUrl": "webhook_url",
    "dmPolicy": "dm_policy",
    "allowFrom": "allow_from",
    "groupPolicy": "group_policy",
    "groupAllowFrom": "group_allow_from",
    "groups": "groups",
    "requireMention": "require_mention",
}
# Keys kept in the account's encrypted ``credentials``: never shown back.
SECRET_KEYS = ("botToken", "webhookSecret")
ACCOUNT_KEYS = (
    "enabled",
    "name",
    "botToken",
    "apiRoot",
    "webhookUrl",
    "webhookSecret",
    "dmPolicy",
    "allowFrom",
    "groupPolicy",
    "groupAllowFrom",
    "groups",
    "requireMention",
)
DM_POLICIES = ("pairing", "allowlist", "open", "disabled")
GROUP_POLICIES = ("allowlist", "open", "disabled")
GROUP_KEYS = ("requireMention", "allowFrom", "enabled")
# What OpenClaw's config.get shows in place of a secret; written back, it keeps the secret.
REDACTED = "__OPENCLAW_REDACTED__"
WILDCARD = "*"
# Credentials written by earlier versions under another name.
LEGACY_SECRET_NAMES = {"bot_token": "botToken"}
# Not a secret: where the stored bot token came from ("env": TELEGRAM_BOT_TOKEN).
TOKEN_SOURCE = "tokenSource"  # noqa: S105  (a key name)

_TOKEN_SHAPES: dict[str, tuple[re.Pattern[str], str]] = {
    "telegram": (
        re.compile(r"\d+:[A-Za-z0-9_-]{30,}"),
        "a Telegram bot token is digits, a colon, then 30 or more letters, digits, _ or - "
        "(like 123456789:AAE...); copy it again from @BotFather",
    ),
}
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_TELEGRAM_CHAT_ID = re.compile(r"-?\d{1,20}")
_TELEGRAM_SENDER = re.compile(r"(?:-?\d{1,20}|@?[A-Za-z][A-Za-z0-9_]{2,31})")
SENDER_PREFIXES = ("tg:", "telegram:")
MAX_ID_LENGTH = 256
MAX_LIST = 1000


class AccountKeyError(ValueError):
    """A value that cannot be stored; ``key`` is the OpenClaw key it belongs to."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.key = key


def closest(word: str, known: Iterable[str]) -> str | None:
    """The known word nearest to ``word`` (case-insensitive), or None if none is close."""
    by_lower = {k.lower(): k for k in known}
    match = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


def unknown_key_message(where: str, key: str, known: Iterable[str], *, what: str) -> str:
    """``<where>.<key> is not a <what>; did you mean <where>.<k>? Known keys: ...``."""
    known = list(known)
    guess = closest(key, known)
    hint = f"did you mean {where}.{guess}? " if guess else ""
    return f"{where}.{key} is not {what}; {hint}known keys: {', '.join(known)}"


def _type_name(value: object) -> str:
    kinds: tuple[tuple[type | tuple[type, ...], str], ...] = (
        (bool, "a boolean"),
        ((int, float), "a number"),
        (str, "a string"),
        ((list, tuple), "a list"),
        (Mapping, "an object"),
    )
    if value is None:
        return "null"
    return next((name for types, name in kinds if isinstance(value, types)), type(value).__name__)


def _bool(value: Any, where: str, key: str) -> bool:
    if not isinstance(value, bool):
        raise AccountKeyError(
            f"{where}.{key} takes true or false, not {_type_name(value)}", key=key
        )
    return value


def _choice(value: Any, where: str, key: str, choices: tuple[str, ...]) -> str:
    if isinstance(value, str) and value.strip().lower() in choices:
        return value.strip().lower()
    shown = repr(value) if isinstance(value, str) else _type_name(value)
    guess = closest(value, choices) if isinstance(value, str) else None
    hint = f" (did you mean {guess!r}?)" if guess else ""
    _raise(f"{where}.{key} is {shown}{hint}; use one of: {', '.join(choices)}", key)


def _raise(message: str, key: str | None) -> NoReturn:
    raise AccountKeyError(message, key=key)


def _url(value: Any, where: str, key: str, example: str) -> str:
    if not isinstance(value, str):
        _raise(f"{where}.{key} takes a URL string like {example}, not {_type_name(value)}", key)
    text = value.strip()
    if not text:
        return ""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        _raise(f"{where}.{key} is not an http(s) URL; write it like {example}", key)
    if parts.username or parts.password:
        _raise(f"{where}.{key} must not carry a user or password; remove them", key)
    if parts.fragment:
        _raise(f"{where}.{key} must not have a #fragment; remove it", key)
    return text


def _sender_ids(kind: str, value: Any, where: str, key: str) -> list[str]:
    """A list of sender ids: strings or numbers; a comma-separated string is split."""
    if isinstance(value, str):
        value = [item.strip() for item in value.split(",") if item.strip()]
    elif isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list | tuple):
        _raise(
            f'{where}.{key} takes a list of sender ids, e.g. ["123456789", "@alice"], '
            f"not {_type_name(value)}",
            key,
        )
    if len(value) > MAX_LIST:
        _raise(f"{where}.{key} has more than {MAX_LIST} entries", key)
    ids: list[str] = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, str | int):
            _raise(
                f"{where}.{key} entries are ids as strings or numbers; "
                f"{_type_name(item)} is neither",
                key,
            )
        text = str(item).strip()
        if not text or len(text) > MAX_ID_LENGTH or any(ch.isspace() for ch in text):
            _raise(
                f"{where}.{key} has the entry {text[:40]!r}; an id has no spaces and is "
                f"1-{MAX_ID_LENGTH} characters",
                key,
            )
        if kind == "telegram" and text != WILDCARD:
            bare = text
            for prefix in SENDER_PREFIXES:
                if bare.lower().startswith(prefix):
                    bare = bare[len(prefix) :]
                    break
            if not _TELEGRAM_SENDER.fullmatch(bare):
                _raise(
                    f"{where}.{key} has the entry {text[:40]!r}; Telegram senders are numeric "
                    'user ids (123456789) or @usernames, optionally prefixed "tg:"; '
                    '"*" allows anyone',
                    key,
                )
        if text not in ids:
            ids.append(text)
    return ids


def _group_entry(kind: str, value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        _raise(
            f"{where} takes an object like {{requireMention: false, allowFrom: ['123'], "
            f"enabled: true}}, not {_type_name(value)}",
            "groups",
        )
    entry: dict[str, Any] = {}
    for sub, sub_value in value.items():
        if sub not in GROUP_KEYS:
            _raise(
                unknown_key_message(where, str(sub), GROUP_KEYS, what="a group setting"), "groups"
            )
        if sub == "allowFrom":
            entry[sub] = _sender_ids(kind, sub_value, where, sub)
        else:
            entry[sub] = _bool(sub_value, where, sub)
    return entry


def clean_groups(kind: str, value: Any, where: str) -> dict[str, dict[str, Any]]:
    """``{"<chat id>" | "*": {requireMention, allowFrom, enabled}}``, keys as strings."""
    key = "groups"
    if not isinstance(value, Mapping):
        _raise(
            f'{where}.groups takes an object of chat ids, e.g. {{"-1001234567890": '
            f'{{requireMention: false}}, "*": {{}}}}, not {_type_name(value)}',
            key,
        )
    groups: dict[str, dict[str, Any]] = {}
    for chat, entry in value.items():
        chat_id = str(chat).strip()
        if isinstance(chat, bool) or not chat_id:
            _raise(f'{where}.groups has an empty chat id; use the group\'s id or "*"', key)
        if kind == "telegram" and chat_id != WILDCARD and not _TELEGRAM_CHAT_ID.fullmatch(chat_id):
            _raise(
                f"{where}.groups.{chat_id[:40]}: Telegram group ids are numbers like "
                '-1001234567890 (the bot sees them in each message), or "*" for every group',
                key,
            )
        try:
            groups[chat_id] = _group_entry(kind, entry, f"{where}.groups.{chat_id}")
        except AccountKeyError as exc:
            raise AccountKeyError(exc.message, key=key) from None  # it is the groups' error
    return groups


def _name(kind: str, value: Any, where: str) -> str:
    if not isinstance(value, str):
        _raise(f"{where}.name takes a string, not {_type_name(value)}", "name")
    if len(value.strip()) > 100:
        _raise(f"{where}.name is longer than 100 characters", "name")
    return value.strip()


_CLEANERS: dict[str, Any] = {
    "enabled": lambda kind, value, where: _bool(value, where, "enabled"),
    "requireMention": lambda kind, value, where: _bool(value, where, "requireMention"),
    "name": _name,
    "dmPolicy": lambda kind, value, where: _choice(value, where, "dmPolicy", DM_POLICIES),
    "groupPolicy": lambda kind, value, where: _choice(value, where, "groupPolicy", GROUP_POLICIES),
    "allowFrom": lambda kind, value, where: _sender_ids(kind, value, where, "allowFrom"),
    "groupAllowFrom": lambda kind, value, where: _sender_ids(kind, value, where, "groupAllowFrom"),
    "groups": clean_groups,
    "apiRoot": lambda kind, value, where: _url(
        value, where, "apiRoot", "http://127.0.0.1:8081"
    ).rstrip("/"),
    "webhookUrl": lambda kind, value, where: _url(
        value, where, "webhookUrl", "https://bot.example.com/telegram/webhook"
    ),
}


def clean_value(kind: str, key: str, value: Any, *, where: str) -> Any:
    """The stored form of ``value`` for the column key ``key`` (not None, not a secret)."""
    cleaner = _CLEANERS.get(key)
    if cleaner is None:
        _raise(unknown_key_message(where, key, ACCOUNT_KEYS, what="an account setting"), None)
    return cleaner(kind, value, where)


def clean_secret(kind: str, key: str, value: Any, *, where: str) -> str:
    """A secret's stored form; the message on a bad one never repeats the value."""
    if not isinstance(value, str):
        _raise(f"{where}.{key} takes a string, not {_type_name(value)}", key)
    text = value.strip()
    if key == "botToken":
        shape = _TOKEN_SHAPES.get(kind)
        if shape is not None and not shape[0].fullmatch(text):
            _raise(f"{where}.botToken does not look like a bot token: {shape[1]}", key)
        return text
    if key == "webhookSecret":
        if not _WEBHOOK_SECRET.fullmatch(text):
            _raise(
                f"{where}.webhookSecret must be 1-256 characters of A-Z, a-z, 0-9, _ and - "
                "(Telegram's rule); e.g. the output of `openssl rand -hex 32`",
                key,
            )
        return text
    _raise(unknown_key_message(where, key, ACCOUNT_KEYS, what="an account setting"), None)


def stored_secrets(credentials: object) -> dict[str, str]:
    """The secrets in an account's ``credentials`` by OpenClaw key (legacy names mapped);
    ``{}`` for credentials that cannot be read."""
    if not isinstance(credentials, Mapping):
        return {}
    secrets: dict[str, str] = {}
    for name, value in credentials.items():
        key = LEGACY_SECRET_NAMES.get(str(name), str(name))
        if key in SECRET_KEYS and isinstance(value, str) and value.strip():
            secrets.setdefault(key, value.strip())
    return secrets


def check_account(
    kind: str, state: Mapping[str, Any], *, secrets: Mapping[str, str], where: str
) -> None:
    """The rules between keys, on an account's values after a change (OpenClaw keys)."""
    allow_from = [str(x) for x in state.get("allowFrom") or []]
    if state.get("dmPolicy") == "open" and WILDCARD not in allow_from:
        _raise(
            f'{where}.dmPolicy "open" lets anyone talk to the agent; confirm it by adding "*" '
            f'to {where}.allowFrom (e.g. allowFrom ["*"]), or use dmPolicy "pairing"',
            "dmPolicy",
        )
    webhook_url = str(state.get("webhookUrl") or "")
    if webhook_url:
        if not secrets.get("webhookSecret"):
            _raise(
                f"{where}.webhookUrl needs {where}.webhookSecret too: Telegram sends it with "
                "every update so forged ones are refused (1-256 characters of A-Z, a-z, 0-9, "
                "_ and -, e.g. `openssl rand -hex 32`)",
                "webhookUrl",
            )
        if (
            kind == "telegram"
            and urlsplit(webhook_url).scheme != "https"
            and not state.get("apiRoot")
        ):
            _raise(
                f"{where}.webhookUrl must be an https:// URL: Telegram only calls https "
                "webhooks (http works only with a self-hosted Bot API server, set in apiRoot)",
                "webhookUrl",
            )


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge, null deletes, anything else replaces."""
    if not isinstance(patch, Mapping):
        return patch
    merged = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged
