"""OpenClaw ``bindings[]`` into routing rules: good shapes, and every bad one named."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agents.models import RoutingRule
from agents.selectors import ResolvedRoute, route_resolve
from agents.services.bindings import bindings_replace
from agents.services.config import ConfigError
from agents.tests.factories import AgentFactory, RoutingRuleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def agents() -> None:
    AgentFactory.create(slug="main", is_default=True)
    AgentFactory.create(slug="support")
    AgentFactory.create(slug="family")


def _rules() -> list[tuple[Any, ...]]:
    return list(
        RoutingRule.objects.order_by("priority").values_list(
            "agent__slug", "channel", "account_id", "peer_kind", "peer_id", "guild_id",
            "team_id", "roles", "comment", "priority", "enabled",
        )
    )  # fmt: skip


def test_it_stores_every_field_in_config_order() -> None:
    rules = bindings_replace(
        [
            {
                "agentId": "family",
                "comment": "mum",
                "match": {"channel": "Telegram", "peer": {"kind": "dm", "id": 42}},
            },
            {
                "agentId": "Support",
                "type": "route",
                "match": {
                    "channel": "discord",
                    "accountId": "Work",
                    "guildId": "G1",
                    "roles": ["123", 456],
                    "peer": {"kind": "channel", "id": "C1"},
                },
            },
            {"agentId": "support", "match": {"channel": "slack", "teamId": "T1"}},
            {"agentId": "main", "match": {"channel": "telegram", "accountId": "*"}},
        ]
    )
    assert len(rules) == 4
    assert _rules() == [
        ("family", "telegram", "", "direct", "42", "", "", [], "mum", 0, True),
        ("support", "discord", "work", "channel", "C1", "G1", "", ["123", "456"], "", 1, True),
        ("support", "slack", "", "", "", "", "T1", [], "", 2, True),
        ("main", "telegram", "*", "", "", "", "", [], "", 3, True),
    ]


def test_it_replaces_every_rule_and_the_next_message_routes_by_the_new_ones(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    RoutingRuleFactory.create(agent=AgentFactory.create(slug="old"), account_id="*")
    assert route_resolve(channel="telegram", account_id="x", peer_kind="direct", peer_id="1") == (
        ResolvedRoute("old", "binding.channel")
    )
    with django_capture_on_commit_callbacks(execute=True):
        bindings_replace([{"agentId": "support", "match": {"channel": "telegram"}}])
    assert [r[0] for r in _rules()] == ["support"]
    assert route_resolve(
        channel="telegram", account_id="default", peer_kind="direct", peer_id="1"
    ) == ResolvedRoute("support", "binding.account")

    with django_capture_on_commit_callbacks(execute=True):
        bindings_replace([])
    assert _rules() == []
    assert route_resolve(
        channel="telegram", account_id="default", peer_kind="direct", peer_id="1"
    ) == ResolvedRoute("main", "default")


@pytest.mark.parametrize(
    ("bindings", "message"),
    [
        ({"agentId": "main"}, r"^bindings: takes a list of bindings, e\.g\. \["),
        (["main"], r"^bindings\[0\]: takes an object"),
        (
            [{"agentId": "main", "matc": {"channel": "telegram"}}],
            r"^bindings\[0\]\.matc: unknown key; did you mean 'match'\? known keys: agentId, ",
        ),
        ([{"match": {"channel": "telegram"}}], r"^bindings\[0\]\.agentId: is required"),
        ([{"agentId": "", "match": {}}], r"^bindings\[0\]\.agentId: is empty"),
        (
            [{"agentId": "suport", "match": {"channel": "telegram"}}],
            r"^bindings\[0\]\.agentId: no agent 'suport'; did you mean 'support'\? agents: "
            r"family, kept, main, support$",
        ),
        ([{"agentId": ["main"], "match": {}}], r"^bindings\[0\]\.agentId: takes a string"),
        ([{"agentId": "main"}], r"^bindings\[0\]\.match: is required"),
        ([{"agentId": "main", "match": "telegram"}], r"^bindings\[0\]\.match: takes an object"),
        (
            [{"agentId": "main", "type": "acp", "match": {"channel": "telegram"}}],
            r'^bindings\[0\]\.type: only "route" bindings are supported',
        ),
        (
            [{"agentId": "main", "comment": 5, "match": {"channel": "telegram"}}],
            r"^bindings\[0\]\.comment: takes a string, not int",
        ),
        ([{"agentId": "main", "match": {}}], r"^bindings\[0\]\.match\.channel: is required"),
        (
            [{"agentId": "main", "match": {"channel": "  "}}],
            r"^bindings\[0\]\.match\.channel: is empty",
        ),
        (
            [{"agentId": "main", "match": {"channel": "telegram", "acountId": "x"}}],
            r"^bindings\[0\]\.match\.acountId: unknown key; did you mean 'accountId'\?",
        ),
        (
            [{"agentId": "main", "match": {"channel": "telegram", "accountId": "a/b"}}],
            r"^bindings\[0\]\.match\.accountId: 'a/b' is not an account id",
        ),
        (
            [{"agentId": "main", "match": {"channel": "telegram", "accountId": True}}],
            r"^bindings\[0\]\.match\.accountId: takes a string or a whole number, not bool",
        ),
        (
            [{"agentId": "main", "match": {"channel": "telegram", "peer": "42"}}],
            r"^bindings\[0\]\.match\.peer: takes an object",
        ),
        (
            [{"agentId": "main", "match": {"channel": "telegram", "peer": {"kind": "user"}}}],
            r"^bindings\[0\]\.match\.peer\.kind: 'user' is not one of direct, group, channel",
        ),
        (
            [{"agentId": "main", "match": {"channel": "telegram", "peer": {"kind": "direct"}}}],
            r"^bindings\[0\]\.match\.peer\.id: is required",
        ),
        (
            [
                {
                    "agentId": "main",
                    "match": {"channel": "telegram", "peer": {"kind": "direct", "idd": "1"}},
                }
            ],
            r"^bindings\[0\]\.match\.peer\.idd: unknown key; did you mean 'id'\?",
        ),
        (
            [
                {
                    "agentId": "main",
                    "match": {"channel": "telegram", "peer": {"kind": "direct", "id": "9" * 300}},
                }
            ],
            r"^bindings\[0\]\.match\.peer\.id: longer than 256 characters",
        ),
        (
            [{"agentId": "main", "match": {"channel": "discord", "roles": ["1"]}}],
            r"^bindings\[0\]\.match\.roles: roles only apply together with a guildId",
        ),
        (
            [{"agentId": "main", "match": {"channel": "discord", "guildId": "G", "roles": "1"}}],
            r"^bindings\[0\]\.match\.roles: takes a list of Discord role ids",
        ),
        (
            [{"agentId": "main", "match": {"channel": "discord", "guildId": {"id": 1}}}],
            r"^bindings\[0\]\.match\.guildId: takes a string or a whole number, not dict",
        ),
        (
            [
                {"agentId": "main", "match": {"channel": "telegram"}},
                {"agentId": "main", "match": {"channel": "slack", "teamId": 1.5}},
            ],
            r"^bindings\[1\]\.match\.teamId: takes a string or a whole number, not float",
        ),
    ],
)
def test_a_bad_binding_is_named_and_nothing_changes(bindings: Any, message: str) -> None:
    RoutingRuleFactory.create(agent=AgentFactory.create(slug="kept"), account_id="*")
    with pytest.raises(ConfigError, match=message):
        bindings_replace(bindings)
    assert [r[0] for r in _rules()] == ["kept"]
