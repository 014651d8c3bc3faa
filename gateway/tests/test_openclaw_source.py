"""Reading openclaw.json as OpenClaw does (JSON5, $include, ${VAR}) and naming unknown keys;
framework-free, no database."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.lib.json5_errors import json5_problem
from gateway.lib.openclaw_keys import unknown_keys
from gateway.lib.openclaw_normalize import DocError, normalize
from gateway.lib.openclaw_source import SourceError, load_config, openclaw_paths, parse_json5
from gateway.lib.openclaw_state import transcript


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "where", "expected"),
    [
        ("{a: 1", "1:6", 'unexpected end of file; expected "," or "}"'),
        ("{a 1}", "1:4", 'unexpected "1"; expected ":"'),
        ("[1 2]", "1:4", 'unexpected "2"; expected "," or "]"'),
        ('{"a": tru}', "1:7", 'unexpected "tru"; expected a value'),
        ("{a: 1,, b: 2}", "1:7", 'unexpected ","; expected a key or "}"'),
        ("// note\n{a: /* x */ }", "2:13", 'unexpected "}"; expected a value'),
        ("{\n  list: [\n    {id: 'a'}\n    {id: 'b'}\n  ]\n}", "4:5", 'expected "," or "]"'),
        ('{a: "open', "1:10", 'unexpected end of file; expected the closing "'),
    ],
)
def test_a_json5_syntax_error_says_where_and_what_was_expected(
    text: str, where: str, expected: str
) -> None:
    with pytest.raises(SourceError) as caught:
        parse_json5(text, name="openclaw.json")
    assert caught.value.message.startswith(f"openclaw.json:{where}: ")
    assert expected in caught.value.message


def test_json5_accepts_what_json5_allows() -> None:
    assert parse_json5("{a: [1,], b: {c: 'x',}, /* c */ d: +1,}", name="x") == {
        "a": [1],
        "b": {"c": "x"},
        "d": 1,
    }
    assert json5_problem("{}", "Empty strings are not legal JSON5").expected.startswith("the end")


def test_include_single_list_and_siblings_follow_openclaw(tmp_path: Path) -> None:
    _write(tmp_path / "base.json5", "{session: {dmScope: 'per-peer'}, bindings: [{agentId: 'a'}]}")
    _write(tmp_path / "more.json5", "{bindings: [{agentId: 'b'}], session: {reset: {atHour: 3}}}")
    _write(tmp_path / "parts" / "agent.json5", "{name: 'Main', $include: '../leaf.json5'}")
    _write(tmp_path / "leaf.json5", "{model: 'openai/gpt-4o-mini'}")
    config = _write(
        tmp_path / "openclaw.json",
        """{
          $include: ['./base.json5', './more.json5'],
          session: {dmScope: 'main'},
          agents: {list: [{id: 'main', $include: './parts/agent.json5'}]},
        }""",
    )
    loaded = load_config(config, env={})
    assert loaded.document == {
        # lists concatenate, objects merge, the sibling's scalar wins
        "bindings": [{"agentId": "a"}, {"agentId": "b"}],
        "session": {"dmScope": "main", "reset": {"atHour": 3}},
        "agents": {"list": [{"id": "main", "name": "Main", "model": "openai/gpt-4o-mini"}]},
    }
    assert [p.name for p in loaded.files] == [
        "openclaw.json",
        "base.json5",
        "more.json5",
        "agent.json5",
        "leaf.json5",
    ]


def test_include_errors_name_the_file(tmp_path: Path) -> None:
    _write(tmp_path / "a.json5", "{$include: './b.json5'}")
    _write(tmp_path / "b.json5", "{$include: './a.json5'}")
    with pytest.raises(SourceError, match="circular \\$include"):
        load_config(_write(tmp_path / "openclaw.json", "{$include: './a.json5'}"), env={})
    with pytest.raises(SourceError, match="outside the config directory"):
        load_config(_write(tmp_path / "c.json", "{$include: '../elsewhere.json5'}"), env={})
    with pytest.raises(SourceError, match=r"'\./missing\.json5': .*no such file"):
        load_config(_write(tmp_path / "d.json", "{$include: './missing.json5'}"), env={})
    _write(tmp_path / "broken.json5", "{a: }")
    with pytest.raises(SourceError, match=r"broken\.json5:1:5: unexpected"):
        load_config(_write(tmp_path / "e.json", "{$include: './broken.json5'}"), env={})
    for depth in range(12):
        _write(tmp_path / f"deep{depth}.json5", f"{{$include: './deep{depth + 1}.json5'}}")
    _write(tmp_path / "deep12.json5", "{}")
    with pytest.raises(SourceError, match="more than 10 levels"):
        load_config(_write(tmp_path / "f.json", "{$include: './deep0.json5'}"), env={})


def test_env_substitution_rules(tmp_path: Path) -> None:
    config = _write(
        tmp_path / "openclaw.json",
        """{
          env: {vars: {FROM_CONFIG: 'c', SHADOWED: 'config'}, INLINE: 'i'},
          a: '${TOKEN}', b: 'x-$${TOKEN}-y', c: '${lower}', d: '${FROM_CONFIG}${INLINE}',
          e: '${SHADOWED}', f: '${DOTENV}', g: ['${TOKEN}'], '${KEY}': 1, h: '$5 ${',
        }""",
    )
    loaded = load_config(
        config, env={"TOKEN": "t", "SHADOWED": "env"}, dotenv={"DOTENV": "d", "TOKEN": "no"}
    )
    document = loaded.document
    assert document["a"] == "t"
    assert document["b"] == "x-${TOKEN}-y"  # $${VAR} escapes
    assert document["c"] == "${lower}"  # only uppercase names
    assert document["d"] == "ci"
    assert document["e"] == "env"  # the process wins over the config's env block
    assert document["f"] == "d"
    assert document["g"] == ["t"]
    assert "${KEY}" in document  # keys are not substituted
    assert document["h"] == "$5 ${"
    assert loaded.env_names == ("DOTENV", "FROM_CONFIG", "INLINE", "SHADOWED", "TOKEN")


def test_an_unset_variable_is_an_error_naming_the_config_path(tmp_path: Path) -> None:
    config = _write(tmp_path / "openclaw.json", "{channels: {telegram: {botToken: '${BOT}'}}}")
    with pytest.raises(SourceError) as caught:
        load_config(config, env={"BOT": ""})
    assert caught.value.message.startswith("channels.telegram.botToken references ${BOT}")
    assert "not set" in caught.value.message


def test_paths_follow_openclaw(tmp_path: Path) -> None:
    env = {"OPENCLAW_STATE_DIR": str(tmp_path / "s"), "OPENCLAW_CONFIG_PATH": str(tmp_path / "c")}
    assert openclaw_paths(None, env=env).state_dir == tmp_path / "s"
    assert openclaw_paths(None, env=env).config_path == tmp_path / "c"
    given = openclaw_paths(str(tmp_path / "d"), env=env)
    assert given.config_path == tmp_path / "d" / "openclaw.json"  # a given DIR wins
    assert openclaw_paths(None, env={}).state_dir == Path("~/.openclaw").expanduser()


def test_unknown_keys_are_named_with_the_closest_known_one() -> None:
    found = unknown_keys(
        {
            "sesion": {},
            "agents": {"list": [{"id": "main", "modle": "a/b"}], "defaults": {"workspce": "x"}},
            "channels": {"telegram": {"dmPolicy": "pairing", "allowFrm": []}, "whatsapp": {"x": 1}},
            "bindings": [{"agentId": "main", "match": {"chanel": "telegram"}}],
            "gateway": {"controlUi": {"allowedOrigin": []}},
        }
    )
    assert {(u.path, u.closest) for u in found} == {
        ("sesion", "session"),
        ("agents.list[0].modle", "agents.list[0].model"),
        ("agents.defaults.workspce", "agents.defaults.workspace"),
        ("channels.telegram.allowFrm", "channels.telegram.allowFrom"),
        ("bindings[0].match.chanel", "bindings[0].match.channel"),
        ("gateway.controlUi.allowedOrigin", "gateway.controlUi.allowedOrigins"),
    }
    assert "did you mean session?" in found[0].describe()
    # Keys of older releases OpenClaw still migrates, and this gateway's own, are known.
    assert unknown_keys({"cron": {"store": "x"}, "hooks": {"maxBodyBytes": 1}}) == []


def test_normalize_reads_both_agent_rosters_and_account_inheritance() -> None:
    kinds = ("telegram",)
    entries = normalize(
        {
            "agents": {
                "defaults": {"systemAgent": {"agentId": "work"}},
                "entries": {"main": {"model": "a/b"}, "work": {"identity": {"name": "W"}}},
            },
            "channels": {
                "telegram": {"dmPolicy": "allowlist", "accounts": {"x": {"botToken": "t"}}}
            },
        },
        channel_kinds=kinds,
        normalize_id=str.lower,
    )
    assert entries.default_agent == "work"
    assert entries.agents["main"].values == {"model.primary": "a/b"}
    assert entries.agents["work"].values == {"name": "W"}
    # No top-level token and accounts: the channel's keys are only inherited.
    assert list(entries.accounts) == [("telegram", "x")]
    assert entries.accounts[("telegram", "x")].values == {"botToken": "t", "dmPolicy": "allowlist"}
    listed = normalize(
        {"agents": {"list": [{"id": "a"}, {"id": "b", "default": True}]}},
        channel_kinds=kinds,
        normalize_id=str.lower,
    )
    assert listed.default_agent == "b"
    with pytest.raises(DocError, match="both list and entries"):
        normalize(
            {"agents": {"list": [], "entries": {}}}, channel_kinds=kinds, normalize_id=str.lower
        )


def test_a_transcript_keeps_its_active_branch(tmp_path: Path) -> None:
    from gateway.tests.openclaw_tree import transcript_lines

    path = tmp_path / "t.jsonl"
    import json

    path.write_text("\n".join(json.dumps(line) for line in transcript_lines()), encoding="utf-8")
    parsed = transcript(path)
    assert [e.entry_id for e in parsed.entries] == ["e1", "e3", "e4", "e6", "e7"]
    assert [e.role for e in parsed.entries] == [
        "user",
        "assistant",
        "tool",
        "compaction",
        "assistant",
    ]
    assert parsed.entries[1].model == "anthropic/claude-sonnet-4-6"
    assert parsed.skipped == {"entries on abandoned branches": 1, "model_change entries": 1}
    _write(tmp_path / "bad.jsonl", '{"type": "session"}\nnot json\n')
    with pytest.raises(SourceError, match=r"bad\.jsonl:2: not a JSON line"):
        transcript(tmp_path / "bad.jsonl")


def test_an_escaped_surrogate_pair_is_one_character() -> None:
    # JSON.stringify-style escapes (or Python's ensure_ascii): read as JavaScript reads them.
    assert parse_json5('{name: "\\ud83e\\udd9e Clawd"}', name="x") == {"name": "🦞 Clawd"}
