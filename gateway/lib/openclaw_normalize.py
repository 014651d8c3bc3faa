"""An OpenClaw config document, sorted into what this gateway stores and what it does not.

``normalize`` reads a whole ``openclaw.json`` (after ``$include`` and ``${VAR}``) and
returns a ``Desired``: the agents, bindings, channel accounts, session settings and
gateway paths it asks for, each with the OpenClaw path it came from; the values the
environment fixes here (``gateway.port``, ...) to compare; and, by path, everything
this gateway has no place for (``not_mapped``). Values are not checked here: the
services that store them validate each one and name its path.

Both shapes of the agent roster are read: OpenClaw 2026.9's ``agents.entries.<id>``
(the default agent: ``agents.defaults.systemAgent.agentId``, else a ``default: true``
entry, else the first) and the older ``agents.list[]`` (the first ``default: true``
entry, else the first). The other sections: ``gateway.lib.openclaw_sections``; the
types: ``gateway.lib.openclaw_desired``.

Framework-free: no Django import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gateway.lib.openclaw_desired import (
    AGENT_LEAVES,
    AgentSpec,
    Desired,
    DocError,
    NotMapped,
    as_object,
    skip_rest,
)
from gateway.lib.openclaw_sections import SECTIONS, bindings_kept, channels
from gateway.lib.openclaw_source import config_path_join as join

__all__ = ["AGENT_LEAVES", "AgentSpec", "Desired", "DocError", "NotMapped", "normalize"]


# --- agents ---------------------------------------------------------------------------
def _pick(
    out: Desired,
    values: dict[str, Any],
    obj: Mapping[str, Any],
    where: str,
    *,
    keys: tuple[str, ...],
    prefix: str,
    why: str | None,
) -> None:
    """Copy ``keys`` of ``obj`` that are set into ``values`` as ``<prefix><key>``; report
    the others as not mapped (``why``), unless ``why`` is None (the caller does)."""
    for key in keys:
        if obj.get(key) is not None:
            values[f"{prefix}{key}"] = obj[key]
    if why is not None:
        skip_rest(out, {k: v for k, v in obj.items() if v is not None}, where, keys, why)


def _agent(out: Desired, slug: str, entry: Any, where: str) -> AgentSpec:
    body = as_object(entry, where, '{name: "Main", model: "openai/gpt-4o-mini"}')
    values: dict[str, Any] = {}
    identity = as_object(body.get("identity"), join(where, "identity"), '{emoji: "🦀"}')
    name = body.get("name") if body.get("name") is not None else identity.get("name")
    if name is not None:
        values["name"] = name
    if identity.get("name") is not None and identity.get("name") != name:
        out.skip(join(where, "identity.name"), f"the agent has one name here, {name!r}")
    identity = {k: v for k, v in identity.items() if k != "name"}
    kept = "only the identity's name and emoji are kept"
    ident = join(where, "identity")
    _pick(out, values, identity, ident, keys=("emoji",), prefix="identity.", why=kept)
    _pick(out, values, body, where, keys=("workspace",), prefix="", why=None)
    model = body.get("model")
    if isinstance(model, str):
        values["model.primary"] = model
    elif model is not None:
        model = as_object(model, join(where, "model"), '{primary: "openai/gpt-4o-mini"}')
        model_keys = ("primary", "fallbacks")
        where_model = join(where, "model")
        _pick(out, values, model, where_model, keys=model_keys, prefix="model.", why="not kept")
    tools = as_object(body.get("tools"), join(where, "tools"), '{profile: "coding"}')
    policy = "this tool policy key is not kept"
    tool_keys = ("profile", "allow", "deny")
    _pick(out, values, tools, join(where, "tools"), keys=tool_keys, prefix="tools.", why=None)
    skip_rest(out, tools, join(where, "tools"), ("profile", "allow", "deny", "sandbox"), policy)
    sandboxed = as_object(tools.get("sandbox"), join(where, "tools.sandbox"), "{tools: {}}")
    skip_rest(out, sandboxed, join(where, "tools.sandbox"), ("tools",), policy)
    where_tools = join(where, "tools.sandbox.tools")
    sandbox_tools = as_object(sandboxed.get("tools"), where_tools, '{allow: ["web_fetch"]}')
    prefix = "tools.sandbox.tools."
    _pick(
        out, values, sandbox_tools, where_tools, keys=("allow", "deny"), prefix=prefix, why=policy
    )
    sandbox = as_object(body.get("sandbox"), join(where, "sandbox"), '{mode: "non-main"}')
    kept = "only the sandbox's mode and workspaceAccess are kept"
    where_sandbox = join(where, "sandbox")
    sandbox_keys = ("mode", "workspaceAccess")
    _pick(out, values, sandbox, where_sandbox, keys=sandbox_keys, prefix="sandbox.", why=kept)
    used = ("id", "default", "name", "identity", "workspace", "model", "tools", "sandbox")
    skip_rest(out, body, where, used, "no per-agent setting of that name here")
    return AgentSpec(slug=slug, where=where, values=values, has_model=model is not None)


def _slug(raw: Any, where: str, normalize_id: Callable[[str], str]) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise DocError(f"{where} needs an id, e.g. {{id: 'main'}}")
    slug = normalize_id(raw)
    if slug != raw.strip().lower():
        raise DocError(f"{where}: {raw!r} is not an agent id; use 1-64 of a-z, 0-9, _ and -")
    return slug


def _roster(
    out: Desired, agents: Mapping[str, Any], normalize_id: Callable[[str], str]
) -> list[str]:
    """Read ``agents.list`` or ``agents.entries``; return the ids marked ``default``."""
    if "list" in agents and "entries" in agents:
        raise DocError("agents has both list and entries; keep one (entries is 2026.9's form)")
    listed = agents.get("list")
    if listed is not None and not isinstance(listed, list):
        raise DocError("agents.list must be a list of agents, e.g. [{id: 'main'}]")
    pairs = [
        (f"agents.list[{i}]", e.get("id") if isinstance(e, Mapping) else None, e)
        for i, e in enumerate(listed or [])
    ]
    entries = as_object(agents.get("entries"), "agents.entries", "{main: {}}")
    pairs += [(join("agents.entries", str(raw)), raw, e) for raw, e in entries.items()]
    marked: list[str] = []
    for where, raw, entry in pairs:
        slug = _slug(raw, where, normalize_id)
        if slug in out.agents:
            raise DocError(f"{where}: agent id {slug!r} is given twice")
        out.agents[slug] = _agent(out, slug, entry, where)
        if isinstance(entry, Mapping) and entry.get("default") is True:
            marked.append(slug)
    return marked


def _defaults(
    out: Desired, agents: Mapping[str, Any], normalize_id: Callable[[str], str]
) -> str | None:
    """Read ``agents.defaults``; return the system agent's id when it names one."""
    defaults = as_object(agents.get("defaults"), "agents.defaults", "{model: 'openai/gpt-4o'}")
    model = defaults.get("model")
    if isinstance(model, str):
        out.defaults_model = {"primary": model}
    elif model is not None:
        model = as_object(model, "agents.defaults.model", "{primary: 'openai/gpt-4o'}")
        out.defaults_model = {
            k: model[k] for k in ("primary", "fallbacks") if model.get(k) is not None
        }
    if isinstance(defaults.get("workspace"), str):
        out.defaults_workspace = defaults["workspace"]
    skip_rest(
        out,
        defaults,
        "agents.defaults",
        ("model", "workspace", "systemAgent"),
        "agent defaults other than model and workspace are not kept",
    )
    where = "agents.defaults.systemAgent"
    system = as_object(defaults.get("systemAgent"), where, "{agentId: 'main'}")
    skip_rest(out, system, where, ("agentId",), "not kept")
    owner = system.get("agentId")
    return normalize_id(owner) if isinstance(owner, str) and owner.strip() else None


def _agents(out: Desired, block: Any, normalize_id: Callable[[str], str]) -> None:
    agents = as_object(block, "agents", "{entries: {main: {}}}")
    marked = _roster(out, agents, normalize_id)
    owner = _defaults(out, agents, normalize_id)
    if owner is not None:
        marked.insert(0, owner)
    if agents.get("ownership") not in (None, "explicit"):
        out.skip("agents.ownership", "not kept")
    skip_rest(out, agents, "agents", ("list", "entries", "defaults", "ownership"), "not kept")
    if marked and marked[0] not in out.agents:
        raise DocError(
            f"the default agent {marked[0]!r} (agents.defaults.systemAgent.agentId or "
            f"default: true) is not an agent of the document; agents: {', '.join(out.agents)}"
        )
    out.default_agent = marked[0] if marked else next(iter(out.agents), None)


IGNORED_ROOTS = ("$schema", "meta")


def normalize(
    document: Mapping[str, Any],
    *,
    channel_kinds: tuple[str, ...],
    normalize_id: Callable[[str], str],
) -> Desired:
    """Sort ``document`` (see the module docstring); raises ``DocError`` on a bad shape."""
    out = Desired()
    if not isinstance(document, Mapping):
        raise DocError("the config must be an object ({...})")
    for root, block in document.items():
        if root == "agents":
            _agents(out, block, normalize_id)
        elif root == "channels":
            channels(out, block, channel_kinds)
        elif root == "bindings":
            if block is not None and not isinstance(block, list):
                raise DocError("bindings must be a list, e.g. [{agentId: 'main', match: {...}}]")
            out.bindings = bindings_kept(out, block or [])
        elif root in SECTIONS:
            SECTIONS[root](out, block)
        elif root == "env":
            out.skip("env", "used for ${VAR} substitution while reading, not kept")
        elif root not in IGNORED_ROOTS:
            out.skip(str(root), "no such section here")
    return out
