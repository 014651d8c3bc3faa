"""Routing by bindings: OpenClaw's precedence tiers (pure) and the cached selector."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents.lib.routing import Binding, Route, RouteInput, resolve_route, tier_of
from agents.selectors import ResolvedRoute, route_resolve
from agents.tests.factories import AgentFactory, RoutingRuleFactory

TG = "telegram"


def _route(bindings: list[Binding], **message: Any) -> Route:
    message.setdefault("channel", TG)
    return resolve_route(bindings, RouteInput(**message))


# --- the pure resolver ------------------------------------------------------------------
# One binding per tier, for the same telegram default account; listed least specific
# first, so config order would pick the wrong one if tiers did not decide.
EVERY_TIER = [
    Binding("by-channel", TG, account_id="*"),
    Binding("by-account", TG),
    Binding("by-team", TG, team_id="T1"),
    Binding("by-guild", TG, guild_id="G1"),
    Binding("by-guild-roles", TG, guild_id="G1", roles=("admin",)),
    Binding("by-parent", TG, peer_kind="group", peer_id="-100"),
    Binding("by-peer", TG, peer_kind="direct", peer_id="42"),
]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"peer_kind": "direct", "peer_id": "42"}, Route("by-peer", "binding.peer")),
        (
            {
                "peer_kind": "group",
                "peer_id": "-100:topic:7",
                "parent_peer_kind": "group",
                "parent_peer_id": "-100",
            },
            Route("by-parent", "binding.peer.parent"),
        ),
        (
            {"guild_id": "G1", "member_role_ids": ("user", "admin")},
            Route("by-guild-roles", "binding.guild+roles"),
        ),
        ({"guild_id": "G1", "member_role_ids": ("user",)}, Route("by-guild", "binding.guild")),
        ({"guild_id": "G1"}, Route("by-guild", "binding.guild")),
        ({"team_id": "T1"}, Route("by-team", "binding.team")),
        ({"peer_kind": "direct", "peer_id": "7"}, Route("by-account", "binding.account")),
        ({"account_id": "work"}, Route("by-channel", "binding.channel")),
        ({"channel": "discord"}, Route(None, "default")),
    ],
    ids=["peer", "parent", "guild+roles", "guild", "guild-no-roles", "team", "account",
         "channel", "default"],
)  # fmt: skip
def test_every_precedence_tier_wins_over_the_ones_below(
    message: dict[str, Any], expected: Route
) -> None:
    assert _route(EVERY_TIER, **message) == expected


def test_peer_wins_over_parent_peer_when_both_match() -> None:
    bindings = [
        Binding("parent", TG, peer_kind="group", peer_id="-100"),
        Binding("thread", TG, peer_kind="group", peer_id="-100:topic:7"),
    ]
    route = _route(
        bindings,
        peer_kind="group",
        peer_id="-100:topic:7",
        parent_peer_kind="group",
        parent_peer_id="-100",
    )
    assert route == Route("thread", "binding.peer")


def test_config_order_decides_within_a_tier() -> None:
    bindings = [
        Binding("first", TG, account_id="*"),
        Binding("second", TG, account_id="*"),
        Binding("peer-a", TG, peer_kind="direct", peer_id="1"),
        Binding("peer-b", TG, peer_kind="direct", peer_id="1"),
    ]
    assert _route(bindings, account_id="x") == Route("first", "binding.channel")
    assert _route(bindings, peer_kind="direct", peer_id="1") == Route("peer-a", "binding.peer")
    assert _route(list(reversed(bindings)), account_id="x") == Route("second", "binding.channel")


def test_a_binding_with_peer_and_guild_needs_both() -> None:
    bindings = [Binding("both", "discord", peer_kind="channel", peer_id="C1", guild_id="G1")]
    both = {"channel": "discord", "peer_kind": "channel", "peer_id": "C1"}
    assert _route(bindings, **both, guild_id="G1") == Route("both", "binding.peer")
    assert _route(bindings, **both, guild_id="G2") == Route(None, "default")
    assert _route(bindings, **both) == Route(None, "default")
    # ... and it does not fall to the guild tier when only the guild matches.
    assert _route(bindings, channel="discord", guild_id="G1") == Route(None, "default")


def test_a_peer_binding_with_roles_needs_one_of_them() -> None:
    bindings = [
        Binding("mods", "discord", peer_kind="channel", peer_id="C1", guild_id="G", roles=("m",))
    ]
    message = {"channel": "discord", "peer_kind": "channel", "peer_id": "C1", "guild_id": "G"}
    assert _route(bindings, **message, member_role_ids=("m",)).agent_id == "mods"
    assert _route(bindings, **message, member_role_ids=("x",)).agent_id is None


@pytest.mark.parametrize(
    ("binding_kind", "message_kind"),
    [("group", "channel"), ("channel", "group"), ("group", "supergroup")],
)
def test_group_and_channel_peer_kinds_match_each_other(
    binding_kind: str, message_kind: str
) -> None:
    bindings = [Binding("grp", TG, peer_kind=binding_kind, peer_id="-100")]
    route = _route(bindings, peer_kind=message_kind, peer_id="-100")
    assert route == Route("grp", "binding.peer")


def test_direct_does_not_match_a_group_peer_and_dm_is_direct() -> None:
    bindings = [Binding("grp", TG, peer_kind="group", peer_id="42")]
    assert _route(bindings, peer_kind="direct", peer_id="42") == Route(None, "default")
    legacy = [Binding("dm", TG, peer_kind="dm", peer_id="42")]
    assert _route(legacy, peer_kind="direct", peer_id="42") == Route("dm", "binding.peer")


def test_peer_ids_match_exactly_after_trimming() -> None:
    bindings = [Binding("abc", "slack", peer_kind="direct", peer_id="U0ABC")]
    assert _route(bindings, channel="slack", peer_kind="direct", peer_id=" U0ABC ").agent_id
    assert _route(bindings, channel="slack", peer_kind="direct", peer_id="u0abc").agent_id is None


@pytest.mark.parametrize(
    ("pattern", "account", "matches"),
    [
        ("", "default", True),
        ("", "", True),  # a message without an account id is the default account's
        ("", "work", False),
        ("*", "work", True),
        ("*", "default", True),
        ("work", "work", True),
        ("Work", "WORK", True),  # ids are normalized: lowercase
        ("work bot", "work-bot", True),  # ... and invalid characters collapse to -
        ("work", "default", False),
        ("work", "other", False),
        ("default", "", True),
    ],
)
def test_account_id_matching(pattern: str, account: str, matches: bool) -> None:
    bindings = [Binding("a", TG, account_id=pattern)]
    assert (_route(bindings, account_id=account).agent_id == "a") is matches


def test_channel_names_are_lowercased_and_other_channels_ignored() -> None:
    bindings = [Binding("tg", " Telegram ", account_id="*"), Binding("dc", "discord")]
    assert _route(bindings, channel="TELEGRAM") == Route("tg", "binding.channel")
    assert _route(bindings, channel="slack") == Route(None, "default")


def test_an_account_binding_beats_a_channel_binding_listed_before_it() -> None:
    bindings = [Binding("any", TG, account_id="*"), Binding("work", TG, account_id="work")]
    assert _route(bindings, account_id="work") == Route("work", "binding.account")


def test_guild_and_team_tiers_need_the_message_to_name_them() -> None:
    bindings = [Binding("g", "discord", guild_id="G1"), Binding("t", "slack", team_id="T1")]
    assert _route(bindings, channel="discord", guild_id="G2") == Route(None, "default")
    assert _route(bindings, channel="slack") == Route(None, "default")
    assert _route(bindings, channel="slack", team_id="T1") == Route("t", "binding.team")


def test_a_peer_binding_without_a_known_kind_never_matches() -> None:
    broken = Binding("broken", TG, peer_kind="user", peer_id="42")
    assert tier_of(broken) is None
    assert _route([broken], peer_kind="direct", peer_id="42") == Route(None, "default")
    assert tier_of(Binding("ok", TG, team_id="T")) == "binding.team"


# --- the selector: rules from the database, cached --------------------------------------
@pytest.fixture
def routes() -> Callable[..., ResolvedRoute]:
    def resolve(**kwargs: Any) -> ResolvedRoute:
        kwargs.setdefault("channel", TG)
        kwargs.setdefault("account_id", "default")
        kwargs.setdefault("peer_kind", "direct")
        kwargs.setdefault("peer_id", "42")
        return route_resolve(**kwargs)

    return resolve


@pytest.mark.django_db
def test_without_rules_the_default_agent_answers(routes: Callable[..., ResolvedRoute]) -> None:
    assert routes() == ResolvedRoute("main", "default")  # no agent at all yet: OpenClaw's main
    AgentFactory.create(slug="ops", is_default=True)
    AgentFactory.create(slug="aaa")
    assert routes() == ResolvedRoute("ops", "default")


@pytest.mark.django_db
def test_rules_route_by_tier_and_priority(routes: Callable[..., ResolvedRoute]) -> None:
    AgentFactory.create(slug="main", is_default=True)
    support, family, late = (AgentFactory.create(slug=s) for s in ("support", "family", "late"))
    RoutingRuleFactory.create(agent=late, account_id="*", priority=0)
    RoutingRuleFactory.create(agent=support, account_id="default", priority=5)
    RoutingRuleFactory.create(
        agent=family, account_id="", peer_kind="direct", peer_id="42", priority=9
    )
    RoutingRuleFactory.create(agent=late, account_id="default", priority=7)

    assert routes() == ResolvedRoute("family", "binding.peer")
    assert routes(peer_id="7") == ResolvedRoute("support", "binding.account")
    assert routes(account_id="work") == ResolvedRoute("late", "binding.channel")
    assert routes(channel="discord") == ResolvedRoute("main", "default")


@pytest.mark.django_db
def test_a_disabled_rule_falls_back_to_the_default_agent(
    routes: Callable[..., ResolvedRoute],
) -> None:
    AgentFactory.create(slug="main", is_default=True)
    RoutingRuleFactory.create(
        agent=AgentFactory.create(slug="off"),
        account_id="*",
        peer_kind="direct",
        peer_id="42",
        enabled=False,
    )
    assert routes() == ResolvedRoute("main", "default")


@pytest.mark.django_db
def test_the_rules_are_cached_and_a_change_clears_them(
    routes: Callable[..., ResolvedRoute],
) -> None:
    AgentFactory.create(slug="main", is_default=True)
    routes()
    with CaptureQueriesContext(connection) as queries:
        assert routes() == ResolvedRoute("main", "default")
    assert len(queries) == 0

    rule = RoutingRuleFactory.create(agent=AgentFactory.create(slug="new"), account_id="*")
    assert routes() == ResolvedRoute("new", "binding.channel")  # the save cleared the cache

    rule.enabled = False
    rule.save()
    assert routes() == ResolvedRoute("main", "default")

    rule.delete()
    assert routes(peer_id="1") == ResolvedRoute("main", "default")


@pytest.mark.django_db
def test_a_new_default_agent_clears_the_cache(routes: Callable[..., ResolvedRoute]) -> None:
    main = AgentFactory.create(slug="main", is_default=True)
    assert routes() == ResolvedRoute("main", "default")
    main.is_default = False
    main.save()
    AgentFactory.create(slug="boss", is_default=True)
    assert routes() == ResolvedRoute("boss", "default")
