"""Write use-cases of the agents app, and where an agent's sessions run and work."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from agents.lib import workspace
from agents.models import Agent
from agents.selectors import default_agent
from sessions_app.lib import keys

_UNSAFE_FOLDER_CHARS = re.compile(r"[^a-z0-9_-]+")


def agent_workspace_path(agent: Agent) -> Path:
    """Return the agent's workspace folder: its own setting, else <data dir>/workspaces/<id>."""
    if agent.workspace:
        return Path(agent.workspace).expanduser()
    return Path(settings.WORKSPACES_DIR) / agent.slug


# --- sandbox (OpenClaw agents.list[].sandbox, reference spec §10) ------------------------
def agent_session_sandboxed(
    *, agent: Agent, session_key: str, untrusted_sender: bool = False
) -> bool:
    """Return True when ``agent``'s turns in the session ``session_key`` run sandboxed.

    The one place of the rule (sandbox mode "all": every session; "non-main": every
    session but the agent's main one; "off": none). A turn for an untrusted sender (a
    channel message from someone who is not an owner) is sandboxed whatever the mode and
    the session. The run loop asks it for its own session, sessions_send for the session
    it would post to. ``session_key`` must be canonical
    (``agents.services.runs.session_key_canonical``).
    """
    if untrusted_sender:
        return True
    mode = agent.sandbox_mode
    if mode == Agent.SandboxMode.OFF:
        return False
    if mode == Agent.SandboxMode.NON_MAIN:
        return session_key != keys.main_session_key(agent.slug)
    return True  # "all", and any unknown value: the safe side


def sandbox_workspace_path(*, agent: Agent, session_key: str) -> Path:
    """Return ``<data dir>/sandboxes/<agent id>/<session folder>`` for a session.

    The folder name is the key made safe (lowercase letters, digits, ``-`` and ``_``,
    cut to 64) plus 12 hex digits of its SHA-256, so distinct keys never share a folder.
    """
    readable = _UNSAFE_FOLDER_CHARS.sub("-", session_key.lower()).strip("-")[:64] or "session"
    digest = hashlib.sha256(session_key.encode("utf-8")).hexdigest()[:12]
    return Path(settings.DATA_DIR) / "sandboxes" / agent.slug / f"{readable}-{digest}"


@dataclass(frozen=True)
class SessionWorkspace:
    """Where a session's tools work, and how (OpenClaw ``sandbox.workspaceAccess``)."""

    path: Path
    # "rw" (writable), "ro" (read-only) or "none" (``path`` is the session's own).
    access: str
    # File names relative to ``path`` that the session may not change.
    protected_files: frozenset[str] = frozenset()


def session_workspace_prepare(
    *, agent: Agent, session_key: str, untrusted_sender: bool = False
) -> SessionWorkspace:
    """Return the workspace the tools of ``agent``'s session ``session_key`` work in.

    Unsandboxed sessions get the agent's workspace, writable. Sandboxed ones follow the
    agent's ``sandbox_workspace_access``: "none" (the default) a per-session sandbox
    workspace, created and seeded with copies of the agent's prompt files on first use
    (so it never changes the agent's); "ro" the agent's workspace read-only; "rw" the
    agent's workspace with its prompt files protected. The system prompt always comes
    from the agent's own workspace, whatever this returns.
    """
    agent_ws = agent_workspace_path(agent)
    if not agent_session_sandboxed(
        agent=agent, session_key=session_key, untrusted_sender=untrusted_sender
    ):
        return SessionWorkspace(agent_ws, Agent.WorkspaceAccess.RW)
    access = agent.sandbox_workspace_access
    if access == Agent.WorkspaceAccess.RO:
        return SessionWorkspace(agent_ws, Agent.WorkspaceAccess.RO)
    if access == Agent.WorkspaceAccess.RW:
        return SessionWorkspace(agent_ws, Agent.WorkspaceAccess.RW, workspace.PROMPT_FILES)
    path = sandbox_workspace_path(agent=agent, session_key=session_key)
    if not path.is_dir():
        # Seed from the operator's files, which need to exist first on a new agent.
        workspace.workspace_ensure(
            agent_ws, agent_id=agent.slug, agent_name=agent.name, emoji=agent.emoji
        )
        workspace.sandbox_workspace_ensure(path, seed_from=agent_ws)
    return SessionWorkspace(path, Agent.WorkspaceAccess.NONE)


@transaction.atomic
def agent_save(*, agent: Agent) -> Agent:
    """Validate and save an agent; making it the default demotes the previous default.

    The demotion comes first so the single-default constraint validates; a validation
    error rolls it back with the transaction.
    """
    if agent.is_default:
        # One row at most, saved (not updated) so its audit entry and caches follow.
        for previous in Agent.objects.filter(is_default=True).exclude(pk=agent.pk):
            previous.is_default = False
            previous.save(update_fields=["is_default", "updated_at"])
    agent.full_clean()
    agent.save()
    return agent


@transaction.atomic
def agent_ensure_default() -> tuple[Agent, bool]:
    """Return the default agent, creating agent ``main`` when there is no agent at all."""
    agent = default_agent()
    if agent is not None:
        return agent, False
    agent = Agent.objects.create(slug=keys.DEFAULT_AGENT_ID, name="Main", is_default=True)
    return agent, True
