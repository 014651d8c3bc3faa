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

The turn is made of collaborators, none of which imports this module:
``claim`` (queue modes, the claim, the next run), ``control`` (cancel flag, lease,
deadline), ``announce`` (the ``chat`` and ``agent`` events), ``steps`` (the ``RunStep``
rows), ``place`` (sandbox, tools, workspaces), ``model_call`` (failover, compaction;
its request from ``request``), ``tool_call`` and ``finish`` (one ending skeleton).
Where the turn cannot check its flags (a stalled provider, a stuck tool), the process's
watchdog (``agents.runtime.watchdog``) stops it: abort, time limit and shutdown hold in
every Celery pool. A shutdown hands the run back instead of ending it. The final message
is written to the transcript before ``chat`` ``final`` is announced.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from celery.exceptions import SoftTimeLimitExceeded

from agents.models import Run, RunStep
from agents.providers import ProviderError
from agents.runtime import failover, steps
from agents.runtime.announce import Announcer
from agents.runtime.claim import Claimed, run_claim, steer_merge
from agents.runtime.control import Control, StopRunError, worker_id
from agents.runtime.finish import Finish
from agents.runtime.model_call import ModelSteps
from agents.runtime.model_config import NoModelConfiguredError
from agents.runtime.place import TurnPlace
from agents.runtime.steps import StepNumbers
from agents.runtime.tool_call import ToolSteps
from agents.runtime.watchdog import STOP_SHUTDOWN, Flight, watchdog
from agents.tools.base import Tool
from core.logging import log_context
from sessions_app.wire import to_ms

logger = logging.getLogger(__name__)


class Turn:
    """One claimed run, driven to its end by this worker (``owner``)."""

    def __init__(self, claimed: Claimed, owner: str, clock: Callable[[], float]) -> None:
        run, session, agent = claimed.run, claimed.session, claimed.agent
        self.c = claimed
        self.control = Control(
            run_pk=run.pk, owner=owner, started_at=run.started_at, clock=clock, seen=claimed.seen
        )
        self.say = Announcer(
            run_id=run.run_id,
            session_key=session.key,
            session_id=str(session.session_id),
            agent_slug=agent.slug,
            clock=clock,
            replace_next=claimed.resumed,
            hold_deltas=run.origin == Run.Origin.HEARTBEAT,
        )
        self.place = TurnPlace(
            agent=agent, session_key=session.key, untrusted_sender=not run.trusted_sender
        )
        self.numbers = StepNumbers(max_steps=run.max_steps)
        # The tools this turn may use, by name: found when the turn starts (``drive``).
        self.allowed: dict[str, Tool] = {}
        self.model = ModelSteps(
            c=claimed, control=self.control, say=self.say, place=self.place, allowed=self.allowed
        )
        self.tools = ToolSteps(
            claimed=claimed,
            control=self.control,
            say=self.say,
            place=self.place,
            allowed=self.allowed,
        )
        self.finish = Finish(
            claimed=claimed,
            control=self.control,
            say=self.say,
            model=self.model,
            numbers=self.numbers,
        )

    def drive(self) -> None:
        """Step until a model call answers without tools; raise to end otherwise."""
        run = self.c.run
        self.allowed.update(self.place.tools())
        first = True
        while True:
            # The claim has just read the flags, and a fresh run has no steps yet.
            self.control.check(force=not first)
            found = [] if first and self.c.fresh else steps.steps_of(run)
            first = False
            self.numbers.next_no = (found[-1].step_no if found else 0) + 1
            self._settle_interrupted(found)
            pending = steps.pending_tool_calls(found)
            if self.numbers.next_no > run.max_steps:
                steps.step_limit_reached(
                    run,
                    self.numbers.take(),
                    f"the run stopped after {run.max_steps} steps without a final answer; "
                    "ask again or raise OPENCLAW_AGENT_MAX_STEPS",
                )
                raise ProviderError(
                    f"the run stopped after {run.max_steps} steps without a final answer",
                    reason="unknown",
                )
            if pending is not None:
                for call in pending:
                    self.control.check(force=True)
                    self.control.doing(f"running the tool {call.name}")
                    self.tools.run_step(call, self.numbers.take())
                steer_merge(self.c)
                continue
            result = self.model.run_step(self.numbers.take())
            if result is not None:
                self.finish.succeeded(result)
                return

    def _settle_interrupted(self, found: list[RunStep]) -> None:
        """Steps a dead worker left running: a model call is made again, a tool call is
        not (it gets an error result)."""
        for step in found:
            if step.status != RunStep.Status.RUNNING:
                continue
            if step.kind == RunStep.Kind.TOOL_CALL:
                self.tools.settle_interrupted(step)
            else:
                steps.model_step_interrupted(step)


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
    owner = worker_id()
    claimed = run_claim(run_pk=run_pk, owner=owner)
    if claimed is None:
        return
    turn = Turn(claimed, owner, clock)
    flight = dog.register(
        Flight(
            run_pk=claimed.run.pk,
            run_id=claimed.run.run_id,
            session_key=claimed.session.key,
            owner=owner,
            deadline=time.monotonic() + max(0.0, turn.control.deadline - clock()),
            on_overdue=turn.finish.overdue,
        )
    )
    turn.control.flight = flight
    try:
        with log_context(runId=claimed.run.run_id, sessionKey=claimed.session.key):
            _drive(turn)
    finally:
        dog.unregister(flight)


def _drive(turn: Turn) -> None:
    run, finish = turn.c.run, turn.finish
    if run.cancel_requested:
        finish.aborted()
        return
    turn.say.status("starting_model")
    turn.say.agent("lifecycle", {"phase": "start", "startedAt": to_ms(run.started_at)})
    try:
        turn.drive()
    except StopRunError as stop:
        if stop.why == "cancel":
            finish.aborted()
        elif stop.why == "timeout":
            finish.timed_out()
        elif stop.why == STOP_SHUTDOWN:
            finish.hand_back()
        elif turn.control.flight is not None and turn.control.flight.forced:
            # The watchdog ended the run while this thread was stuck: nothing to add.
            logger.info("run %s was ended by the watchdog; this worker stops", run.run_id)
        else:
            logger.warning("run %s was taken back from this worker; stopping", run.run_id)
    except SoftTimeLimitExceeded:
        finish.failed(kind="timeout", message="the run took longer than the worker's time limit")
    except (NoModelConfiguredError, failover.NoKeyForModelError) as exc:
        finish.failed(kind="unknown", message=exc.message)
    except ProviderError as exc:
        finish.failed(kind=exc.kind, message=exc.message)
    except Exception:
        logger.exception("run %s failed unexpectedly", run.run_id)
        finish.failed(kind="unknown", message="the run failed unexpectedly; see the gateway log")
