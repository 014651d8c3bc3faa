"""The access decisions of channels_app.lib.access: every dmPolicy, groupPolicy and gate."""

from __future__ import annotations

import pytest

from channels_app.lib.access import (
    Decision,
    Policy,
    Sender,
    decide_direct,
    decide_group,
    is_owner,
)

ALICE = Sender(id="111", username="Alice")
BOB = Sender(id="222", username="bob")


def test_pairing_is_the_default_and_unknown_senders_get_a_code() -> None:
    decision = decide_direct(Policy(kind="telegram"), BOB, approved=False)
    assert (decision.action, decision.owner) == ("pair", False)


def test_a_paired_sender_talks_but_is_not_an_owner() -> None:
    decision = decide_direct(Policy(kind="telegram"), BOB, approved=True)
    assert (decision.action, decision.owner) == ("accept", False)


@pytest.mark.parametrize("entry", ["111", "tg:111", "telegram:111", "@alice", "@ALICE", 111])
def test_allow_from_names_owners_by_id_username_or_prefix(entry: object) -> None:
    policy = Policy(kind="telegram", allow_from=(str(entry),))
    assert is_owner(policy, ALICE)
    decision = decide_direct(policy, ALICE, approved=False)
    assert (decision.action, decision.owner) == ("accept", True)


def test_allowlist_drops_unknown_senders_silently() -> None:
    policy = Policy(kind="telegram", dm_policy="allowlist", allow_from=("111",))
    assert decide_direct(policy, ALICE, approved=False).action == "accept"
    decision = decide_direct(policy, BOB, approved=False)
    assert decision.action == "drop"
    assert "allowFrom" in decision.reason
    # an approved pairing counts under allowlist too (OpenClaw merges the two lists)
    assert decide_direct(policy, BOB, approved=True).action == "accept"


def test_open_needs_the_wildcard_and_makes_no_one_an_owner() -> None:
    open_policy = Policy(kind="telegram", dm_policy="open", allow_from=("*",))
    decision = decide_direct(open_policy, BOB, approved=False)
    assert (decision.action, decision.owner) == ("accept", False)
    refused = decide_direct(Policy(kind="telegram", dm_policy="open"), BOB, approved=False)
    assert refused.action == "drop"
    assert '"*"' in refused.reason


@pytest.mark.parametrize("mode", ["disabled", "bogus"])
def test_disabled_or_unknown_dm_policy_accepts_nothing(mode: str) -> None:
    policy = Policy(kind="telegram", dm_policy=mode, allow_from=("111",))
    assert decide_direct(policy, ALICE, approved=True).action == "drop"


def _group(
    policy: Policy, sender: Sender = ALICE, *, chat: str = "-100", mentioned: bool = True
) -> Decision:
    return decide_group(policy, sender, chat_id=chat, mentioned=mentioned)


def test_groups_are_allowlisted_by_default_and_unlisted_groups_dropped() -> None:
    assert _group(Policy(kind="telegram")).action == "drop"
    listed = Policy(kind="telegram", groups={"-100": {}})
    assert _group(listed).action == "accept"
    assert _group(listed, chat="-200").action == "drop"
    wildcard = Policy(kind="telegram", groups={"*": {}})
    assert _group(wildcard, chat="-200").action == "accept"


def test_group_policy_open_and_disabled() -> None:
    assert _group(Policy(kind="telegram", group_policy="open")).action == "accept"
    assert (
        _group(Policy(kind="telegram", group_policy="disabled", groups={"*": {}})).action == "drop"
    )


def test_a_disabled_group_entry_wins_over_the_wildcard() -> None:
    policy = Policy(kind="telegram", group_policy="open", groups={"-100": {"enabled": False}})
    decision = _group(policy)
    assert decision.action == "drop"
    assert "disabled" in decision.reason


def test_group_senders_from_the_group_then_group_allow_from_then_allow_from() -> None:
    per_group = Policy(
        kind="telegram", groups={"-100": {"allowFrom": ["222"]}}, allow_from=("111",)
    )
    assert _group(per_group, BOB).action == "accept"
    assert _group(per_group, ALICE).action == "drop"
    by_group_list = Policy(kind="telegram", groups={"*": {}}, group_allow_from=("@bob",))
    assert _group(by_group_list, BOB).action == "accept"
    assert _group(by_group_list, ALICE).action == "drop"
    fallback = Policy(kind="telegram", groups={"*": {}}, allow_from=("111",))
    assert _group(fallback, ALICE).action == "accept"
    assert _group(fallback, BOB).action == "drop"
    anyone = Policy(kind="telegram", groups={"*": {}})
    assert _group(anyone, BOB).action == "accept"


def test_mention_gating_defaults_on_and_is_set_per_group_or_wildcard() -> None:
    gated = Policy(kind="telegram", groups={"*": {}})
    assert _group(gated, mentioned=False).reason.startswith("not mentioned")
    assert _group(gated, mentioned=True).action == "accept"
    per_group = Policy(kind="telegram", groups={"-100": {"requireMention": False}, "*": {}})
    assert _group(per_group, mentioned=False).action == "accept"
    assert _group(per_group, chat="-200", mentioned=False).action == "drop"
    wildcard_off = Policy(kind="telegram", groups={"*": {"requireMention": False}})
    assert _group(wildcard_off, mentioned=False).action == "accept"
    account_off = Policy(kind="telegram", groups={"*": {}}, require_mention=False)
    assert _group(account_off, mentioned=False).action == "accept"


def test_pairing_approval_grants_no_group_access_and_owners_are_marked() -> None:
    policy = Policy(
        kind="telegram", groups={"*": {}}, group_allow_from=("111",), allow_from=("111",)
    )
    assert _group(policy, ALICE).owner is True
    assert _group(policy, BOB).action == "drop"
