"""The agent loop: advance one run, step by step, as a resumable state machine.

``run_advance`` is what the ``agents.run_advance`` task does. A run is a sequence of
``RunStep`` rows keyed (run, step_no): model calls and tool calls. Each step is written
before it starts (``running``) and finished in the same transaction that appends its
result to the transcript. A task that is redelivered, or picks a run up again after its
worker died (the sweeper hands expired leases back), reads the steps and resumes:

- a model call found ``running`` is marked failed and made again (no side effects);
- a tool call found ``running`` is **not** run again (its side effect may have
  happened): it gets an error result saying so, and the model decides;
- finished tool calls are never repeated.

Between steps, before every streamed chunk is shown, and while a tool runs, the run
checks its cancel flag (``chat.abort``), its lease (renewed) and its deadline
(``AGENT_RUN_TIMEOUT_S``). Where it cannot check (a stalled provider, a stuck tool), the
process's watchdog (``agents.runtime.watchdog``) stops it: abort, time limit and shutdown hold in
every Celery pool. A shutdown hands the run back instead of ending it. The final message
is written to the transcript before ``chat`` ``final`` is announced.

Queue modes (a message arriving while its session runs), decided when a run is claimed:
``followup`` answers each message in its own turn; ``collect`` (default) merges every
queued message into one turn; ``interrupt`` aborts the running turn (at ``run_start``)
and answers the newest message with the others merged in; ``steer`` merges queued
messages into the running turn at its next tool boundary, and falls back to followup
when the turn ends first. Merged runs end with their turn (status ``merged``).
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from dataclasses import replace as dataclass_replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from agents.agent_cache import agent_by_pk
from agents.lib import compaction, prompt, workspace
from agents.models import Agent, Run, RunStep
from agents.providers import (
    ModelRequest,
    ProviderError,
    StreamDone,
    TextDelta,
    ToolCall,
    Usage,
    error_kind,
    provider_client,
)
from agents.runtime import failover
from agents.runtime.context import history_for, tool_call_block
from agents.runtime.model_config import NoModelConfiguredError, context_window_for, model_chain
from agents.runtime.watchdog import STOP_SHUTDOWN, Flight, watchdog
from agents.runtime.watchdog import hand_back as watchdog_hand_back
from agents.services.agents import (
    SessionWorkspace,
    agent_session_sandboxed,
    agent_workspace_path,
    session_workspace_prepare,
)
from agents.tools.base import (
    Tool,
    ToolContext,
    ToolOutput,
    execute,
    sandbox_tools_allowed,
    tools_allowed,
)
from core import events
from core.leases import lease_renew
from core.redact import redact
from sessions_app.lib import keys
from sessions_app.models import Session
from sessions_app.selectors import to_ms
from sessions_app.services import session_changed_announce, session_message_append

logger = logging.getLogger(__name__)

DELTA_INTERVAL_S = 0.15
# The cancel flag is read before every chunk is shown: nothing appears after a stop.
CHECK_EVERY_S = 0.0
SLEEP_SLICE_S = 0.1
# A wait (cooldown) re-checks the database this often; the watchdog wakes it at once on
# abort, time limit or shutdown.
WAIT_SLICE_S = 1.0
# Past a key's cooldown before calling it again: its end must be behind us, for every
# host's clock reading the same row.
COOLDOWN_MARGIN_S = 0.2
LEASE_RENEW_EVERY_S = 30.0
SILENT_REPLY = "NO_REPLY"
ACTIVE_STATUSES = (Run.Status.QUEUED, Run.Status.RUNNING)


class _StopRunError(Exception):
    """Raised inside the loop when the run must stop: ``cancel``, ``lost``, ``timeout``
    or ``shutdown`` (this process stops: the run is handed back, not ended)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def now_ms() -> int:
    return int(time.time() * 1000)


def _lease_seconds() -> int:
    return int(settings.WORK_LEASE_SECONDS)


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def publish_run_event(event: str, payload: dict[str, Any], *, session_key: str) -> None:
    events.publish(event, payload, session_key=session_key, drop_if_slow=False)


def kick_next(session_pk: int) -> None:
    """Enqueue the session's oldest queued run on commit (its task decides what runs)."""
    from agents.tasks import run_advance_task

    next_pk = (
        Run.objects.filter(session_id=session_pk, status=Run.Status.QUEUED)
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    if next_pk is not None:
        run_advance_task.delay_on_commit(next_pk)


def queue_mode(session: Session) -> str:
    return session.queue_mode or str(settings.AGENT_QUEUE_MODE)


# Workspace prompt files, read at most every few seconds per workspace (and again after
# any tool ran): reading and checking eight files on every model call was ~3 ms a turn.
PROMPT_FILES_TTL_S = 5.0
_PROMPT_FILES: dict[str, tuple[float, list[workspace.WorkspaceFile]]] = {}


def _workspace_files(agent: Agent, ws: Path) -> list[workspace.WorkspaceFile]:
    now = time.monotonic()
    hit = _PROMPT_FILES.get(str(ws))
    if hit is not None and now - hit[0] < PROMPT_FILES_TTL_S:
        return hit[1]
    workspace.workspace_ensure(ws, agent_id=agent.slug, agent_name=agent.name, emoji=agent.emoji)
    files = workspace.load_bootstrap_files(ws)
    _PROMPT_FILES[str(ws)] = (now, files)
    return files


def _cancel_and_owner(run_pk: int) -> tuple[bool, str] | None:
    """(cancel_requested, lease_owner) of a run: the per-chunk check, so plain SQL.

    Read before every streamed chunk; the ORM would spend ~1 ms building the query.
    """
    with connection.cursor() as cursor:
        cursor.execute(_CHECK_SQL, [run_pk])
        row = cursor.fetchone()
    return None if row is None else (bool(row[0]), str(row[1]))


# Table and column names come from the model, values are parameters.
_CHECK_SQL = f'SELECT "cancel_requested", "lease_owner" FROM "{Run._meta.db_table}" WHERE "id" = %s'  # noqa: S608


# --- claim -----------------------------------------------------------------------------
@dataclass
class _Claimed:
    run: Run
    session: Session
    agent: Agent
    merged: list[tuple[int, str]]  # (pk, run_id) of runs merged into this one
    resumed: bool


def _queued_run(run_pk: int) -> Run | None:
    """The run with its session and (cached) agent, if it is still queued."""
    # .get(), not .first(): no ORDER BY on the run's default ordering for a pk lookup.
    try:
        run = Run.objects.select_related("session").get(pk=run_pk)
    except Run.DoesNotExist:
        return None
    agent = agent_by_pk(run.agent_id)
    if agent is None or run.status != Run.Status.QUEUED:
        return None  # finished or running elsewhere (an agent with runs is PROTECTed)
    run.agent = agent
    return run


@transaction.atomic
def _run_claim(*, run_pk: int, owner: str) -> _Claimed | None:
    """Claim a queued run (CAS + lease), applying the session's queue mode; or None."""
    from agents.tasks import run_advance_task

    run = _queued_run(run_pk)
    if run is None:
        return None
    now = timezone.now()
    if connection.features.has_select_for_update:
        # Serialize claims within one session (SQLite serializes write transactions).
        Session.objects.select_for_update().filter(pk=run.session_id).values_list("pk").first()
    active = list(
        Run.objects.filter(session_id=run.session_id, status__in=ACTIVE_STATUSES)
        .order_by("pk")
        .values_list("pk", "run_id", "status", "lease_expires_at")
    )
    if any(status == Run.Status.RUNNING for _, _, status, _ in active):
        # The running turn kicks the next one when it ends; if its worker died, the
        # sweeper hands it back to the queue once its lease ran out.
        return None
    queued = [(pk, rid) for pk, rid, status, _ in active if status == Run.Status.QUEUED]
    mode = queue_mode(run.session)
    target_pk = queued[-1][0] if mode == "interrupt" else queued[0][0]
    if run.pk != target_pk:
        run_advance_task.delay_on_commit(target_pk)
        return None
    merged = (
        [(pk, rid) for pk, rid in queued if pk != run.pk]
        # An aborted turn takes no new messages: they stay queued for the next turn.
        if mode in ("collect", "interrupt") and not run.cancel_requested
        else []
    )
    resumed = run.started_at is not None
    started_at = run.started_at or now
    # The claim: compare-and-set on the status, with the lease (core.leases semantics).
    if not Run.objects.filter(pk=run.pk, status=Run.Status.QUEUED).update(
        status=Run.Status.RUNNING,
        lease_owner=owner[:100],
        lease_expires_at=now + timedelta(seconds=_lease_seconds()),
        attempts=F("attempts") + 1,
        started_at=started_at,
    ):
        return None
    if merged:
        Run.objects.filter(pk__in=[pk for pk, _ in merged], status=Run.Status.QUEUED).update(
            status=Run.Status.MERGED, merged_into=run, updated_at=now
        )
    if resumed:
        # Runs merged into this one by an earlier claim end with it too.
        merged.extend(
            Run.objects.filter(merged_into=run, status=Run.Status.MERGED)
            .exclude(pk__in=[pk for pk, _ in merged])
            .order_by("pk")
            .values_list("pk", "run_id")
        )
    run.started_at = started_at
    run.status = Run.Status.RUNNING
    return _Claimed(run=run, session=run.session, agent=run.agent, merged=merged, resumed=resumed)


# --- the turn --------------------------------------------------------------------------
@dataclass
class _ModelResult:
    text: str
    done: StreamDone
    model_ref: str
    profile_id: str


@dataclass
class _Tries:
    """The attempts of one model step: how many it may make, made, the last failure."""

    budget: int
    made: int = 0
    last_error: ProviderError | None = None


@dataclass
class _Turn:
    c: _Claimed
    owner: str
    clock: Callable[[], float] = time.monotonic
    seq: int = 0
    text: str = ""
    pending: str = ""
    replace_next: bool = False
    last_delta_at: float | None = None
    last_check_at: float = 0.0
    last_renew_at: float = 0.0
    deadline: float = 0.0
    usage: Usage = field(default_factory=Usage)
    model_ref: str = ""
    allowed: dict[str, Tool] = field(default_factory=dict)
    compacted: bool = False
    next_no: int = 1
    model_step_no: int | None = None
    # This run in the process's watchdog (``run_advance`` registers it).
    flight: Flight | None = None
    # What failover did in the current model step (skipped keys, waits), for its RunStep.
    failover_notes: list[str] = field(default_factory=list)
    last_request: ModelRequest | None = None

    def __post_init__(self) -> None:
        self.last_renew_at = self.clock()
        started = self.c.run.started_at or timezone.now()
        elapsed = (timezone.now() - started).total_seconds()
        self.deadline = self.clock() + max(0.0, settings.AGENT_RUN_TIMEOUT_S - elapsed)
        self.model_ref = self.c.run.model
        self.replace_next = self.c.resumed

    @property
    def run(self) -> Run:
        return self.c.run

    @property
    def session_key(self) -> str:
        return self.c.session.key

    # events ------------------------------------------------------------------------
    def _agent(self, stream: str, data: dict[str, Any]) -> None:
        self.seq += 1
        publish_run_event(
            "agent",
            {
                "runId": self.run.run_id,
                "sessionKey": self.session_key,
                "sessionId": str(self.c.session.session_id),
                "agentId": self.c.agent.slug,
                "stream": stream,
                "data": data,
                "seq": self.seq,
                "ts": now_ms(),
            },
            session_key=self.session_key,
        )

    def _chat(self, state: str, *, run_id: str | None = None, **fields: Any) -> None:
        events.publish(
            "chat",
            {
                "runId": run_id or self.run.run_id,
                "sessionKey": self.session_key,
                "agentId": self.c.agent.slug,
                "seq": self.seq,
                "state": state,
                **fields,
            },
            session_key=self.session_key,
            drop_if_slow=state == "delta",
        )

    @staticmethod
    def _message(text: str) -> dict[str, Any]:
        return {
            "role": "assistant",
            "content": [{"type": "text", "text": text}],
            "timestamp": now_ms(),
        }

    def status(self, phase: str, **fields: Any) -> None:
        self._agent("run_status", {"phase": phase, **fields})
        self._chat("status", phase=phase, **fields)

    def add_text(self, chunk: str) -> None:
        if not chunk:
            return
        self.text += chunk
        self.pending += chunk
        self._agent("assistant", {"text": self.text, "delta": chunk})
        now = self.clock()
        if self.last_delta_at is None or now - self.last_delta_at >= DELTA_INTERVAL_S:
            self.flush_delta()

    def reset_text(self) -> None:
        """A new model call starts: the next delta replaces what clients accumulated."""
        self.flush_delta()
        if self.text:
            self.replace_next = True
        self.text = ""
        self.pending = ""

    def flush_delta(self) -> None:
        if not self.pending or SILENT_REPLY.startswith(self.text.strip()):
            return  # nothing new, or it may still turn out to be the silent NO_REPLY
        fields: dict[str, Any] = {"deltaText": self.pending, "message": self._message(self.text)}
        if self.replace_next:
            fields["replace"] = True
            fields["deltaText"] = self.text
            self.replace_next = False
        self._chat("delta", **fields)
        self.pending = ""
        self.last_delta_at = self.clock()

    # control -----------------------------------------------------------------------
    def check(self, *, force: bool = False) -> None:
        """Raise ``_StopRunError`` on abort, lost lease, deadline or shutdown."""
        self.stopped()
        now = self.clock()
        if now >= self.deadline:
            raise _StopRunError("timeout")
        if not force and now - self.last_check_at < CHECK_EVERY_S:
            return
        self.last_check_at = now
        row = _cancel_and_owner(self.run.pk)
        if row is None or row[1] != self.owner[:100]:
            raise _StopRunError("lost")
        if row[0]:
            raise _StopRunError("cancel")
        if now - self.last_renew_at >= min(LEASE_RENEW_EVERY_S, _lease_seconds() / 3):
            if not lease_renew(
                model=Run, pk=self.run.pk, owner=self.owner, seconds=_lease_seconds()
            ):
                raise _StopRunError("lost")
            self.last_renew_at = now

    def hold(self) -> None:
        """Renew the lease inside the current transaction, or stop: the run is not ours.

        Called first in every transaction that records a step's result, so a worker the
        sweeper gave up on can never write over the steps of the worker that took over.
        """
        if not lease_renew(model=Run, pk=self.run.pk, owner=self.owner, seconds=_lease_seconds()):
            raise _StopRunError("lost")
        self.last_renew_at = self.clock()

    def lock_session(self) -> None:
        """Serialize this run's ending with claims in its session (PostgreSQL; SQLite
        serializes write transactions anyway), so the next run is always kicked."""
        if connection.features.has_select_for_update:
            Session.objects.select_for_update().filter(pk=self.c.session.pk).values_list(
                "pk"
            ).first()

    def stopped(self) -> None:
        """Raise ``_StopRunError`` if the watchdog stopped this run (no query)."""
        flight = self.flight
        if flight is not None and flight.stop is not None:
            raise _StopRunError(flight.stop)

    def doing(self, what: str) -> None:
        """Say what the run does now: the watchdog's and the shutdown's log lines."""
        if self.flight is not None:
            self.flight.doing = what

    def is_cancelled(self) -> bool:
        try:
            self.check()
        except _StopRunError:
            return True
        return False

    def sleep(self, seconds: float) -> None:
        # Real time, not self.clock: a test's frozen clock must not make a wait endless.
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.check(force=True)
            if self.flight is not None:
                self.flight.wake.wait(min(left, WAIT_SLICE_S))
            else:
                time.sleep(min(left, SLEEP_SLICE_S))
        self.check(force=True)

    # the loop ----------------------------------------------------------------------
    def drive(self) -> None:
        self.allowed = {t.name: t for t in self._tools()}
        while True:
            self.check(force=True)
            steps = list(RunStep.objects.filter(run=self.run).order_by("step_no"))
            self.next_no = (steps[-1].step_no if steps else 0) + 1
            pending = self._pending_tool_calls(steps)
            if self.next_no > self.run.max_steps:
                self._fail_step(
                    "the run stopped after "
                    f"{self.run.max_steps} steps without a final answer; ask again or raise "
                    "OPENCLAW_AGENT_MAX_STEPS"
                )
                raise ProviderError(
                    f"the run stopped after {self.run.max_steps} steps without a final answer",
                    reason="unknown",
                )
            if pending is not None:
                for call in pending:
                    self.check(force=True)
                    self.doing(f"running the tool {call.name}")
                    self._tool_step(call, self._next_step_no())
                self._steer()
                continue
            result = self._model_step(self._next_step_no())
            if result is not None:
                self.finish_succeeded(result)
                return

    def _next_step_no(self) -> int:
        """Hand out the next step number (steps are only written by this turn)."""
        number = self.next_no
        self.next_no += 1
        return number

    def _pending_tool_calls(self, steps: list[RunStep]) -> list[ToolCall] | None:
        """Tool calls of the last model step still to run, or None when a model call is due.

        Interrupted steps are settled here: a model call found running is marked failed
        (it is simply made again); a tool call found running gets an error result.
        """
        for step in steps:
            if step.status == RunStep.Status.RUNNING:
                if step.kind == RunStep.Kind.TOOL_CALL:
                    self._settle_interrupted_tool(step)
                else:
                    RunStep.objects.filter(pk=step.pk).update(
                        status=RunStep.Status.FAILED,
                        error="interrupted (worker restart); the call is made again",
                        finished_at=timezone.now(),
                    )
        model_steps = [
            s
            for s in steps
            if s.kind == RunStep.Kind.MODEL_CALL and s.status == RunStep.Status.DONE
        ]
        if not model_steps:
            return None
        last = model_steps[-1]
        calls = [
            ToolCall(id=str(c["id"]), name=str(c["name"]), arguments=str(c["arguments"]))
            for c in (last.output or {}).get("toolCalls", [])
        ]
        if not calls:
            return None
        # Tool steps are written in the order of the calls, so the calls still to run are
        # those after the ones that have a step (ids may repeat, be missing or be cut).
        started = sum(
            1 for s in steps if s.kind == RunStep.Kind.TOOL_CALL and s.step_no > last.step_no
        )
        todo = calls[started:]
        return todo or None

    def _settle_interrupted_tool(self, step: RunStep) -> None:
        from agents.runtime.context import INTERRUPTED_RESULT

        with transaction.atomic():
            self.hold()
            if not RunStep.objects.filter(pk=step.pk, status=RunStep.Status.RUNNING).update(
                status=RunStep.Status.FAILED,
                error="interrupted (worker restart); not run again",
                output={"content": INTERRUPTED_RESULT, "isError": True},
                finished_at=timezone.now(),
            ):
                return
            self._append_tool_result(step.tool_call_id, step.tool_name, INTERRUPTED_RESULT, True)
        logger.warning(
            "run %s: tool %s was interrupted; it is not run again",
            self.run.run_id,
            step.tool_name,
            extra={"run_id": self.run.run_id},
        )

    def _fail_step(self, message: str) -> None:
        RunStep.objects.create(
            run=self.run,
            step_no=min(self._next_step_no(), self.run.max_steps + 1000),
            kind=RunStep.Kind.ERROR,
            status=RunStep.Status.FAILED,
            error=message,
            started_at=timezone.now(),
            finished_at=timezone.now(),
        )

    # tools -------------------------------------------------------------------------
    def _tools(self) -> list[Tool]:
        agent = self.c.agent
        allowed = tools_allowed(
            profile=agent.tool_profile, allow=agent.tools_allow, deny=agent.tools_deny
        )
        if not self._sandboxed():
            return allowed
        # OpenClaw's sandbox tool policy, on top of the profile policy.
        return sandbox_tools_allowed(
            allowed,
            allow=agent.sandbox_tools_allow,
            deny=agent.sandbox_tools_deny,
            workspace_access=agent.sandbox_workspace_access,
        )

    def _workspace(self) -> Path:
        """The agent's own workspace: where the system prompt's files always come from.

        A sandboxed session's tools may work elsewhere (``session_workspace_prepare``).
        """
        return agent_workspace_path(self.c.agent)

    @functools.cached_property
    def _session_workspace(self) -> SessionWorkspace:
        """Where this session's tools work: the same for the whole turn, so found once
        (a sandboxed session's own workspace is created on first use)."""
        return session_workspace_prepare(agent=self.c.agent, session_key=self.session_key)

    def _is_main_session(self) -> bool:
        return self.session_key == keys.main_session_key(self.c.agent.slug)

    def _sandboxed(self) -> bool:
        return agent_session_sandboxed(agent=self.c.agent, session_key=self.session_key)

    def _tool_step(self, call: ToolCall, step_no: int) -> None:
        now = timezone.now()
        RunStep.objects.create(
            run=self.run,
            step_no=step_no,
            kind=RunStep.Kind.TOOL_CALL,
            status=RunStep.Status.RUNNING,
            tool_name=call.name[:100] or "?",
            tool_call_id=call.id[:200],
            input={"arguments": call.arguments_or_empty()},
            started_at=now,
        )
        self._agent(
            "tool",
            {
                "phase": "start",
                "name": call.name,
                "toolCallId": call.id,
                "args": call.arguments_or_empty(),
            },
        )
        ws = self._session_workspace
        ctx = ToolContext(
            agent_slug=self.c.agent.slug,
            session_key=self.session_key,
            run_id=self.run.run_id,
            workspace=ws.path,
            sandboxed=self._sandboxed(),
            is_main_session=self._is_main_session(),
            workspace_access=ws.access,
            protected_files=ws.protected_files,
            is_cancelled=self.is_cancelled,
            deadline=self.deadline,
            origin=dict(self.run.reply_to or {}),
        )
        output = execute(call, ctx, self.allowed)
        # The tool may have edited the prompt files, which come from the agent's workspace.
        _PROMPT_FILES.pop(str(self._workspace()), None)
        content = redact(output.content)
        with transaction.atomic():
            self.hold()
            RunStep.objects.filter(run=self.run, step_no=step_no).update(
                status=RunStep.Status.FAILED if output.is_error else RunStep.Status.DONE,
                output={
                    "content": content[:20_000],
                    "isError": output.is_error,
                    "meta": output.meta,
                },
                error=content[:2000] if output.is_error else "",
                finished_at=timezone.now(),
            )
            self._append_tool_result(call.id, call.name, content, output.is_error)
        self._tool_result_event(call, output, content)

    def _tool_result_event(self, call: ToolCall, output: ToolOutput, content: str) -> None:
        self._agent(
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

    def _append_tool_result(self, call_id: str, name: str, content: str, is_error: bool) -> None:
        session_message_append(
            session=self.c.session,
            role="tool",
            content=[{"type": "text", "text": content}],
            run_public_id=self.run.public_id,
            changed_reason=None,
            details={"toolCallId": call_id, "toolName": name, "isError": is_error},
        )

    def _steer(self) -> None:
        """Steer mode: merge messages queued meanwhile into this turn at a tool boundary."""
        if queue_mode(Session.objects.get(pk=self.c.session.pk)) != "steer":
            return
        with transaction.atomic():
            queued = list(
                Run.objects.select_for_update()
                .filter(session_id=self.c.session.pk, status=Run.Status.QUEUED)
                .order_by("pk")
                .values_list("pk", "run_id")
            )
            if queued:
                Run.objects.filter(pk__in=[pk for pk, _ in queued]).update(
                    status=Run.Status.MERGED, merged_into=self.run, updated_at=timezone.now()
                )
                self.c.merged.extend(queued)

    # model calls -------------------------------------------------------------------
    def _request(self, model_ref: str, model: str) -> tuple[ModelRequest, int]:
        history = history_for(session=self.c.session, run=self.run)
        messages = list(history.messages)
        if history.summary:
            messages.insert(0, compaction.summary_message(history.summary))
        system = self._system_prompt(model_ref)
        specs = [tool.spec() for tool in self.allowed.values()]
        request = ModelRequest(
            model=model,
            system=system,
            messages=messages,
            tools=specs,
            max_tokens=int(settings.AGENT_MAX_OUTPUT_TOKENS),
        )
        return request, compaction.estimate_request_tokens(system, messages, specs)

    def _system_prompt(self, model_ref: str) -> str:
        # The prompt files are the operator's: always the agent's own workspace, never a
        # sandboxed session's copy. The model is told where its tools work.
        files = _workspace_files(self.c.agent, self._workspace())
        where = self._session_workspace
        origin = self.run.reply_to or {}
        facts = prompt.RuntimeFacts(
            agent_id=self.c.agent.slug,
            agent_name=self.c.agent.name or self.c.agent.slug,
            model_ref=model_ref,
            session_key=self.session_key,
            channel=str(origin.get("channel") or self.c.session.channel or "webchat"),
            chat_type=str(self.c.session.chat_type or "direct"),
            sender=str(origin.get("sender") or ""),
            timezone=_timezone_name(),
            now=timezone.localtime(timezone.now(), _tzinfo()),
            workspace=where.path,
            sandboxed=self._sandboxed(),
            is_main_session=self._is_main_session(),
            host="linux",
            workspace_access=where.access,
        )
        return prompt.system_prompt(
            facts=facts, tools=[t.spec() for t in self.allowed.values()], files=files
        )

    def _model_step(self, step_no: int) -> _ModelResult | None:
        """One model call with failover; None when it asked for tools (recorded).

        A key in cooldown is not called: it is skipped (noted in the step's output) for
        the next key or fallback model. When every candidate is cooling down the turn
        waits for the first to be usable again if that comes before the run's deadline,
        else it fails at once (``rate_limit``, saying when a key is usable again).
        """
        chain = model_chain(agent=self.c.agent, session_override=self.c.session.model_override)
        RunStep.objects.create(
            run=self.run,
            step_no=step_no,
            kind=RunStep.Kind.MODEL_CALL,
            status=RunStep.Status.RUNNING,
            started_at=timezone.now(),
        )
        self.model_step_no = step_no
        self.failover_notes = []
        max_attempts = int(settings.AGENT_MAX_ATTEMPTS)
        planned = failover.plan(chain, max_attempts=max_attempts)
        # Every model with a key gets an attempt, as in the plan.
        tries = _Tries(budget=max(max_attempts, planned.models))
        while tries.made < tries.budget:
            self._note_skipped(planned.cooling)
            if not planned.attempts:
                self._await_cooldown(planned, step_no, tries)
            else:
                done, result = self._attempts(planned.attempts, step_no, tries)
                if done:
                    return result
            # Planned again: the keys that failed are cooling down now.
            planned = failover.plan(chain, max_attempts=max(1, tries.budget - tries.made))
        assert tries.last_error is not None
        self._finish_model_step(step_no, error=tries.last_error)
        raise tries.last_error

    def _attempts(
        self, planned: list[failover.Attempt], step_no: int, tries: _Tries
    ) -> tuple[bool, _ModelResult | None]:
        """Try the planned attempts in order: (True, result) once one answers (None when
        it asked for tools), (False, None) when none did. Raises a non-retriable error."""
        queue = list(planned)
        while queue and tries.made < tries.budget:
            attempt = queue[0]
            until = failover.cooling_until(attempt.profile.id)
            if until is not None:
                # Cooling down since the plan was made: its failure a moment ago for
                # another model of its provider, or another worker's.
                queue.pop(0)
                self._note_skipped([dataclass_replace(attempt, cooling_until=until)])
                continue
            tries.made += 1
            self._retry_status(tries.made, tries.budget, tries.last_error)
            try:
                done = self._call(attempt)
            except ProviderError as exc:
                exc.message = redact(exc.message)
                if exc.reason == "context_length" and not self.compacted:
                    sent = self.last_request or self._request(attempt.model_ref, attempt.model)[0]
                    self._auto_compact(attempt.model_ref, sent, force=True)
                    tries.made -= 1  # the same attempt again, with a smaller context
                    continue
                if not exc.retriable:
                    self._finish_model_step(step_no, error=exc)
                    raise
                queue.pop(0)
                self._attempt_failed(attempt, exc, last=tries.made >= tries.budget)
                tries.last_error = exc
                continue
            failover.record_success(attempt.profile.id)
            self.model_ref = attempt.model_ref
            self._add_usage(done.usage)
            result = _ModelResult(self.text, done, attempt.model_ref, attempt.profile.id)
            if done.tool_calls:
                self._record_tool_request(step_no, result)
                self.reset_text()
                return True, None
            return True, result
        return False, None

    def _retry_status(self, attempt_no: int, budget: int, last_error: ProviderError | None) -> None:
        """Before each attempt after a failure: v4 chat ``status`` with ``retry``."""
        if last_error is None:
            return
        retry = {"attempt": attempt_no, "maxAttempts": budget, "reason": _retry_reason(last_error)}
        self.status("starting_model", retry=retry)

    def _call(self, attempt: failover.Attempt) -> StreamDone:
        """One attempt: the request (compacted first if over budget), then its stream."""
        self.doing(f"calling {attempt.model_ref} via {attempt.profile.id}")
        request, tokens = self._request(attempt.model_ref, attempt.model)
        if not self.compacted and self._over_budget(attempt.model_ref, tokens):
            self._auto_compact(attempt.model_ref, request)
            request, tokens = self._request(attempt.model_ref, attempt.model)
        self.last_request = request
        return self._stream(attempt, request)

    def _attempt_failed(self, attempt: failover.Attempt, exc: ProviderError, *, last: bool) -> None:
        until = failover.record_failure(attempt.profile.id, exc)
        self.failover_notes.append(
            f"{attempt.model_ref} via {attempt.profile.id} failed ({exc.reason}); "
            f"in cooldown until {failover.utc_text(until)}"
        )
        logger.warning(
            "run %s: %s via %s failed (%s); %s",
            self.run.run_id,
            attempt.model_ref,
            attempt.profile.id,
            exc.reason,
            "no attempts left" if last else "trying the next",
            extra={"run_id": self.run.run_id},
        )
        self.reset_text()

    def _note_skipped(self, cooling: list[failover.Attempt]) -> None:
        for attempt in cooling:
            if attempt.cooling_until is None:
                continue
            note = (
                f"skipped {attempt.profile.id} for {attempt.model_ref}: in cooldown until "
                f"{failover.utc_text(attempt.cooling_until)}"
            )
            if note not in self.failover_notes:
                self.failover_notes.append(note)

    def _await_cooldown(self, planned: failover.Plan, step_no: int, tries: _Tries) -> None:
        """Every candidate is cooling down: wait for the first, or fail if it is too late."""
        last_error = tries.last_error
        first = planned.cooling[0]
        ready_at = first.cooling_until or timezone.now()
        wait_s = max(0.0, (ready_at - timezone.now()).total_seconds())
        if self.clock() + wait_s >= self.deadline:
            message = failover.cooldown_message(
                planned,
                why="that is past the run's time limit (OPENCLAW_RUN_TIMEOUT_S), so the "
                "run stops now without calling it",
            )
            if last_error is not None:
                message = f"{last_error.message}; then {message}"
            error = ProviderError(message, reason="rate_limit")
            self.failover_notes.append(
                f"no key usable before the run's time limit: {first.profile.id} is in "
                f"cooldown until {failover.utc_text(ready_at)}"
            )
            self._finish_model_step(step_no, error=error)
            raise error
        until = failover.utc_text(ready_at)
        reason = (
            _retry_reason(last_error)
            if last_error is not None
            else _reason_text(first.cooling_reason or "rate_limit")
        )
        self.status(
            "starting_model",
            retry={"attempt": tries.made + 1, "maxAttempts": tries.budget, "reason": reason},
            waitMs=int(wait_s * 1000),
            message=f"every key is in cooldown: waiting {wait_s:.0f} s for "
            f"{first.profile.id}, usable again at {until}",
        )
        self.doing(f"waiting {wait_s:.0f} s for the cooldown of {first.profile.id}")
        logger.info(
            "run %s: every key is in cooldown; waiting %.0f s for %s",
            self.run.run_id,
            wait_s,
            first.profile.id,
            extra={"run_id": self.run.run_id},
        )
        began = time.monotonic()
        self.sleep(wait_s + COOLDOWN_MARGIN_S)
        self.failover_notes.append(
            f"waited {time.monotonic() - began:.0f} s for the cooldown of {first.profile.id} "
            f"(until {until})"
        )

    def _stream(self, attempt: failover.Attempt, request: ModelRequest) -> StreamDone:
        client = provider_client(attempt.profile, timeout_s=float(settings.AGENT_MODEL_TIMEOUT_S))
        done: StreamDone | None = None
        try:
            for event in client.stream(request):
                self.check()
                if isinstance(event, TextDelta):
                    self.add_text(event.text)
                else:
                    done = event
        except ProviderError:
            # A request the watchdog cut (abort, time limit, shutdown) is the run
            # stopping, not the key failing: no cooldown, no next attempt.
            self.stopped()
            raise
        self.check(force=True)
        if done is None:
            raise ProviderError(
                f"{attempt.profile.provider}: the stream ended without a result", reason="truncated"
            )
        return done

    def _add_usage(self, usage: Usage) -> None:
        self.usage = Usage(
            input=self.usage.input + usage.input,
            output=self.usage.output + usage.output,
            cache_read=self.usage.cache_read + usage.cache_read,
            cache_write=self.usage.cache_write + usage.cache_write,
        )

    def _record_tool_request(self, step_no: int, result: _ModelResult) -> None:
        calls = result.done.tool_calls
        content: list[dict[str, Any]] = []
        if result.text:
            content.append({"type": "text", "text": result.text})
        content.extend(tool_call_block(call) for call in calls)
        with transaction.atomic():
            self.hold()
            RunStep.objects.filter(run=self.run, step_no=step_no).update(
                status=RunStep.Status.DONE,
                output={
                    "text": result.text,
                    "toolCalls": [
                        {"id": c.id, "name": c.name, "arguments": c.arguments} for c in calls
                    ],
                    "stopReason": result.done.stop_reason,
                    "usage": _usage_dict(result.done.usage),
                    "model": result.model_ref,
                    "profile": result.profile_id,
                    **self._failover_output(),
                },
                finished_at=timezone.now(),
            )
            session_message_append(
                session=self.c.session,
                role="assistant",
                content=content,
                run_public_id=self.run.public_id,
                model=result.model_ref,
                usage=_usage_dict(result.done.usage),
                stop_reason="toolUse",
                changed_reason=None,
            )

    def _finish_model_step(self, step_no: int, *, error: ProviderError) -> None:
        RunStep.objects.filter(run=self.run, step_no=step_no).update(
            status=RunStep.Status.FAILED,
            error=f"{error.reason}: {error.message}"[:2000],
            output={"reason": error.reason, "status": error.status, **self._failover_output()},
            finished_at=timezone.now(),
        )

    def _failover_output(self) -> dict[str, Any]:
        """What failover did in this model step (keys skipped, cooldowns waited)."""
        return {"failover": list(self.failover_notes)} if self.failover_notes else {}

    # compaction --------------------------------------------------------------------
    def _over_budget(self, model_ref: str, tokens: int) -> bool:
        window = context_window_for(model_ref)
        return tokens > window - int(settings.COMPACTION_RESERVE_TOKENS)

    def _auto_compact(self, model_ref: str, request: ModelRequest, *, force: bool = False) -> None:
        from agents.services.compaction import CompactionError, session_compact

        self.compacted = True
        self.doing(f"compacting the context for {model_ref}")
        self._agent("compaction", {"phase": "start"})
        self.status("preparing_context")
        try:
            outcome = session_compact(
                session=self.c.session,
                model_ref=model_ref,
                force=force,
                system=request.system,
                tools=request.tools,
                check=self.check,
                keep_recent_tokens=0 if force else None,
                run=self.run,
            )
        except CompactionError as exc:
            logger.warning("run %s: compaction failed: %s", self.run.run_id, exc.message)
            self._agent("compaction", {"phase": "end", "willRetry": False, "error": exc.message})
            return
        self._agent(
            "compaction", {"phase": "end", "willRetry": True, "compacted": outcome.compacted}
        )

    # endings -----------------------------------------------------------------------
    def _end(self, status: str, **fields: Any) -> bool:
        """CAS running → ``status`` while this worker still holds the lease."""
        fields.setdefault("step_count", min(max(self.next_no - 1, 0), self.run.max_steps))
        return (
            Run.objects.filter(
                pk=self.run.pk, status=Run.Status.RUNNING, lease_owner=self.owner[:100]
            ).update(
                status=status,
                finished_at=timezone.now(),
                lease_owner="",
                lease_expires_at=None,
                **fields,
            )
            == 1
        )

    def _end_merged(self) -> list[str]:
        if not self.c.merged:
            return []
        Run.objects.filter(pk__in=[pk for pk, _ in self.c.merged]).update(
            finished_at=timezone.now()
        )
        return [rid for _, rid in self.c.merged]

    def finish_succeeded(self, result: _ModelResult) -> None:
        usage = _usage_dict(self.usage)
        text = result.text
        silent = text.strip() == SILENT_REPLY
        step_no = self.model_step_no
        with transaction.atomic():
            self.lock_session()
            if not self._end(Run.Status.SUCCEEDED, usage=usage, model=result.model_ref):
                return
            if step_no is not None:
                RunStep.objects.filter(run=self.run, step_no=step_no).update(
                    status=RunStep.Status.DONE,
                    output={
                        "text": text[:20_000],
                        "stopReason": result.done.stop_reason,
                        "usage": _usage_dict(result.done.usage),
                        "model": result.model_ref,
                        "profile": result.profile_id,
                        **self._failover_output(),
                    },
                    finished_at=timezone.now(),
                )
            session_message_append(
                session=self.c.session,
                role="assistant",
                content=[{"type": "text", "text": text}],
                run_public_id=self.run.public_id,
                model=result.model_ref,
                usage=_usage_dict(result.done.usage),
                stop_reason=result.done.stop_reason,
                changed_reason=None,
            )
            merged = self._end_merged()
            ended = now_ms()

            def announce() -> None:
                self._agent(
                    "usage",
                    {
                        "inputTokens": self.usage.input,
                        "outputTokens": self.usage.output,
                        "totalTokens": self.usage.total,
                    },
                )
                self._agent(
                    "lifecycle",
                    {
                        "phase": "end",
                        "startedAt": to_ms(self.run.started_at),
                        "endedAt": ended,
                        "aborted": False,
                        "stopReason": result.done.stop_reason,
                    },
                )
                self.flush_delta()
                fields: dict[str, Any] = {"stopReason": result.done.stop_reason, "usage": usage}
                if not silent:
                    fields["message"] = self._message(text)
                self._chat("final", **fields)
                for rid in merged:
                    self._chat("final", run_id=rid, stopReason=result.done.stop_reason)

            transaction.on_commit(announce)
            transaction.on_commit(self._remember_ended)
            self._after_end(phase="end")
        logger.info("run %s succeeded", self.run.run_id, extra={"run_id": self.run.run_id})

    def finish_aborted(self) -> None:
        with transaction.atomic():
            self.lock_session()
            if not self._end(Run.Status.ABORTED):
                return
            # Any kind: a step still running when the watchdog ends a stuck run is over too.
            RunStep.objects.filter(run=self.run, status=RunStep.Status.RUNNING).update(
                status=RunStep.Status.FAILED, error="aborted", finished_at=timezone.now()
            )
            if self.text:
                session_message_append(
                    session=self.c.session,
                    role="assistant",
                    content=[{"type": "text", "text": self.text}],
                    run_public_id=self.run.public_id,
                    model=self.model_ref,
                    stop_reason="aborted",
                    changed_reason=None,
                )
            merged = self._end_merged()
            if merged:
                Run.objects.filter(run_id__in=merged).update(status=Run.Status.ABORTED)
            ended = now_ms()
            text = self.text

            def announce() -> None:
                self._agent(
                    "lifecycle",
                    {
                        "phase": "end",
                        "startedAt": to_ms(self.run.started_at),
                        "endedAt": ended,
                        "aborted": True,
                        "stopReason": "rpc",
                    },
                )
                fields: dict[str, Any] = {"stopReason": "rpc"}
                if text:
                    fields["message"] = self._message(text)
                self._chat("aborted", **fields)
                for rid in merged:
                    self._chat("aborted", run_id=rid, stopReason="rpc")

            transaction.on_commit(announce)
            self._after_end(phase="end")
        logger.info("run %s aborted", self.run.run_id, extra={"run_id": self.run.run_id})

    def finish_failed(self, *, kind: str, message: str) -> None:
        message = redact(message)
        with transaction.atomic():
            self.lock_session()
            if not self._end(Run.Status.FAILED, error_kind=kind, error_message=message[:4000]):
                return
            RunStep.objects.filter(run=self.run, status=RunStep.Status.RUNNING).update(
                status=RunStep.Status.FAILED, error=message[:2000], finished_at=timezone.now()
            )
            merged = self._end_merged()
            if merged:
                Run.objects.filter(run_id__in=merged).update(
                    status=Run.Status.FAILED, error_kind=kind, error_message=message[:4000]
                )
            ended = now_ms()

            def announce() -> None:
                self._agent("lifecycle", {"phase": "error", "error": message, "endedAt": ended})
                self._chat("error", errorMessage=message, errorKind=kind)
                for rid in merged:
                    self._chat("error", run_id=rid, errorMessage=message, errorKind=kind)

            transaction.on_commit(announce)
            self._after_end(phase="error")
        logger.warning(
            "run %s failed (%s): %s",
            self.run.run_id,
            kind,
            message,
            extra={"run_id": self.run.run_id},
        )

    def hand_back(self) -> None:
        """This process stops: release the run (not ended) for the next worker or start.

        Its steps stay as they are: a model call left running is made again, a tool call
        left running is not (``_pending_tool_calls``). The watchdog logs the line.
        """
        if self.flight is not None:
            watchdog_hand_back(self.flight)

    def end_overdue(self, why: str) -> None:
        """On the watchdog's thread: this turn's thread is stuck past its stop; end the run.

        The CAS on the lease in ``_end`` makes this and the stuck thread's own ending
        exclusive: whichever comes second writes nothing.
        """
        if why == "cancel":
            self.finish_aborted()
        else:
            self.finish_timed_out()

    def finish_timed_out(self) -> None:
        doing = self.flight.doing if self.flight is not None else "running"
        self.finish_failed(
            kind="timeout",
            message=f"the run took longer than its {settings.AGENT_RUN_TIMEOUT_S} s limit "
            f"(OPENCLAW_RUN_TIMEOUT_S) and was stopped while {doing}",
        )

    def _remember_ended(self) -> None:
        """This turn's grouping is final now: the next turn's prompt need not query it."""
        from agents.runtime.context import remember_ended_run

        remember_ended_run(self.run.public_id, self.run.trigger_seq)

    def _after_end(self, *, phase: str) -> None:
        session_changed_announce(
            session=self.c.session, extra={"phase": phase, "runId": self.run.run_id}
        )
        kick_next(self.c.session.pk)


def _retry_reason(error: ProviderError) -> str:
    return _reason_text(error.reason)


def _reason_text(reason: str) -> str:
    """A retry reason for clients: the errorKind, or the finer reason when it says more."""
    kind = error_kind(reason)
    return kind if kind != "unknown" else reason


def _usage_dict(usage: Usage) -> dict[str, int]:
    out = {"input": usage.input, "output": usage.output, "totalTokens": usage.total}
    if usage.cache_read:
        out["cacheRead"] = usage.cache_read
    if usage.cache_write:
        out["cacheWrite"] = usage.cache_write
    return out


def _timezone_name() -> str:
    return str(settings.AGENT_TIMEZONE or settings.TIME_ZONE or "UTC")


def _tzinfo() -> Any:
    import zoneinfo

    try:
        return zoneinfo.ZoneInfo(_timezone_name())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


# --- entry point -----------------------------------------------------------------------
def run_advance(*, run_pk: int, clock: Callable[[], float] = time.monotonic) -> None:
    """Advance one run to its end; a redelivered or duplicate task does nothing harmful.

    Not one transaction: the claim, each step and the ending are short transactions; the
    model stream and the tools run outside them. While the turn runs, the process's
    watchdog holds it to its time limit, abort and shutdown (``agents.runtime.watchdog``).
    """
    dog = watchdog()
    if dog.shutting_down():
        return  # left queued: the next start (or the team sweeper) re-drives it
    owner = _worker_id()
    claimed = _run_claim(run_pk=run_pk, owner=owner)
    if claimed is None:
        return
    turn = _Turn(claimed, owner, clock)
    turn.flight = dog.register(
        Flight(
            run_pk=claimed.run.pk,
            run_id=claimed.run.run_id,
            session_key=claimed.session.key,
            owner=owner,
            deadline=time.monotonic() + max(0.0, turn.deadline - turn.clock()),
            on_overdue=turn.end_overdue,
        )
    )
    try:
        _drive(turn)
    finally:
        dog.unregister(turn.flight)


def _drive(turn: _Turn) -> None:
    run = turn.run
    if run.cancel_requested:
        turn.finish_aborted()
        return
    turn.status("starting_model")
    turn._agent("lifecycle", {"phase": "start", "startedAt": to_ms(run.started_at)})
    try:
        turn.drive()
    except _StopRunError as stop:
        if stop.why == "cancel":
            turn.finish_aborted()
        elif stop.why == "timeout":
            turn.finish_timed_out()
        elif stop.why == STOP_SHUTDOWN:
            turn.hand_back()
        elif turn.flight is not None and turn.flight.forced:
            # The watchdog ended the run while this thread was stuck: nothing to add.
            logger.info("run %s was ended by the watchdog; this worker stops", run.run_id)
        else:
            logger.warning("run %s was taken back from this worker; stopping", run.run_id)
    except SoftTimeLimitExceeded:
        turn.finish_failed(
            kind="timeout", message="the run took longer than the worker's time limit"
        )
    except NoModelConfiguredError as exc:
        turn.finish_failed(kind="unknown", message=exc.message)
    except failover.NoKeyForModelError as exc:
        turn.finish_failed(kind="unknown", message=exc.message)
    except ProviderError as exc:
        turn.finish_failed(kind=exc.kind, message=exc.message)
    except Exception:
        logger.exception("run %s failed unexpectedly", run.run_id)
        turn.finish_failed(
            kind="unknown", message="the run failed unexpectedly; see the gateway log"
        )
