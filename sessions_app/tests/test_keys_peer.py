"""Session keys of channel conversations: dmScope, identityLinks, groups, threads (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from sessions_app.lib import keys


def _key(
    *,
    dm_scope: str = "main",
    identity_links: Mapping[str, Sequence[str]] | None = None,
    **overrides: Any,
) -> str:
    args: dict[str, Any] = {
        "agent_id": "main",
        "channel": "telegram",
        "account_id": "default",
        "peer_kind": "direct",
        "peer_id": "42",
    }
    args.update(overrides)
    return keys.peer_session_key(dm_scope=dm_scope, identity_links=identity_links, **args)


@pytest.mark.parametrize(
    ("dm_scope", "expected"),
    [
        ("main", "agent:main:main"),
        ("per-peer", "agent:main:direct:42"),
        ("per-channel-peer", "agent:main:telegram:direct:42"),
        ("per-account-channel-peer", "agent:main:telegram:work:direct:42"),
    ],
)
def test_direct_messages_by_dm_scope(dm_scope: str, expected: str) -> None:
    assert _key(dm_scope=dm_scope, account_id="work") == expected


def test_the_key_is_lowercased_and_ids_normalized() -> None:
    key = _key(
        dm_scope="per-account-channel-peer",
        agent_id="Ops Team",
        channel=" Slack ",
        account_id="Work Bot",
        peer_id=" U0ABC ",
    )
    assert key == "agent:ops-team:slack:work-bot:direct:u0abc"


def test_a_blank_account_is_the_default_account() -> None:
    assert _key(dm_scope="per-account-channel-peer", account_id="") == (
        "agent:main:telegram:default:direct:42"
    )


def test_main_scope_uses_the_configured_main_key() -> None:
    assert _key(main_key="Home") == "agent:main:home"
    assert _key(dm_scope="per-peer", peer_id="") == "agent:main:main"  # no peer: main


def test_the_key_keeps_the_canonical_shape() -> None:
    key = _key(dm_scope="per-channel-peer")
    assert keys.canonicalize(key, default_agent="x") == key
    assert keys.chat_type(key) == "direct"
    assert keys.key_channel(key) == "telegram"


LINKS = {"alice": ["telegram:42", "Discord:U0ABC"], "bob": ["777"]}


@pytest.mark.parametrize(
    ("dm_scope", "channel", "peer_id", "expected"),
    [
        ("per-peer", "telegram", "42", "agent:main:direct:alice"),
        ("per-peer", "discord", "u0abc", "agent:main:direct:alice"),  # case-insensitive
        ("per-channel-peer", "discord", "U0ABC", "agent:main:discord:direct:alice"),
        (
            "per-account-channel-peer",
            "telegram",
            "42",
            "agent:main:telegram:default:direct:alice",
        ),
        ("per-peer", "slack", "777", "agent:main:direct:bob"),  # a raw id: any channel
        ("per-peer", "discord", "42", "agent:main:direct:42"),  # telegram:42 only on telegram
        ("per-peer", "telegram", "43", "agent:main:direct:43"),
        ("main", "telegram", "42", "agent:main:main"),  # not used with dmScope main
    ],
)
def test_identity_links_give_one_person_one_session(
    dm_scope: str, channel: str, peer_id: str, expected: str
) -> None:
    assert _key(dm_scope=dm_scope, channel=channel, peer_id=peer_id, identity_links=LINKS) == (
        expected
    )


def test_identity_links_are_not_used_for_groups() -> None:
    key = _key(dm_scope="per-peer", peer_kind="group", peer_id="42", identity_links={"a": ["42"]})
    assert key == "agent:main:telegram:group:42"


@pytest.mark.parametrize("dm_scope", keys.DM_SCOPES)
@pytest.mark.parametrize(
    ("peer_kind", "expected"),
    [
        ("group", "agent:main:telegram:group:-100123"),
        ("supergroup", "agent:main:telegram:group:-100123"),
        ("channel", "agent:main:telegram:channel:-100123"),
    ],
)
def test_groups_and_channels_whatever_the_dm_scope(
    dm_scope: str, peer_kind: str, expected: str
) -> None:
    assert _key(dm_scope=dm_scope, peer_kind=peer_kind, peer_id="-100123") == expected


def test_a_group_key_is_a_group_session() -> None:
    key = _key(peer_kind="group", peer_id="-1")
    assert keys.session_kind(key) == "group"
    assert keys.key_channel(key) == "telegram"


@pytest.mark.parametrize(
    ("marker", "thread", "expected"),
    [
        ("topic", "7", "agent:main:telegram:group:-100:topic:7"),
        ("topic", 7, "agent:main:telegram:group:-100:topic:7"),
        ("thread", " 1712.55AB ", "agent:main:telegram:group:-100:thread:1712.55ab"),
        ("topic", "", "agent:main:telegram:group:-100"),
        ("topic", None, "agent:main:telegram:group:-100"),
    ],
)
def test_threads_and_topics(marker: str, thread: str | int | None, expected: str) -> None:
    base = _key(peer_kind="group", peer_id="-100")
    key = keys.thread_session_key(base, thread, marker=marker)
    assert key == expected
    assert keys.chat_type(key) == "group"


def test_a_topic_in_a_direct_chat() -> None:
    base = _key(dm_scope="per-channel-peer")
    assert keys.thread_session_key(base, "3", marker="topic") == (
        "agent:main:telegram:direct:42:topic:3"
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"peer_kind": "user"}, "peer kind 'user' is not one of direct, group, channel"),
        ({"dm_scope": "per-user"}, "dmScope 'per-user' is not one of main, per-peer"),
        ({"dm_scope": "per-peer", "peer_id": "9" * 600}, "longer than 512 characters"),
        ({"peer_kind": "group", "peer_id": "9" * 600}, "longer than 512 characters"),
    ],
)
def test_bad_input_is_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(keys.SessionKeyError, match=message):
        _key(**overrides)


def test_bad_thread_input_is_refused() -> None:
    with pytest.raises(keys.SessionKeyError, match="thread marker 'reply' is not one of"):
        keys.thread_session_key("agent:main:main", "1", marker="reply")
    with pytest.raises(keys.SessionKeyError, match="longer than 512"):
        keys.thread_session_key("agent:main:main", "x" * 520, marker="thread")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", "default"),
        (None, "default"),
        ("Work", "work"),
        ("  team_1 ", "team_1"),
        ("a b/c", "a-b-c"),
        ("--x--", "x"),
        ("!!!", "default"),
        ("__proto__", "default"),
        ("x" * 80, "x" * 64),
    ],
)
def test_account_ids_are_normalized_as_openclaw_does(raw: str | None, expected: str) -> None:
    assert keys.normalize_account_id(raw) == expected
