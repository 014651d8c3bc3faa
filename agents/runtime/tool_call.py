"""One tool step of a turn: recorded, run with the turn's context, its result kept.

The step is written ``running`` before the tool runs and finished, with the result
appended to the transcript, in one transaction that first renews the lease. A tool call
found ``running`` after a restart is never run again: it gets an error result.
"""

from __future__ import annotations

import logging

from django.db import transaction

from agents.models import Run, RunStep
from agents.providers import ToolCall
from agents.runtime import steps
from agents.runtime.announce import Announcer
from agents.runtime.claim import Claimed
from agents.runtime.context import INTERRUPTED_RESULT
from agents.runtime.control import Control
from agents.runtime.place import TurnPlace
from agents.tools.base import Tool, ToolContext, ToolOutput, execute
from core.redact import redact
from sessions_app.services import session_message_append

logger = logging.getLogger(__name__)


class ToolSteps:
    """The tool steps of one turn."""

    def __init__(
        self,
        *,
        claimed: Claimed,
        control: Control,
        say: Announcer,
        place: TurnPlace,
        allowed: dict[str, Tool],
    ) -> None:
        self.c = claimed
        self.control = control
        self.say = say
        self.place = place
        self.allowed = allowed

    @property
    def run(self) -> Run:
        return self.c.run

    def run_step(self, call: ToolCall, step_no: int) -> None:
        steps.tool_step_start(self.run, step_no, call)
        self.say.agent(
            "tool",
            {
                "phase": "start",
                "name": call.name,
                "toolCallId": call.id,
                "args": call.arguments_or_empty(),
            },
        )
        output = execute(call, self._context(), self.allowed)
        self.place.prompt_files_changed()
        content = redact(output.content)
        with transaction.atomic():
            self.control.hold()
            steps.tool_step_finish(
                self.run, step_no, content=content, is_error=output.is_error, meta=output.meta
            )
            self._append_result(call.id, call.name, content, output.is_error)
        self._result_event(call, output)

    def _context(self) -> ToolContext:
        ws = self.place.session_workspace
        return ToolContext(
            agent_slug=self.c.agent.slug,
            session_key=self.c.session.key,
            run_id=self.run.run_id,
            workspace=ws.path,
            sandboxed=self.place.sandboxed,
            is_main_session=self.place.is_main_session,
            workspace_access=ws.access,
            protected_files=ws.protected_files,
            is_cancelled=self.control.is_cancelled,
            deadline=self.control.deadline,
            origin=dict(self.run.reply_to or {}),
        )

    def _result_event(self, call: ToolCall, output: ToolOutput) -> None:
        self.say.agent(
            "tool",
            {
                "phase": "result",
                "name": call.name,
                "toolCallId": call.id,
                "meta": output.meta,
                "isError": output.is_error,
                # Like OpenClaw, the result itself is not in the event (only at verbose
                # "full", which sessions here do not have): it is in the transcript.
            },
        )

    def settle_interrupted(self, step: RunStep) -> None:
        """A tool call left running by a dead worker: an error result, not run again."""
        with transaction.atomic():
            self.control.hold()
            if not steps.tool_step_interrupted(step):
                return
            self._append_result(step.tool_call_id, step.tool_name, INTERRUPTED_RESULT, True)
        logger.warning(
            "run %s: tool %s was interrupted; it is not run again",
            self.run.run_id,
            step.tool_name,
            extra={"run_id": self.run.run_id},
        )

    def _append_result(self, call_id: str, name: str, content: str, is_error: bool) -> None:
        session_message_append(
            session=self.c.session,
            role="tool",
            content=[{"type": "text", "text": content}],
            run_public_id=self.run.public_id,
            changed_reason=None,
            details={"toolCallId": call_id, "toolName": name, "isError": is_error},
        )
