"""The pure parts of the HTTP APIs: hook policy and mappings, OpenAI request rules."""

from __future__ import annotations

import pytest

from gateway.lib import hook_mappings as hm
from gateway.lib.hooks import (
    HookError,
    HooksPolicy,
    agent_normalize,
    hooks_clean,
    wake_normalize,
)
from gateway.lib.openai_wire import (
    ChatCompletionRequest,
    Entry,
    ResponsesRequest,
    WireError,
    agent_of,
    prompt_build,
    session_key_of,
)


def _ctx(payload: dict[str, object], **kw: object) -> hm.MappingContext:
    return hm.MappingContext(
        payload=payload,
        headers=dict(kw.get("headers") or {}),  # type: ignore[call-overload]
        query=dict(kw.get("query") or {}),  # type: ignore[call-overload]
        path=str(kw.get("path") or "x"),
    )


# --- hooks -----------------------------------------------------------------------------------
def test_templates_render_payload_headers_query_and_json() -> None:
    ctx = _ctx(
        {"a": {"b": [1, {"c": "deep"}]}, "n": 3, "flag": True, "obj": {"k": 1}},
        headers={"x-event": "push"},
        query={"q": "1"},
        path="gh",
    )
    template = (
        "{{a.b[1].c}} {{payload.n}} {{flag}} {{obj}} {{headers.X-Event}} {{query.q}} {{path}}"
    )
    assert hm.render(template, ctx) == 'deep 3 true {"k":1} push 1 gh'
    assert hm.render("{{missing.x}}|{{a.b[9]}}|{{constructor}}", ctx) == "||"


def test_the_first_matching_mapping_wins_by_path_and_source() -> None:
    mappings = hm.mappings_resolve(
        [
            {"match": {"path": "in", "source": "gmail"}, "messageTemplate": "mail"},
            {"match": {"path": "/in/"}, "messageTemplate": "any"},
        ],
        (),
    )
    assert hm.mapping_match(mappings, _ctx({"source": "gmail"}, path="in")) is mappings[0]
    assert hm.mapping_match(mappings, _ctx({}, path="in")) is mappings[1]
    assert hm.mapping_match(mappings, _ctx({}, path="out")) is None


def test_mapping_ids_default_and_presets_follow_the_configured_ones() -> None:
    mappings = hm.mappings_resolve([{"messageTemplate": "x"}], ["gmail"])
    assert [m.id for m in mappings] == ["mapping-1", "gmail"]


def test_session_key_policy() -> None:
    policy = HooksPolicy(token="t", allowed_prefixes=("hook:",))
    assert policy.session_key(None, source="request", new_id=lambda: "u") == "hook:u"
    with pytest.raises(HookError, match="allowRequestSessionKey"):
        policy.session_key("hook:a", source="request")
    assert policy.session_key("hook:a", source="mapping") == "hook:a"
    with pytest.raises(HookError, match="must start with one of: hook:"):
        policy.session_key("agent:main:main", source="mapping")
    assert (
        HooksPolicy(token="t", default_session_key="hook:in").session_key(None, source="request")
        == "hook:in"
    )


def test_agent_policy_counts_an_unknown_agent_as_the_default() -> None:
    policy = HooksPolicy(token="t", allowed_agent_ids=frozenset({"ops"}))
    known = {"ops", "main"}.__contains__
    assert policy.agent_allowed(None, known=known)
    assert policy.agent_allowed("OPS", known=known)
    assert not policy.agent_allowed("main", known=known)
    assert not policy.agent_allowed("ghost", known=known)
    assert policy.target_agent("ghost", known=known) is None


def test_payload_normalization() -> None:
    assert wake_normalize({"text": " hi ", "mode": "weird"}).mode == "now"
    action = agent_normalize(
        {"message": "m", "deliver": False, "timeoutSeconds": 12.7, "channel": "LAST"},
        channels=(),
    )
    assert (action.name, action.deliver, action.timeout_seconds, action.channel) == (
        "Hook",
        False,
        12,
        "last",
    )
    with pytest.raises(HookError, match="model required"):
        agent_normalize({"message": "m", "model": " "}, channels=())


def test_hooks_clean_keeps_defaults_and_drops_nothing_it_was_given() -> None:
    cleaned = hooks_clean({"enabled": True, "allowedAgentIds": "main, ops"}, has_token=True)
    assert cleaned == {
        "enabled": True,
        "path": "/hooks",
        "maxBodyBytes": 262144,
        "allowRequestSessionKey": False,
        "allowedAgentIds": ["main", "ops"],
    }


# --- OpenAI ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("model", "header", "agent"),
    [
        ("openclaw", None, None),
        ("openclaw/default", None, None),
        ("openclaw/Ops", None, "ops"),
        ("openclaw:ops", None, "ops"),
        ("agent:ops", None, "ops"),
        ("gpt-4o", "ops", "ops"),
    ],
)
def test_the_agent_comes_from_the_header_or_the_model(
    model: str, header: str | None, agent: str | None
) -> None:
    assert agent_of(model, header) == agent


def test_an_unaccepted_model_form_is_a_wire_error() -> None:
    with pytest.raises(WireError) as caught:
        agent_of("gpt-4o", None)
    assert (caught.value.param, caught.value.code) == ("model", "model_not_found")


def test_session_keys() -> None:
    fresh = session_key_of(agent="ops", header=None, user=None, prefix="openai", new_id=lambda: "u")
    assert fresh == "agent:ops:openai:u"
    assert session_key_of(agent=None, header=None, user="Ann", prefix="openresponses") == (
        "openresponses-user:ann"
    )
    assert session_key_of(agent="ops", header="work", user="x", prefix="openai") == (
        "agent:ops:work"
    )
    with pytest.raises(WireError):
        session_key_of(agent="ops", header="agent:x", user=None, prefix="openai")


def test_the_prompt_answers_the_last_user_or_tool_entry() -> None:
    entries = [
        Entry("user", "User", "q"),
        Entry("tool", "Tool:t", "r"),
        Entry("assistant", "Assistant", "a"),
    ]
    assert prompt_build(entries).endswith("[Current message - respond to this]\nTool:t: r")
    assert prompt_build([Entry("user", "User", "only")]) == "only"
    assert prompt_build([]) == ""


def test_requests_build_their_prompts() -> None:
    chat = ChatCompletionRequest.model_validate(
        {"model": "openclaw", "messages": [{"role": "function", "name": "calc", "content": "4"}]}
    )
    assert chat.prompt() == "4"
    responses = ResponsesRequest.model_validate(
        {
            "model": "openclaw",
            "input": [
                {"role": "developer", "content": "terse"},
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "hi"}],
                },
                {"type": "function_call_output", "call_id": "c1", "output": "done"},
            ],
        }
    )
    assert responses.prompt() == (
        "[Instructions from the API caller]\nterse\n\n"
        "[Chat messages since your last reply - for context]\nUser: hi\n\n"
        "[Current message - respond to this]\nTool:c1: done"
    )
