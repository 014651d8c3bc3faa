"""Channels, session and bindings through the gateway's config entry points: the
``config`` command, ``config.patch`` and ``config.get``. Secrets never come back out."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from agents.models import RoutingRule
from agents.services.config import ConfigError
from agents.tests.factories import AgentFactory
from channels_app.models import ChannelAccount
from gateway.catalog.config import config_document, config_snapshot
from gateway.config_service import config_patch, config_set
from gateway.methods import REGISTRY
from gateway.methods.registry import MethodError
from gateway.services import describe_bootstrap, gateway_bootstrap
from gateway.tests.test_methods_catalog import call
from sessions_app.selectors import session_settings

pytestmark = pytest.mark.django_db

TOKEN = "7012345678:AAHsecretPartThatMustNeverShowUp_xyzW"
SECRET_PARTS = (TOKEN, "AAHsecretPart", "hook-secret-value")
REDACTED = "__OPENCLAW_REDACTED__"


@pytest.fixture(autouse=True)
def main_agent() -> None:
    AgentFactory.create(slug="main", is_default=True)


def _command(*args: str) -> str:
    out, err = StringIO(), StringIO()
    call_command("config", *args, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def _assert_no_secret(text: str) -> None:
    for part in SECRET_PARTS:
        assert part not in text


def test_the_command_sets_reads_and_unsets_channel_keys_without_showing_secrets() -> None:
    outputs = [
        _command("set", "channels.telegram.botToken", TOKEN),
        _command("set", "channels.telegram.webhookSecret", "hook-secret-value"),
        _command("set", "channels.telegram.allowFrom", '["123", 456]'),
        _command("set", "channels.telegram.accounts.alerts.dmPolicy", "allowlist"),
        _command("set", "channels.telegram.groups.-1001234.requireMention", "false"),
    ]
    assert outputs[0] == (
        "channels.telegram.botToken set; the channel picks it up now, no restart\n"
    )

    whole = _command("get")
    default = json.loads(_command("get", "channels.telegram"))["accounts"]["default"]
    token = _command("get", "channels.telegram.botToken")
    allow = _command("get", "channels.telegram.allowFrom")
    alerts = _command("get", "channels.telegram.accounts.alerts.dmPolicy")

    for text in (*outputs, whole, token):
        _assert_no_secret(text)
    assert json.loads(token) == REDACTED
    assert default["webhookSecret"] == REDACTED
    assert default["groups"] == {"-1001234": {"requireMention": False}}
    assert json.loads(allow) == ["123", "456"]
    assert json.loads(alerts) == "allowlist"

    assert _command("unset", "channels.telegram.webhookSecret").startswith(
        "channels.telegram.webhookSecret reset"
    )
    assert (
        "webhookSecret"
        not in json.loads(_command("get", "channels.telegram"))["accounts"]["default"]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("set", "channels.telegram.dmPolicy", "sometimes"), "use one of: pairing, allowlist, open, disabled"),
        (("set", "channels.telegram.dmPolicy", "open"), 'confirm it by adding "*"'),
        (("set", "channels.telegram.requireMention", "maybe"), "takes true or false, not a string"),
        (("set", "channels.telegram.allowFrom", "{a: 1}"), "takes a list of sender ids"),
        (("set", "channels.telegram.botToken", "123:short"), "does not look like a bot token"),
        (("set", "channels.telegram.dmpolicy", "open"), "did you mean channels.telegram.dmPolicy?"),
        (("set", "channels.slack.botToken", "x"), "no connector for slack; channels with a connector: telegram"),
        (("set", "channel.telegram.botToken", TOKEN), "did you mean channels?"),
        (("set", "session.dmscope", "per-peer"), "did you mean session.dmScope?"),
        (("set", "session.dmScope", "per-person"), "session.dmScope"),
        (("set", "bindings[0]", "{}"), "set bindings as a whole list"),
        (("unset", "channels.telegram"), "cannot be removed by config"),
        (("get", "channels.telegram.nothing"), "not in the configuration"),
    ],
)  # fmt: skip
def test_the_command_names_every_bad_input(args: tuple[str, ...], message: str) -> None:
    with pytest.raises(CommandError) as caught:
        _command(*args)
    assert message in str(caught.value)
    _assert_no_secret(str(caught.value))


def test_session_and_bindings_are_set_by_path() -> None:
    assert config_set("session.dmScope", "per-channel-peer") == ["session.dmScope"]
    config_set("session.identityLinks", {"alice": ["telegram:123", "discord:987"]})
    config_set(
        "bindings", [{"agentId": "main", "match": {"channel": "telegram", "accountId": "*"}}]
    )

    settings = session_settings()
    assert settings.dm_scope == "per-channel-peer"
    assert dict(settings.identity_links) == {"alice": ("telegram:123", "discord:987")}
    assert RoutingRule.objects.get().account_id == "*"
    document = config_document()
    assert document["session"]["dmScope"] == "per-channel-peer"
    assert document["session"]["identityLinks"] == {"alice": ["telegram:123", "discord:987"]}
    assert document["bindings"] == [
        {"agentId": "main", "match": {"channel": "telegram", "accountId": "*"}}
    ]

    config_set("session.dmScope", None)
    config_set("bindings", None)
    assert session_settings().dm_scope == "main"
    assert RoutingRule.objects.count() == 0


def test_a_patch_of_every_section_is_one_transaction() -> None:
    changed = config_patch(
        {
            "channels": {"telegram": {"botToken": TOKEN, "dmPolicy": "allowlist"}},
            "session": {"dmScope": "per-peer"},
            "bindings": [{"agentId": "main", "match": {"channel": "telegram"}}],
            "agents": {"defaults": {"model": {"primary": "openai/gpt-4o-mini"}}},
        }
    )
    assert changed == [
        "channels.telegram.botToken",
        "channels.telegram.dmPolicy",
        "session.dmScope",
        "bindings",
        "agents.defaults.model.primary",
    ]

    with pytest.raises(ConfigError, match=r"did you mean channels\.telegram\.groupPolicy"):
        config_patch(
            {
                "session": {"dmScope": "per-channel-peer"},
                "bindings": [],
                "channels": {"telegram": {"name": "changed", "grouppolicy": "open"}},
            }
        )
    # Nothing of the failed patch stayed.
    assert session_settings().dm_scope == "per-peer"
    assert RoutingRule.objects.count() == 1
    assert ChannelAccount.objects.get().name == ""


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"channels": {"telegram": {"enabled": "yes"}}}, "channels.telegram.enabled takes true or false"),
        ({"channels": {"telegram": {"accounts": {"a": {"botTokn": TOKEN}}}}}, "did you mean channels.telegram.accounts.a.botToken?"),
        ({"channels": {"discord": {}}}, "channels.discord: no connector for discord"),
        ({"channels": {"telegram": None}}, "cannot be removed by config"),
        ({"sesion": {"dmScope": "main"}}, "sesion is not a config section that can be set here; did you mean session?"),
        ({"session": "main"}, "session must be an object"),
        ({"session": {"mainKey": "x"}}, "cannot set session.mainKey here"),
    ],
)  # fmt: skip
def test_a_bad_patch_is_named(patch: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_patch(patch)
    assert message in caught.value.message
    _assert_no_secret(caught.value.message)


def test_config_get_shows_accounts_and_keys_with_secrets_redacted() -> None:
    config_patch(
        {
            "channels": {
                "telegram": {
                    "botToken": TOKEN,
                    "webhookSecret": "hook-secret-value",
                    "apiRoot": "http://127.0.0.1:8081",
                    "accounts": {"alerts": {"enabled": False, "name": "Alerts"}},
                }
            }
        }
    )

    snapshot = call("config.get")

    _assert_no_secret(json.dumps(snapshot))
    telegram = snapshot["config"]["channels"]["telegram"]
    assert telegram["accounts"]["default"] == {
        "enabled": True,
        "apiRoot": "http://127.0.0.1:8081",
        "botToken": REDACTED,
        "webhookSecret": REDACTED,
        "dmPolicy": "pairing",
        "allowFrom": [],
        "groupPolicy": "allowlist",
        "groupAllowFrom": [],
        "groups": {},
        "requireMention": True,
    }
    # An unset secret is left out, as OpenClaw does.
    assert "botToken" not in telegram["accounts"]["alerts"]
    assert telegram["accounts"]["alerts"]["name"] == "Alerts"
    assert snapshot["config"]["session"]["dmScope"] == "main"


def test_config_patch_rpc_round_trips_the_redacted_document() -> None:
    config_set("channels.telegram.botToken", TOKEN)
    snapshot = call("config.get")
    telegram = snapshot["config"]["channels"]["telegram"]
    telegram["accounts"]["default"]["dmPolicy"] = "allowlist"
    patch = {"channels": {"telegram": telegram}}

    result = call("config.patch", {"raw": json.dumps(patch), "baseHash": snapshot["hash"]})

    assert result["ok"] is True
    _assert_no_secret(json.dumps(result))
    account = ChannelAccount.objects.get()
    assert account.dm_policy == "allowlist"
    assert account.credentials == {"botToken": TOKEN}  # the marker kept the secret


def test_config_patch_rpc_reports_a_bad_value() -> None:
    snapshot = config_snapshot()
    raw = json.dumps({"channels": {"telegram": {"dmPolicy": "open"}}})
    with pytest.raises(MethodError, match='dmPolicy "open" lets anyone'):
        call("config.patch", {"raw": raw, "baseHash": snapshot["hash"]})
    assert "config.patch" in REGISTRY


def test_bootstrap_takes_the_token_from_telegram_bot_token(
    monkeypatch: pytest.MonkeyPatch, data_dir: Any
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)

    lines = describe_bootstrap(gateway_bootstrap())

    assert "channels.telegram: bot token from TELEGRAM_BOT_TOKEN" in lines
    _assert_no_secret("\n".join(lines))
    assert ChannelAccount.objects.get().credentials["botToken"] == TOKEN

    # A token typed into the config later wins over the variable, and says so.
    config_set("channels.telegram.botToken", TOKEN.replace("AAH", "BBH"))
    lines = describe_bootstrap(gateway_bootstrap())
    assert any("TELEGRAM_BOT_TOKEN is ignored" in line for line in lines)
