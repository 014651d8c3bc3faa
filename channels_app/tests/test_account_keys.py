"""OpenClaw's channel account keys, validated without a database: every bad value gets
a message naming its path, what is wrong and what to write instead."""

from __future__ import annotations

from typing import Any

import pytest

from channels_app.lib.account_keys import (
    ACCOUNT_KEYS,
    AccountKeyError,
    check_account,
    clean_groups,
    clean_secret,
    clean_value,
    closest,
    merge_patch,
    stored_secrets,
    unknown_key_message,
)

WHERE = "channels.telegram"
TOKEN = "7012345678:AAHsecretPartThatMustNeverShowUp_xyzW"


def _error(key: str, value: Any) -> AccountKeyError:
    with pytest.raises(AccountKeyError) as caught:
        clean_value("telegram", key, value, where=WHERE)
    return caught.value


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("enabled", False, False),
        ("requireMention", True, True),
        ("name", "  Support bot ", "Support bot"),
        ("dmPolicy", "Allowlist", "allowlist"),
        ("groupPolicy", "open", "open"),
        (
            "allowFrom",
            ["123", 456, "@alice", "tg:789", "*"],
            ["123", "456", "@alice", "tg:789", "*"],
        ),
        ("allowFrom", "123, @alice", ["123", "@alice"]),
        ("allowFrom", 123, ["123"]),
        ("allowFrom", ["1", "1"], ["1"]),
        ("groupAllowFrom", [], []),
        ("apiRoot", "http://127.0.0.1:8081/", "http://127.0.0.1:8081"),
        ("apiRoot", "", ""),
        ("webhookUrl", "https://bot.example.com/hook", "https://bot.example.com/hook"),
        (
            "groups",
            {-1001234: {"requireMention": False, "allowFrom": [1]}, "*": {}},
            {"-1001234": {"requireMention": False, "allowFrom": ["1"]}, "*": {}},
        ),
    ],
)
def test_good_values_are_stored_normalized(key: str, value: Any, expected: Any) -> None:
    assert clean_value("telegram", key, value, where=WHERE) == expected


@pytest.mark.parametrize(
    ("key", "value", "needles"),
    [
        ("enabled", "yes", ["channels.telegram.enabled takes true or false, not a string"]),
        ("requireMention", 1, ["requireMention takes true or false, not a number"]),
        ("name", ["x"], ["channels.telegram.name takes a string, not a list"]),
        ("name", "x" * 101, ["longer than 100"]),
        (
            "dmPolicy",
            "opne",
            ["'opne'", "did you mean 'open'", "pairing, allowlist, open, disabled"],
        ),
        ("dmPolicy", 3, ["is a number", "use one of"]),
        ("groupPolicy", "pairing", ["use one of: allowlist, open, disabled"]),
        ("allowFrom", {"a": 1}, ["takes a list of sender ids", "not an object"]),
        ("allowFrom", [True], ["ids as strings or numbers", "a boolean"]),
        ("allowFrom", ["two words"], ["'two words'", "no spaces"]),
        ("allowFrom", ["not a user!"], ["no spaces"]),
        ("allowFrom", ["al$ce"], ["Telegram senders are numeric user ids", "@usernames"]),
        ("groupAllowFrom", False, ["groupAllowFrom takes a list", "a boolean"]),
        ("apiRoot", "127.0.0.1:8081", ["apiRoot is not an http(s) URL", "http://127.0.0.1:8081"]),
        ("apiRoot", 8081, ["takes a URL string", "a number"]),
        ("apiRoot", "https://u:p@host", ["must not carry a user or password"]),
        ("webhookUrl", "ftp://x", ["webhookUrl is not an http(s) URL"]),
        ("groups", ["-100"], ["groups takes an object of chat ids", "not a list"]),
        ("groups", {"my group": {}}, ["groups.my group", "Telegram group ids are numbers"]),
        ("groups", {"-100": True}, ["channels.telegram.groups.-100 takes an object"]),
        (
            "groups",
            {"-100": {"requireMentions": False}},
            [
                "groups.-100.requireMentions is not a group setting",
                "did you mean channels.telegram.groups.-100.requireMention?",
            ],
        ),
        ("groups", {"-100": {"enabled": "no"}}, ["groups.-100.enabled takes true or false"]),
    ],
)
def test_bad_values_say_what_is_wrong_and_what_to_write(
    key: str, value: Any, needles: list[str]
) -> None:
    error = _error(key, value)
    for needle in needles:
        assert needle in error.message
    assert error.key in (key, "groups")


def test_an_unknown_key_names_the_closest_known_one() -> None:
    message = unknown_key_message(WHERE, "dmpolicy", ACCOUNT_KEYS, what="a setting")
    assert message.startswith("channels.telegram.dmpolicy is not a setting; did you mean ")
    assert "channels.telegram.dmPolicy?" in message
    assert closest("alowFrom", ACCOUNT_KEYS) == "allowFrom"
    assert closest("zzzzzz", ACCOUNT_KEYS) is None
    assert "did you mean" not in unknown_key_message(WHERE, "zzzzzz", ACCOUNT_KEYS, what="x")


@pytest.mark.parametrize(
    "token",
    [
        "123:short",
        "abc:AAHsecretPartThatMustNeverShowUp_xyzW",
        "7012345678AAHsecretPartThatMustNeverShowUp_xyzW",
        "7012345678:AAHsecret PartThatMustNeverShowUp_xyzW",
    ],
)
def test_a_bot_token_of_the_wrong_shape_is_refused_without_repeating_it(token: str) -> None:
    with pytest.raises(AccountKeyError) as caught:
        clean_secret("telegram", "botToken", token, where=WHERE)
    message = caught.value.message
    assert "channels.telegram.botToken does not look like a bot token" in message
    assert "@BotFather" in message
    assert token not in message
    assert "AAHsecret" not in message


def test_secrets_are_checked_and_stripped() -> None:
    assert clean_secret("telegram", "botToken", f" {TOKEN} ", where=WHERE) == TOKEN
    assert clean_secret("telegram", "webhookSecret", "abc_DEF-123", where=WHERE) == "abc_DEF-123"
    with pytest.raises(AccountKeyError, match="1-256 characters of A-Z"):
        clean_secret("telegram", "webhookSecret", "has space", where=WHERE)
    with pytest.raises(AccountKeyError, match="botToken takes a string, not a number"):
        clean_secret("telegram", "botToken", 123, where=WHERE)


def test_stored_secrets_maps_legacy_names_and_skips_the_rest() -> None:
    assert stored_secrets({"bot_token": "a", "webhookSecret": "b", "tokenSource": "env"}) == {
        "botToken": "a",
        "webhookSecret": "b",
    }
    assert stored_secrets({"botToken": "new", "bot_token": "old"})["botToken"] == "new"
    assert stored_secrets("undecryptable ciphertext") == {}


def _check(state: dict[str, Any], secrets: dict[str, str] | None = None) -> None:
    check_account("telegram", state, secrets=secrets or {}, where=WHERE)


def test_open_dm_policy_needs_a_star_in_allow_from() -> None:
    with pytest.raises(AccountKeyError) as caught:
        _check({"dmPolicy": "open", "allowFrom": ["123"]})
    assert 'confirm it by adding "*" to channels.telegram.allowFrom' in caught.value.message
    assert caught.value.key == "dmPolicy"
    _check({"dmPolicy": "open", "allowFrom": ["*"]})


def test_a_webhook_needs_a_secret_and_https() -> None:
    with pytest.raises(
        AccountKeyError, match=r"webhookUrl needs channels\.telegram\.webhookSecret"
    ):
        _check({"webhookUrl": "https://x.example/hook"})
    with pytest.raises(AccountKeyError, match="must be an https:// URL"):
        _check({"webhookUrl": "http://x.example/hook"}, {"webhookSecret": "s"})
    # A self-hosted Bot API server may call plain http.
    _check(
        {"webhookUrl": "http://x.example/hook", "apiRoot": "http://api:8081"},
        {"webhookSecret": "s"},
    )


def test_merge_patch_follows_rfc_7396() -> None:
    target = {"-1": {"requireMention": True, "allowFrom": ["1"]}, "-2": {}}
    patch = {"-1": {"allowFrom": ["2"], "requireMention": None}, "-2": None, "*": {}}
    assert merge_patch(target, patch) == {"-1": {"allowFrom": ["2"]}, "*": {}}
    assert merge_patch(target, ["replaced"]) == ["replaced"]


def test_groups_of_other_kinds_take_any_id() -> None:
    assert clean_groups("slack", {"C0123": {}}, "channels.slack") == {"C0123": {}}
