"""How a turn ends: one skeleton for succeeded, aborted and failed.

An ending is one transaction, serialized with the claims of its session: the run's
compare-and-set from ``running`` while this worker still holds the lease (so a worker
the sweeper gave up on, or the watchdog ending a stuck turn, writes nothing the second
time), its steps, the reply in the transcript, the runs merged into it. Only after the
commit are the events announced (the final message is in the transcript first), and
the session's next queued run is kicked.

A process that stops hands the run back instead (not ended): the next worker resumes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents.lib.heartbeat import DEFAULT_ACK_MAX_CHARS, strip_heartbeat_token
from agents.lib.prompt import HEARTBEAT_TOKEN, SILENT_REPLY_TOKEN
from agents.models import Run
from agents.runtime import steps
from agents.runtime.announce import Announcer, assistant_message
from agents.runtime.claim import Claimed, kick_next
from agents.runtime.context import remember_ended_run
from agents.runtime.control import Control
from agents.runtime.model_call import ModelResult, ModelSteps
from agents.runtime.steps import StepNumbers, usage_dict
from agents.runtime.watchdog import hand_back as watchdog_hand_back
from core import delivery
from core.clock import now_ms
from core.redact import redact
from sessions_app.services import (
    session_changed_announce,
    session_lock,
    session_message_append,
)
from sessions_app.wire import to_ms

logger = logging.getLogger(__name__)
# Runs whose reply goes to the chat in their reply_to (a chat message, a webhook, a cron job).
DELIVERED_ORIGINS = (Run.Origin.CHANNEL, Run.Origin.HOOK, Run.Origin.CRON, Run.Origin.HEARTBEAT)


@dataclass(frozen=True)
class Reply:
    """The assistant message an ending writes to the transcript."""

    text: str
    model: str
    stop_reason: str
    usage: dict[str, int] | None = None


@dataclass(frozen=True)
class Ending:
    """What one ending writes and says; ``Finish._end`` is the skeleton all three share."""

    status: str  # Run.Status.SUCCEEDED, ABORTED or FAILED
    chat_state: str  # the chat event: "final", "aborted" or "error"
    run_fields: dict[str, Any] = field(default_factory=dict)  # more fields of the run's CAS
    merged_fields: dict[str, Any] = field(default_factory=dict)  # merged runs take these too
    model_step: dict[str, Any] | None = None  # the final model step's output (succeeded)
    steps_error: str | None = None  # steps still running fail with this (aborted, failed)
    reply: Reply | None = None
    chat_fields: dict[str, Any] = field(default_factory=dict)
    chat_message: str | None = None  # the chat event carries this text as its message
    merged_chat_fields: dict[str, Any] = field(default_factory=dict)
    usage_event: dict[str, int] | None = None  # the agent ``usage`` event (succeeded)
    stop_reason: str = ""  # lifecycle "end" (succeeded, aborted)
    error: str = ""  # lifecycle "error" (failed)
    flush_delta: bool = False  # the last coalesced delta goes out before the final
    log_level: int = logging.INFO
    log_text: str = ""
    # The run's CAS requires its cancel flag unset (succeeded: the stream's last chunk
    # was not followed by a read of the flag).
    unless_cancelled: bool = False


class Finish:
    """The endings of one turn."""

    def __init__(
        self,
        *,
        claimed: Claimed,
        control: Control,
        say: Announcer,
        model: ModelSteps,
        numbers: StepNumbers,
    ) -> None:
        self.c = claimed
        self.control = control
        self.say = say
        self.model = model
        self.numbers = numbers

    @property
    def run(self) -> Run:
        return self.c.run

    # the three endings ----------------------------------------------------------------
    def succeeded(self, result: ModelResult) -> None:
        text, done = result.text, result.done
        usage = usage_dict(self.model.usage)
        ended = self._end(
            Ending(
                status=Run.Status.SUCCEEDED,
                chat_state="final",
                run_fields={"usage": usage, "model": result.model_ref},
                model_step=self.model.step_output(result, text=text[:20_000]),
                reply=Reply(text, result.model_ref, done.stop_reason, usage_dict(done.usage)),
                chat_fields={"stopReason": done.stop_reason, "usage": usage},
                chat_message=None if self._silent(text) else text,
                merged_chat_fields={"stopReason": done.stop_reason},
                usage_event={
                    "inputTokens": self.model.usage.input,
                    "outputTokens": self.model.usage.output,
                    "totalTokens": self.model.usage.total,
                },
                stop_reason=done.stop_reason,
                flush_delta=True,
                log_text="succeeded",
                unless_cancelled=True,
            )
        )
        if not ended:
            # A cancel came after the stream's last check (or the run is not ours any
            # more): this raises it, and the turn ends the run aborted with the text.
            self.control.check(force=True)

    def aborted(self) -> None:
        text = self.say.text
        self._end(
            Ending(
                status=Run.Status.ABORTED,
                chat_state="aborted",
                merged_fields={"status": Run.Status.ABORTED},
                steps_error="aborted",
                reply=Reply(text, self.model.model_ref, "aborted") if text else None,
                chat_fields={"stopReason": "rpc"},
                chat_message=text or None,
                merged_chat_fields={"stopReason": "rpc"},
                stop_reason="rpc",
                log_text="aborted",
            )
        )

    def failed(self, *, kind: str, message: str) -> None:
        message = redact(message)
        error = {"error_kind": kind, "error_message": message[:4000]}
        self._end(
            Ending(
                status=Run.Status.FAILED,
                chat_state="error",
                run_fields=error,
                merged_fields={"status": Run.Status.FAILED, **error},
                steps_error=message,
                chat_fields={"errorMessage": message, "errorKind": kind},
                merged_chat_fields={"errorMessage": message, "errorKind": kind},
                error=message,
                log_level=logging.WARNING,
                log_text=f"failed ({kind}): {message}",
            )
        )

    def timed_out(self) -> None:
        flight = self.control.flight
        doing = flight.doing if flight is not None else "running"
        self.failed(
            kind="timeout",
            message=f"the run took longer than its {settings.AGENT_RUN_TIMEOUT_S} s limit "
            f"(OPENCLAW_RUN_TIMEOUT_S) and was stopped while {doing}",
        )

    def overdue(self, why: str) -> None:
        """On the watchdog's thread: this turn's thread is stuck past its stop; end the run.

        The CAS on the lease makes this and the stuck thread's own ending exclusive:
        whichever comes second writes nothing.
        """
        if why == "cancel":
            self.aborted()
        else:
            self.timed_out()

    def hand_back(self) -> None:
        """This process stops: release the run (not ended) for the next worker or start.

        Its steps stay as they are: a model call left running is made again, a tool call
        left running is not (``steps.pending_tool_calls``). The watchdog logs the line.
        """
        if self.control.flight is not None:
            watchdog_hand_back(self.control.flight)

    # the skeleton ---------------------------------------------------------------------
    def _end(self, e: Ending) -> bool:
        """End the run as ``e`` says; False when its CAS found it not ours to end."""
        run = self.run
        with transaction.atomic():
            session_lock(session_pk=self.c.session.pk)
            if not self._cas(e.status, unless_cancelled=e.unless_cancelled, **e.run_fields):
                return False
            if e.model_step is not None and self.model.step_no is not None:
                steps.model_step_done(run, self.model.step_no, e.model_step)
            if e.steps_error is not None:
                steps.running_steps_fail(run, e.steps_error)
            if e.reply is not None:
                session_message_append(
                    session=self.c.session,
                    role="assistant",
                    content=[{"type": "text", "text": e.reply.text}],
                    run_public_id=run.public_id,
                    model=e.reply.model,
                    usage=e.reply.usage,
                    stop_reason=e.reply.stop_reason,
                    changed_reason=None,
                )
            if e.status == Run.Status.SUCCEEDED and e.chat_message is not None:
                self._deliver_reply(e.chat_message)
            merged = self._end_merged(e.merged_fields)
            ended = now_ms()
            transaction.on_commit(lambda: self._announce(e, merged, ended))
            if e.status == Run.Status.SUCCEEDED:
                # This turn's grouping is final now: the next prompt need not query it.
                transaction.on_commit(lambda: remember_ended_run(run.public_id, run.trigger_seq))
            phase = "error" if e.status == Run.Status.FAILED else "end"
            session_changed_announce(
                session=self.c.session, extra={"phase": phase, "runId": run.run_id}
            )
            kick_next(self.c.session.pk)
        logger.log(e.log_level, "run %s %s", run.run_id, e.log_text, extra={"run_id": run.run_id})
        return True

    def _silent(self, text: str) -> bool:
        return silent_reply(self.run, text)

    def _heartbeat_ack(self, text: str) -> bool:
        return heartbeat_ack(self.run, text)

    def _deliver_reply(self, text: str) -> None:
        """A run that answers a channel message queues its reply in that chat's outbox.

        Through the delivery port (``core.delivery``: the agents app does not import
        channels_app), in the ending's transaction: the outbox row commits with the run's
        end or not at all, and the run's public id keys it, so a retried ending never
        queues a second copy. ``reply_to`` is ``{channel, accountId, chatId, threadId?}``.
        A silent reply (``NO_REPLY``) is never delivered, nor a heartbeat acknowledgement
        (``HEARTBEAT_OK``, which OpenClaw strips from the start and end of a reply; what
        is left, if anything, is sent).
        """
        run = self.run
        to = run.reply_to or {}
        if run.origin not in DELIVERED_ORIGINS or not to.get("chatId"):
            return
        if run.origin == Run.Origin.HEARTBEAT and self._heartbeat_ack(text):
            return  # HEARTBEAT_OK, with at most ackMaxChars around it
        text = deliverable_text(text)
        if not text:
            return
        try:
            delivery.deliver(
                delivery.ChannelMessage(
                    channel=str(to.get("channel") or self.c.session.channel),
                    account_id=str(to.get("accountId") or self.c.session.account_id or "default"),
                    chat_id=str(to["chatId"]),
                    thread_id=str(to.get("threadId") or ""),
                    reply_to_message_id=str(to.get("replyToMessageId") or ""),
                    text=text,
                    dedupe_key=f"run:{run.public_id}:reply",
                    run_public_id=run.public_id,
                )
            )
        except delivery.DeliveryError as exc:
            logger.warning(
                "run %s: the reply was not queued for its channel: %s",
                run.run_id,
                exc,
                extra={"run_id": run.run_id},
            )

    def _cas(self, status: str, *, unless_cancelled: bool = False, **fields: Any) -> bool:
        """CAS running → ``status`` while this worker still holds the lease."""
        fields.setdefault("step_count", self.numbers.taken)
        where: dict[str, Any] = {
            "pk": self.run.pk,
            "status": Run.Status.RUNNING,
            "lease_owner": self.control.owner[:100],
        }
        if unless_cancelled:
            where["cancel_requested"] = False
        return (
            Run.objects.filter(**where).update(
                status=status,
                finished_at=timezone.now(),
                lease_owner="",
                lease_expires_at=None,
                **fields,
            )
            == 1
        )

    def _end_merged(self, fields: dict[str, Any]) -> list[str]:
        if not self.c.merged:
            return []
        pks = [pk for pk, _ in self.c.merged]
        Run.objects.filter(pk__in=pks).update(finished_at=timezone.now(), **fields)
        return [rid for _, rid in self.c.merged]

    def _announce(self, e: Ending, merged: list[str], ended: int) -> None:
        say = self.say
        if e.usage_event is not None:
            say.agent("usage", e.usage_event)
        if e.status == Run.Status.FAILED:
            say.agent("lifecycle", {"phase": "error", "error": e.error, "endedAt": ended})
        else:
            say.agent(
                "lifecycle",
                {
                    "phase": "end",
                    "startedAt": to_ms(self.run.started_at),
                    "endedAt": ended,
                    "aborted": e.status == Run.Status.ABORTED,
                    "stopReason": e.stop_reason,
                },
            )
        if e.flush_delta:
            say.flush_delta()
        fields = dict(e.chat_fields)
        if e.chat_message is not None:
            fields["message"] = assistant_message(e.chat_message)
        say.chat(e.chat_state, **fields)
        for rid in merged:
            say.chat(e.chat_state, run_id=rid, **e.merged_chat_fields)


def silent_reply(run: Run, text: str) -> bool:
    """``NO_REPLY``, or a heartbeat's acknowledgement: no message in ``chat`` final."""
    if text.strip() == SILENT_REPLY_TOKEN:
        return True
    return run.origin == Run.Origin.HEARTBEAT and heartbeat_ack(run, text)


def heartbeat_ack(run: Run, text: str) -> bool:
    ack = int((run.reply_to or {}).get("ackMaxChars", DEFAULT_ACK_MAX_CHARS))
    return strip_heartbeat_token(text, ack_max_chars=ack).should_skip


def deliverable_text(text: str) -> str:
    """A reply as a chat receives it: "" for ``NO_REPLY`` or a bare ``HEARTBEAT_OK``."""
    stripped = text.strip()
    if stripped == SILENT_REPLY_TOKEN:
        return ""
    if stripped.startswith(HEARTBEAT_TOKEN):
        stripped = stripped[len(HEARTBEAT_TOKEN) :].lstrip(" \t\n.:!-")
    if stripped.endswith(HEARTBEAT_TOKEN):
        stripped = stripped[: -len(HEARTBEAT_TOKEN)].rstrip()
    return stripped
