"""The ``config.set`` RPC: the whole document (JSON5) against ``config.get``'s hash; what
differs is applied in one transaction, no restart; bad documents change nothing."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from agents.models import Agent, RoutingRule
from agents.tests.factories import AgentFactory
from channels_app.lib.account_keys import stored_secrets
from channels_app.models import ChannelAccount
from gateway.config_service import config_set as path_set
from gateway.methods.registry import MethodError
from gateway.tests.test_methods_catalog import call
from sessions_app.selectors import session_settings

pytestmark = pytest.mark.django_db

TOKEN = "7012345678:AAHsecretPartThatMustNeverShowUp_xyzW"
NEW_TOKEN = "7012345678:AAHanotherSecretPartForTheSetTest_abc"


@pytest.fixture(autouse=True)
def configured(data_dir: Any) -> None:
    AgentFactory.create(slug="main", name="Main", is_default=True)
    AgentFactory.create(slug="ops", name="Ops", tools_deny=["exec"])
    path_set("channels.telegram.botToken", TOKEN)
    path_set("session.identityLinks", {"alice": ["telegram:1"]})


def _current() -> tuple[dict[str, Any], str]:
    snapshot = call("config.get")
    return copy.deepcopy(snapshot["config"]), snapshot["hash"]


def _set(document: dict[str, Any] | str, base: str) -> dict[str, Any]:
    raw = document if isinstance(document, str) else json.dumps(document)
    answer: dict[str, Any] = call("config.set", {"raw": raw, "baseHash": base})
    return answer


def _refused(document: dict[str, Any] | str, base: str, match: str) -> None:
    before = call("config.get")["hash"]
    with pytest.raises(MethodError, match=match):
        _set(document, base)
    assert call("config.get")["hash"] == before  # nothing applied


def test_the_unchanged_document_changes_nothing() -> None:
    document, base = _current()
    stamps = sorted(Agent.objects.values_list("updated_at", flat=True))
    answer = _set(document, base)
    assert answer["ok"] is True
    assert answer["config"] == document
    assert call("config.get")["hash"] == base
    assert sorted(Agent.objects.values_list("updated_at", flat=True)) == stamps


def test_a_good_document_is_applied_without_a_restart() -> None:
    document, base = _current()
    document["session"]["dmScope"] = "per-channel-peer"
    del document["session"]["identityLinks"]  # left out: back to the default
    ops = document["agents"]["list"][1]
    ops["model"] = {"primary": "openai/gpt-4o", "fallbacks": []}
    del ops["tools"]["deny"]
    document["agents"]["list"].append({"id": "helper", "name": "Helper"})
    document["bindings"] = [{"agentId": "ops", "match": {"channel": "telegram"}}]
    account = document["channels"]["telegram"]["accounts"]["default"]
    account["dmPolicy"] = "allowlist"
    account["allowFrom"] = ["123456789"]
    answer = _set(document, base)

    assert answer["ok"] is True
    assert answer["path"] == "database"
    assert answer["config"]["session"]["dmScope"] == "per-channel-peer"
    settings = session_settings()
    assert (settings.dm_scope, dict(settings.identity_links)) == ("per-channel-peer", {})
    ops_row = Agent.objects.get(slug="ops")
    assert (ops_row.model_primary, ops_row.tools_deny) == ("openai/gpt-4o", [])
    assert Agent.objects.get(slug="helper").name == "Helper"
    assert RoutingRule.objects.get().agent.slug == "ops"
    row = ChannelAccount.objects.get(account_id="default")
    assert (row.dm_policy, row.allow_from) == ("allowlist", ["123456789"])
    # The redaction marker config.get showed keeps the token.
    assert stored_secrets(row.credentials)["botToken"] == TOKEN
    assert TOKEN not in json.dumps(answer)
    assert call("config.get")["hash"] != base


def test_json5_and_a_new_secret() -> None:
    document, base = _current()
    document["channels"]["telegram"]["accounts"]["default"]["botToken"] = NEW_TOKEN
    raw = "// edited in the Control UI\n" + json.dumps(document)[:-1] + ",}"  # trailing comma
    _set(raw, base)
    row = ChannelAccount.objects.get(account_id="default")
    assert stored_secrets(row.credentials)["botToken"] == NEW_TOKEN


def test_the_base_hash_is_required_and_must_be_current() -> None:
    document, base = _current()
    with pytest.raises(MethodError, match="base hash required"):
        call("config.set", {"raw": json.dumps(document)})
    path_set("session.dmScope", "per-peer")  # someone else changed the config
    document["session"]["dmScope"] = "main"
    _refused(document, base, "config changed since last load; re-run config.get")


def test_bad_json5_is_refused_with_line_and_column() -> None:
    _, base = _current()
    _refused(
        '{\n  session: {dmScope: "main"\n}', base, r'raw is not valid JSON5: raw:3:2: .*"," or "}"'
    )


def test_an_unknown_key_is_named_with_the_closest_known_key() -> None:
    document, base = _current()
    document["session"]["dmScoep"] = document["session"].pop("dmScope")
    _refused(document, base, r"session\.dmScoep: unknown key; did you mean session\.dmScope\?")


def test_what_this_gateway_cannot_keep_is_refused() -> None:
    document, base = _current()
    document["messages"] = {"queue": {"mode": "collect"}}
    document["session"]["dmScope"] = "per-peer"  # valid, but not applied alone
    _refused(document, base, "this gateway cannot keep: messages")
    document, base = _current()
    document["gateway"]["auth"]["mode"] = "password"
    _refused(document, base, r"gateway\.auth\.mode \('password' here is 'token'")


def test_agents_and_accounts_are_not_deleted_by_config_set() -> None:
    document, base = _current()
    document["agents"]["list"] = document["agents"]["list"][:1]
    document["session"]["dmScope"] = "per-peer"
    _refused(document, base, "agents ops are not in the document; agents are not deleted")
    assert session_settings().dm_scope == "main"
    document, base = _current()
    document["channels"] = {}
    _refused(document, base, "channels.telegram are not in the document")


def test_a_bad_value_names_its_path_and_changes_nothing() -> None:
    document, base = _current()
    document["session"]["dmScope"] = "per-peer"
    document["agents"]["list"][1]["sandbox"]["mode"] = "sometimes"
    _refused(document, base, "sandbox_mode")
    document["agents"]["list"][1]["sandbox"]["mode"] = "all"
    document["bindings"] = [{"agentId": "nobody", "match": {"channel": "telegram"}}]
    _refused(document, base, r"bindings\[0\]\.agentId: no agent 'nobody'")
