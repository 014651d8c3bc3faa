"""Where a turn works: the sandbox decision, the allowed tools and the workspaces.

The agent's own workspace holds the operator's prompt files (read here, cached a few
seconds). A sandboxed session's tools may work elsewhere (``session_workspace_prepare``),
with OpenClaw's sandbox tool policy on top of the agent's tool profile.
"""

from __future__ import annotations

import functools
from pathlib import Path

from agents.cron_selectors import cron_tools_allow
from agents.lib import workspace
from agents.models import Agent
from agents.services.agents import (
    SessionWorkspace,
    agent_session_sandboxed,
    agent_workspace_path,
    session_workspace_prepare,
)
from agents.tools.base import Tool, sandbox_tools_allowed, tools_allowed
from core.ttlcache import TTLCache
from sessions_app.lib import keys

# Workspace prompt files, read at most every few seconds per workspace (and again after
# any tool ran): reading and checking eight files on every model call was ~3 ms a turn.
PROMPT_FILES_TTL_S = 5.0
PROMPT_FILES: TTLCache[str, list[workspace.WorkspaceFile]] = TTLCache(
    "agents.prompt_files", ttl_s=PROMPT_FILES_TTL_S
)


class TurnPlace:
    """The agent and session of one turn: sandboxed or not, and where its tools work."""

    def __init__(self, *, agent: Agent, session_key: str, untrusted_sender: bool = False) -> None:
        self.agent = agent
        self.session_key = session_key
        # A channel message from a sender who is not an owner: always sandboxed.
        self.untrusted_sender = untrusted_sender

    @functools.cached_property
    def sandboxed(self) -> bool:
        return agent_session_sandboxed(
            agent=self.agent, session_key=self.session_key, untrusted_sender=self.untrusted_sender
        )

    @functools.cached_property
    def is_main_session(self) -> bool:
        return self.session_key == keys.main_session_key(self.agent.slug)

    @functools.cached_property
    def session_workspace(self) -> SessionWorkspace:
        """Where this session's tools work: the same for the whole turn, so found once
        (a sandboxed session's own workspace is created on first use)."""
        return session_workspace_prepare(
            agent=self.agent, session_key=self.session_key, untrusted_sender=self.untrusted_sender
        )

    def agent_workspace(self) -> Path:
        """The agent's own workspace: where the system prompt's files always come from."""
        return agent_workspace_path(self.agent)

    def tools(self) -> dict[str, Tool]:
        """The tools this turn may use, by name."""
        agent = self.agent
        allowed = tools_allowed(
            profile=agent.tool_profile, allow=agent.tools_allow, deny=agent.tools_deny
        )
        if self.sandboxed:
            # OpenClaw's sandbox tool policy, on top of the profile policy.
            allowed = sandbox_tools_allowed(
                allowed,
                allow=agent.sandbox_tools_allow,
                deny=agent.sandbox_tools_deny,
                workspace_access=agent.sandbox_workspace_access,
            )
        if ":cron:" in self.session_key:
            # An isolated cron job's ``toolsAllow`` narrows the turn's tools further.
            only = cron_tools_allow(session_key=self.session_key)
            if only is not None:
                names = {t.name for t in tools_allowed(profile="minimal", allow=only)}
                allowed = [t for t in allowed if t.name in names]
        return {t.name: t for t in allowed}

    def prompt_files(self) -> list[workspace.WorkspaceFile]:
        """The agent workspace's bootstrap files (created if missing), cached."""
        ws = self.agent_workspace()

        def load() -> list[workspace.WorkspaceFile]:
            agent = self.agent
            workspace.workspace_ensure(
                ws, agent_id=agent.slug, agent_name=agent.name, emoji=agent.emoji
            )
            return workspace.load_bootstrap_files(ws)

        return PROMPT_FILES.get_or_load(str(ws), load)

    def prompt_files_changed(self) -> None:
        """A tool ran: it may have edited the prompt files of the agent's workspace."""
        PROMPT_FILES.discard(str(self.agent_workspace()))
