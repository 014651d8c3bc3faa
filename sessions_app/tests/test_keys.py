"""The session-key grammar (pure, no database)."""

from __future__ import annotations

import pytest

from sessions_app.lib import keys


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("main", "agent:ops:main"),
        ("MAIN", "agent:ops:main"),
        ("  main ", "agent:ops:main"),
        ("proxydemo", "agent:ops:proxydemo"),
        ("telegram:direct:42", "agent:ops:telegram:direct:42"),
        ("agent:main:main", "agent:main:main"),
        ("Agent:Main:Telegram:Direct:ABC", "agent:main:telegram:direct:abc"),
        ("global", "global"),
        ("unknown", "unknown"),
    ],
)
def test_it_canonicalizes_rpc_keys(raw: str, expected: str) -> None:
    assert keys.canonicalize(raw, default_agent="ops") == expected


@pytest.mark.parametrize("raw", ["agent:x", "agent:", "agent:main:", "agent::main", "agent:a b:c"])
def test_it_rejects_malformed_agent_keys(raw: str) -> None:
    with pytest.raises(keys.SessionKeyError, match="malformed session key"):
        keys.canonicalize(raw, default_agent="main")


def test_it_rejects_an_empty_key() -> None:
    with pytest.raises(keys.SessionKeyError, match="empty"):
        keys.canonicalize("  ", default_agent="main")


def test_the_default_agent_is_looked_up_only_when_needed() -> None:
    calls: list[int] = []

    def lookup() -> str:
        calls.append(1)
        return "ops"

    assert keys.canonicalize("agent:main:main", default_agent=lookup) == "agent:main:main"
    assert calls == []
    assert keys.canonicalize("main", default_agent=lookup) == "agent:ops:main"
    assert calls == [1]


def test_it_parses_the_agent_id() -> None:
    assert keys.parse_agent_id("agent:ops:telegram:direct:1") == "ops"
    assert keys.parse_agent_id("global") is None
    assert keys.parse_agent_id("agent:x") is None


def test_it_builds_main_keys_with_normalized_agent_ids() -> None:
    assert keys.main_session_key("main") == "agent:main:main"
    assert keys.main_session_key("My Agent!") == "agent:my-agent:main"
    assert keys.normalize_agent_id("***") == "main"


def test_main_key_detection() -> None:
    assert keys.is_main_key("agent:main:main")
    assert keys.is_main_key("agent:ops:main")
    assert not keys.is_main_key("agent:main:proxydemo")
    assert not keys.is_main_key("agent:main:telegram:direct:main")
    assert not keys.is_main_key("global")


@pytest.mark.parametrize(
    ("key", "chat_type", "kind", "channel"),
    [
        ("agent:main:main", "direct", "direct", None),
        ("agent:main:telegram:direct:42", "direct", "direct", "telegram"),
        ("agent:main:telegram:default:dm:42", "direct", "direct", "telegram"),
        ("agent:main:discord:group:9", "group", "group", "discord"),
        ("agent:main:slack:channel:c1:thread:171", "channel", "group", "slack"),
        ("agent:main:direct:alice", "direct", "direct", None),
        ("agent:main:cron:job-1", None, "direct", None),
        ("global", None, "global", None),
    ],
)
def test_it_reads_chat_type_kind_and_channel_from_the_key(
    key: str, chat_type: str | None, kind: str, channel: str | None
) -> None:
    assert keys.chat_type(key) == chat_type
    assert keys.session_kind(key) == kind
    assert keys.key_channel(key) == channel
