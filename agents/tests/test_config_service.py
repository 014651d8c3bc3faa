"""Setting the model and tools by OpenClaw config path: service and config.patch.

The ``config`` command is tested in ``gateway/tests/test_config_command.py``.
"""

from __future__ import annotations

import pytest

from agents.models import Agent
from agents.services.config import ConfigError, config_patch, config_set, parse_path
from gateway.methods.registry import MethodError
from gateway.tests.test_methods_catalog import call

pytestmark = pytest.mark.django_db


@pytest.fixture
def agents() -> tuple[Agent, Agent]:
    return (
        Agent.objects.create(slug="main", is_default=True),
        Agent.objects.create(slug="ops"),
    )


def test_parse_path() -> None:
    assert parse_path("agents.list[1].model.primary") == ["agents", "list", 1, "model", "primary"]
    with pytest.raises(ConfigError, match="empty"):
        parse_path("  ")


def test_config_set_the_default_model_and_an_agents_fallbacks(agents: tuple[Agent, Agent]) -> None:
    config_set("agents.defaults.model.primary", "openai/gpt-4o-mini")
    config_set("agents.list[1].model.fallbacks", ["anthropic/claude-haiku-4-5"])
    config_set("agents.list[1].tools.deny", "exec, web_fetch")
    main, ops = (Agent.objects.get(slug=s) for s in ("main", "ops"))
    assert main.model_primary == "openai/gpt-4o-mini"
    assert ops.model_fallbacks == ["anthropic/claude-haiku-4-5"]
    assert ops.tools_deny == ["exec", "web_fetch"]
    config_set("agents.defaults.model.primary", None)
    assert Agent.objects.get(slug="main").model_primary == ""


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("agents.defaults.model.primary", "gpt-4o", "not provider/model"),
        ("gateway.port", 1, "cannot set gateway.port"),
        ("agents.list[7].model", "a/b", r"agents.list\[7\] does not exist"),
        ("agents.list[0].tools.profile", "everything", "not a valid choice"),
        ("agents.list[0].model.fallbacks", 3, "list of strings"),
    ],
)
def test_config_set_refuses_bad_paths_and_values(
    agents: tuple[Agent, Agent], path: str, value: object, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        config_set(path, value)


def test_config_patch_is_all_or_nothing(agents: tuple[Agent, Agent]) -> None:
    changed = config_patch(
        {
            "agents": {
                "defaults": {"model": {"primary": "anthropic/claude-sonnet-4-6"}},
                "list": [{"id": "ops", "model": "openai/gpt-4o", "sandbox": {"mode": "all"}}],
            }
        }
    )
    assert len(changed) == 3
    assert Agent.objects.get(slug="ops").sandbox_mode == "all"
    with pytest.raises(ConfigError, match="cannot set gateway, messages here"):
        config_patch(
            {
                "agents": {"defaults": {"model": {"primary": "a/b"}}},
                "gateway": {},
                "messages": {"queue": {"mode": "x"}},
            }
        )
    assert Agent.objects.get(slug="main").model_primary == "anthropic/claude-sonnet-4-6"


def test_config_patch_rpc_needs_the_current_hash(agents: tuple[Agent, Agent]) -> None:
    raw = "{agents: {defaults: {model: {primary: 'openai/gpt-4o-mini'}}}}"  # JSON5
    with pytest.raises(MethodError, match="base hash required"):
        call("config.patch", {"raw": raw})
    with pytest.raises(MethodError, match="changed since last load"):
        call("config.patch", {"raw": raw, "baseHash": "0" * 64})
    base = call("config.get")["hash"]
    answer = call("config.patch", {"raw": raw, "baseHash": base})
    assert answer["ok"]
    assert answer["config"]["agents"]["defaults"]["model"]["primary"] == "openai/gpt-4o-mini"
    with pytest.raises(MethodError, match="not valid JSON5"):
        call("config.patch", {"raw": "{oops", "baseHash": call("config.get")["hash"]})
    # config.set replaces the whole document: agents left out are refused, not deleted.
    with pytest.raises(MethodError, match="are not in the document"):
        call("config.set", {"raw": "{}", "baseHash": call("config.get")["hash"]})


def test_unset_restores_the_model_default(agents: tuple[Agent, Agent]) -> None:
    config_set("agents.list[0].sandbox.mode", "all")
    config_set("agents.list[0].sandbox.mode", None)
    assert Agent.objects.get(slug="main").sandbox_mode == Agent.SandboxMode.NON_MAIN


def test_sandbox_workspace_access_and_tool_policy_by_config_path(
    agents: tuple[Agent, Agent],
) -> None:
    config_set("agents.list[1].sandbox.workspaceAccess", "ro")
    config_set("agents.list[1].tools.sandbox.tools.allow", "web_fetch, message")
    config_set("agents.list[1].tools.sandbox.tools.deny", ["exec"])
    ops = Agent.objects.get(slug="ops")
    assert ops.sandbox_workspace_access == Agent.WorkspaceAccess.RO
    assert (ops.sandbox_tools_allow, ops.sandbox_tools_deny) == (["web_fetch", "message"], ["exec"])
    config_set("agents.list[1].sandbox.workspaceAccess", None)
    config_set("agents.list[1].tools.sandbox.tools.allow", None)
    ops.refresh_from_db()
    assert (ops.sandbox_workspace_access, ops.sandbox_tools_allow) == ("none", [])


def test_sandbox_settings_by_config_patch_and_their_errors(agents: tuple[Agent, Agent]) -> None:
    changed = config_patch(
        {
            "agents": {
                "list": [
                    {
                        "id": "main",
                        "sandbox": {"mode": "non-main", "workspaceAccess": "rw"},
                        "tools": {"sandbox": {"tools": {"allow": ["group:memory"]}}},
                    }
                ]
            }
        }
    )
    assert "agents.list[id=main].tools.sandbox.tools.allow" in changed
    main = Agent.objects.get(slug="main")
    assert (main.sandbox_workspace_access, main.sandbox_tools_allow) == ("rw", ["group:memory"])
    with pytest.raises(ConfigError, match="not a valid choice"):
        config_set("agents.list[0].sandbox.workspaceAccess", "readonly")
    with pytest.raises(ConfigError, match=r'list of strings, e.g. \["web_fetch"\]'):
        config_set("agents.list[0].tools.sandbox.tools.deny", 3)
    with pytest.raises(ConfigError, match="sandbox_tools_allow: Enter a JSON list"):
        config_set("agents.list[0].tools.sandbox.tools.allow", ["exec", ""])
    with pytest.raises(ConfigError, match=r"tools\.sandbox\.tools\.allow"):
        config_set("agents.list[0].tools.sandbox.allow", ["exec"])  # lists what is settable
    assert Agent.objects.get(slug="main").sandbox_workspace_access == "rw"
