"""A run's ``RunStep`` rows: every read and write of them, keyed (run, step_no).

A step is written before it starts (``running``) and finished in the same transaction
that appends its result to the transcript. A turn that picks a run up again reads the
steps and resumes: a model call found ``running`` is made again (no side effects); a
tool call found ``running`` is not run again (its side effect may have happened); it
gets an error result saying so, and the model decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from agents.models import Run, RunStep
from agents.providers import ToolCall, Usage
from agents.runtime.context import INTERRUPTED_RESULT


def usage_dict(usage: Usage) -> dict[str, int]:
    out = {"input": usage.input, "output": usage.output, "totalTokens": usage.total}
    if usage.cache_read:
        out["cacheRead"] = usage.cache_read
    if usage.cache_write:
        out["cacheWrite"] = usage.cache_write
    return out


@dataclass
class StepNumbers:
    """Hands out the step numbers of one turn (steps are only written by this turn)."""

    max_steps: int
    next_no: int = 1

    def take(self) -> int:
        number = self.next_no
        self.next_no += 1
        return number

    @property
    def taken(self) -> int:
        """The run's ``step_count`` when it ends."""
        return min(max(self.next_no - 1, 0), self.max_steps)


# --- reads -------------------------------------------------------------------------------
def steps_of(run: Run) -> list[RunStep]:
    return list(RunStep.objects.filter(run=run).order_by("step_no"))


def pending_tool_calls(steps: list[RunStep]) -> list[ToolCall] | None:
    """Tool calls of the last finished model step still to run; None: a model call is due."""
    model_steps = [
        s for s in steps if s.kind == RunStep.Kind.MODEL_CALL and s.status == RunStep.Status.DONE
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
    started = sum(1 for s in steps if s.kind == RunStep.Kind.TOOL_CALL and s.step_no > last.step_no)
    return calls[started:] or None


# --- writes ------------------------------------------------------------------------------
def model_step_interrupted(step: RunStep) -> None:
    """A model call found running after a restart: failed, and simply made again."""
    RunStep.objects.filter(pk=step.pk).update(
        status=RunStep.Status.FAILED,
        error="interrupted (worker restart); the call is made again",
        finished_at=timezone.now(),
    )


def tool_step_interrupted(step: RunStep) -> bool:
    """A tool call found running after a restart: failed, not run again. False if it was
    settled already (by another worker)."""
    return (
        RunStep.objects.filter(pk=step.pk, status=RunStep.Status.RUNNING).update(
            status=RunStep.Status.FAILED,
            error="interrupted (worker restart); not run again",
            output={"content": INTERRUPTED_RESULT, "isError": True},
            finished_at=timezone.now(),
        )
        == 1
    )


def step_limit_reached(run: Run, step_no: int, message: str) -> None:
    now = timezone.now()
    RunStep.objects.create(
        run=run,
        step_no=min(step_no, run.max_steps + 1000),
        kind=RunStep.Kind.ERROR,
        status=RunStep.Status.FAILED,
        error=message,
        started_at=now,
        finished_at=now,
    )


def model_step_start(run: Run, step_no: int) -> None:
    RunStep.objects.create(
        run=run,
        step_no=step_no,
        kind=RunStep.Kind.MODEL_CALL,
        status=RunStep.Status.RUNNING,
        started_at=timezone.now(),
    )


def model_step_done(run: Run, step_no: int, output: dict[str, Any]) -> None:
    RunStep.objects.filter(run=run, step_no=step_no).update(
        status=RunStep.Status.DONE, output=output, finished_at=timezone.now()
    )


def model_step_failed(
    run: Run, step_no: int, *, reason: str, message: str, status: int | None, more: dict[str, Any]
) -> None:
    RunStep.objects.filter(run=run, step_no=step_no).update(
        status=RunStep.Status.FAILED,
        error=f"{reason}: {message}"[:2000],
        output={"reason": reason, "status": status, **more},
        finished_at=timezone.now(),
    )


def tool_step_start(run: Run, step_no: int, call: ToolCall) -> None:
    RunStep.objects.create(
        run=run,
        step_no=step_no,
        kind=RunStep.Kind.TOOL_CALL,
        status=RunStep.Status.RUNNING,
        tool_name=call.name[:100] or "?",
        tool_call_id=call.id[:200],
        input={"arguments": call.arguments_or_empty()},
        started_at=timezone.now(),
    )


def tool_step_finish(
    run: Run, step_no: int, *, content: str, is_error: bool, meta: dict[str, Any]
) -> None:
    RunStep.objects.filter(run=run, step_no=step_no).update(
        status=RunStep.Status.FAILED if is_error else RunStep.Status.DONE,
        output={"content": content[:20_000], "isError": is_error, "meta": meta},
        error=content[:2000] if is_error else "",
        finished_at=timezone.now(),
    )


def running_steps_fail(run: Run, error: str) -> None:
    """The run ends: a step of any kind still running is over too (failed)."""
    RunStep.objects.filter(run=run, status=RunStep.Status.RUNNING).update(
        status=RunStep.Status.FAILED, error=error[:2000], finished_at=timezone.now()
    )
