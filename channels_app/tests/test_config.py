"""OpenClaw's ``channels.*`` config paths: set one path, or a merge patch; every bad input
named with its path and, for an unknown key, the closest known one."""

from __future__ import annotations

from typing import Any

import pytest

from agents.services.config import ConfigError, parse_path
from channels_app.models import ChannelAccount
from channels_app.services.accounts import ChannelConfigError
from channels_app.services.config import (
    channels_config_patch,
    channels_config_set,
    channels_path_canonical,
)

pytestmark = pytest.mark.django_db

TOKEN = "7012345678:AAHsecretPartThatMustNeverShowUp_xyzW"
OTHER_TOKEN = "8012345678:AAHanotherSecretThatMustNeverShowUp_1"


def _set(path: str, value: Any) -> list[str]:
    return channels_config_set(parse_path(path), value)


def _account(account_id: str = "default") -> ChannelAccount:
    return ChannelAccount.objects.get(kind="telegram", account_id=account_id)


def test_top_level_keys_are_the_default_account() -> None:
    assert _set("channels.telegram.botToken", TOKEN) == ["channels.telegram.botToken"]
    _set("channels.telegram.dmPolicy", "allowlist")
    _set("channels.telegram.allowFrom", ["123", 456])

    account = _account()
    assert account.credentials == {"botToken": TOKEN}
    assert (account.dm_policy, account.allow_from) == ("allowlist", ["123", "456"])
    # accounts.default is the same account.
    _set("channels.telegram.accounts.default.requireMention", False)
    assert _account().require_mention is False
    assert ChannelAccount.objects.count() == 1


def test_named_accounts_are_created_on_first_write() -> None:
    changed = _set("channels.telegram.accounts.Work.botToken", OTHER_TOKEN)

    assert changed == ["channels.telegram.accounts.work.botToken"]
    work = _account("work")
    assert work.credentials == {"botToken": OTHER_TOKEN}
    assert (work.enabled, work.dm_policy, work.group_policy) == (True, "pairing", "allowlist")


def test_null_resets_a_key_and_deletes_a_secret() -> None:
    _set("channels.telegram", {"botToken": TOKEN, "webhookSecret": "s3cret", "name": "Bot"})
    _set("channels.telegram.dmPolicy", "disabled")

    _set("channels.telegram.dmPolicy", None)
    _set("channels.telegram.webhookSecret", None)
    _set("channels.telegram.name", None)

    account = _account()
    assert (account.dm_policy, account.name) == ("pairing", "")
    assert account.credentials == {"botToken": TOKEN}


def test_group_paths_edit_one_group_or_one_of_its_keys() -> None:
    _set("channels.telegram.groups", {"-100111": {"requireMention": False}, "*": {}})
    _set("channels.telegram.groups.-100222", {"allowFrom": ["5"]})
    _set("channels.telegram.groups.-100111.allowFrom", [7])
    _set("channels.telegram.groups.*", None)

    assert _account().groups == {
        "-100111": {"requireMention": False, "allowFrom": ["7"]},
        "-100222": {"allowFrom": ["5"]},
    }
    _set("channels.telegram.groups.-100111.requireMention", None)
    assert _account().groups["-100111"] == {"allowFrom": ["7"]}


def test_a_merge_patch_changes_several_accounts_at_once() -> None:
    _set("channels.telegram.groups", {"-100111": {"requireMention": False}})

    changed = channels_config_patch(
        {
            "telegram": {
                "botToken": TOKEN,
                "dmPolicy": "open",
                "allowFrom": ["*"],
                "groups": {"-100111": {"allowFrom": ["9"]}, "-100333": {}},
                "accounts": {"alerts": {"botToken": OTHER_TOKEN, "enabled": False}},
            }
        }
    )

    assert changed == [
        "channels.telegram.botToken",
        "channels.telegram.dmPolicy",
        "channels.telegram.allowFrom",
        "channels.telegram.groups",
        "channels.telegram.accounts.alerts.botToken",
        "channels.telegram.accounts.alerts.enabled",
    ]
    default = _account()
    # groups merge, key by key; the other values replace.
    assert default.groups == {
        "-100111": {"requireMention": False, "allowFrom": ["9"]},
        "-100333": {},
    }
    assert (default.dm_policy, default.allow_from) == ("open", ["*"])
    assert _account("alerts").enabled is False


def test_an_object_set_at_a_section_merges() -> None:
    _set("channels.telegram.accounts.ops", {"botToken": TOKEN, "dmPolicy": "allowlist"})
    _set("channels.telegram.accounts", {"ops": {"name": "Ops"}})
    _set("channels", {"telegram": {"accounts": {"ops": {"requireMention": False}}}})

    ops = _account("ops")
    assert (ops.name, ops.dm_policy, ops.require_mention) == ("Ops", "allowlist", False)
    assert ops.credentials == {"botToken": TOKEN}


def test_the_redaction_marker_written_back_keeps_the_secret() -> None:
    _set("channels.telegram.botToken", TOKEN)
    channels_config_patch({"telegram": {"botToken": "__OPENCLAW_REDACTED__", "name": "x"}})
    assert _account().credentials == {"botToken": TOKEN}


BAD = [
    ("channels.telegram.dmPolicy", "opne", "channels.telegram.dmPolicy is 'opne' (did you mean 'open'?); use one of"),
    ("channels.telegram.enabled", "yes", "channels.telegram.enabled takes true or false, not a string"),
    ("channels.telegram.allowFrom", {"a": 1}, "channels.telegram.allowFrom takes a list of sender ids"),
    ("channels.telegram.groups", "all", "channels.telegram.groups takes an object of chat ids"),
    ("channels.telegram.requireMention", "false", "takes true or false, not a string"),
    ("channels.telegram.dmPolicyy", "open", "channels.telegram.dmPolicyy is not a channel account setting; did you mean channels.telegram.dmPolicy?"),
    ("channels.telegram.accounts.work.alowFrom", ["1"], "did you mean channels.telegram.accounts.work.allowFrom?"),
    ("channels.telegram.acounts.work", {}, "did you mean channels.telegram.accounts?"),
    ("channels.telegram.botToken", "12345", "channels.telegram.botToken does not look like a bot token"),
    ("channels.telegram.dmPolicy", "open", 'channels.telegram.dmPolicy "open" lets anyone talk to the agent; confirm it by adding "*"'),
    ("channels.telegram.webhookUrl", "https://x.example/hook", "webhookUrl needs channels.telegram.webhookSecret too"),
    ("channels.telegram.apiRoot", "localhost:8081", "channels.telegram.apiRoot is not an http(s) URL"),
    ("channels.telegram.groups.-100.requireMentions", False, "did you mean channels.telegram.groups.-100.requireMention?"),
    ("channels.telegram.groups.-100.allowFrom.x", 1, "is too deep"),
    ("channels.telegram.dmPolicy.x", 1, "channels.telegram.dmPolicy has no sub-keys"),
    ("channels.telegram.accounts.Bad Id!.dmPolicy", "open", "an account id is 1-64 lowercase letters"),
    ("channels.discord.botToken", "x", "channels.discord: no connector for discord; channels with a connector: telegram"),
    ("channels.webchat", {}, "no connector for webchat"),
    ("channels.telegramm.botToken", TOKEN, "no connector for telegramm (did you mean telegram?)"),
    ("channels.telegram", None, "channels.telegram cannot be removed by config"),
    ("channels.telegram.accounts.work", None, "cannot be removed by config"),
    ("channels.telegram", ["x"], "channels.telegram must be an object"),
    ("channels", "telegram", "channels must be an object"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "value", "message"), BAD, ids=[b[0] + "=" + str(b[1])[:12] for b in BAD]
)
def test_every_bad_input_is_named_with_what_to_do(path: str, value: Any, message: str) -> None:
    with pytest.raises(ChannelConfigError) as caught:
        _set(path, value)
    assert message in caught.value.message
    assert isinstance(caught.value, ConfigError)  # the existing callers show it
    assert TOKEN not in caught.value.message
    assert ChannelAccount.objects.count() == 0


def test_a_patch_that_fails_anywhere_changes_nothing() -> None:
    _set("channels.telegram.botToken", TOKEN)
    with pytest.raises(ChannelConfigError, match=r"accounts\.b\.dmPolicy"):
        channels_config_patch(
            {
                "telegram": {
                    "name": "changed",
                    "accounts": {"a": {"botToken": OTHER_TOKEN}, "b": {"dmPolicy": "nope"}},
                }
            }
        )
    assert _account().name == ""
    assert list(ChannelAccount.objects.values_list("account_id", flat=True)) == ["default"]


def test_open_dm_policy_and_its_star_can_come_in_one_patch() -> None:
    channels_config_patch({"telegram": {"dmPolicy": "open", "allowFrom": ["*"]}})
    assert _account().dm_policy == "open"
    # ... and removing the star while open is refused.
    with pytest.raises(ChannelConfigError, match='confirm it by adding "\\*"'):
        _set("channels.telegram.allowFrom", ["123"])


def test_a_webhook_secret_then_its_url() -> None:
    _set("channels.telegram.webhookSecret", "abc123")
    _set("channels.telegram.webhookUrl", "https://bot.example.com/telegram")
    assert _account().webhook_url == "https://bot.example.com/telegram"
    with pytest.raises(ChannelConfigError, match="webhookUrl needs"):
        _set("channels.telegram.webhookSecret", None)


def test_paths_of_the_default_account_show_under_accounts_default() -> None:
    assert channels_path_canonical(["channels", "telegram", "dmPolicy"]) == [
        "channels", "telegram", "accounts", "default", "dmPolicy"
    ]  # fmt: skip
    assert channels_path_canonical(["channels", "telegram", "accounts", "x", "name"]) == [
        "channels", "telegram", "accounts", "x", "name"
    ]  # fmt: skip
