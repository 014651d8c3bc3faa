"""``manage.py cron list|add|run|remove|runs [--json]``: OpenClaw's ``openclaw cron``.

``add`` takes OpenClaw's flags (``--every 1h``, ``--at 20m``, ``--cron "0 9 * * 1-5" --tz
Europe/Berlin``, ``--system-event TEXT`` or ``--message TEXT``, ``--announce --channel
telegram --to 42``) and calls the same service as ``cron.add``; ``run`` claims the job as
``cron.run`` does (a running gateway starts it within a tick or two). Bad input exits 2
saying what to do.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from agents import cron_selectors
from agents.lib import cron_schedule
from agents.models import CronJob
from agents.services import cron as cron_service
from core.commands import OperatorCommand, json_after_subcommand

EXIT_BAD_INPUT = 2


def _when(value: datetime | None) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S %Z") if value else "-"


def _schedule_text(job: CronJob) -> str:
    if job.schedule_kind == CronJob.ScheduleKind.AT:
        return f"at {_when(job.at)}"
    if job.schedule_kind == CronJob.ScheduleKind.EVERY:
        return f"every {job.every_ms} ms"
    return f"cron {job.cron_expr}" + (f" ({job.tz})" if job.tz else "")


def _bad(message: str) -> CommandError:
    return CommandError(message, returncode=EXIT_BAD_INPUT)


class Command(OperatorCommand):
    help = "List, add, run or remove cron jobs (OpenClaw's `openclaw cron`)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="the jobs, next run first")
        listing.add_argument("--all", action="store_true", help="include disabled jobs")
        add = sub.add_parser("add", help="add a job")
        add.add_argument("--name", required=True)
        add.add_argument("--description", default="")
        add.add_argument("--agent", default="", help="agent id (default: the default agent)")
        when = add.add_mutually_exclusive_group(required=True)
        when.add_argument("--at", help="once: an ISO time or a duration such as 20m")
        when.add_argument("--every", help="an interval such as 10m, 1h or 1d")
        when.add_argument("--cron", help="a 5- or 6-field cron expression, e.g. '0 9 * * 1-5'")
        add.add_argument("--tz", default="", help="IANA time zone of --cron (default UTC)")
        stagger = add.add_mutually_exclusive_group()
        stagger.add_argument("--stagger", help="spread a cron job over this window, e.g. 5m")
        stagger.add_argument("--exact", action="store_true", help="no stagger (run on the dot)")
        what = add.add_mutually_exclusive_group(required=True)
        what.add_argument("--system-event", help="text injected into the main session")
        what.add_argument("--message", help="a message for an agent turn")
        add.add_argument("--session", help="main, isolated or session:<key>")
        add.add_argument("--wake", choices=["now", "next-heartbeat"], default="now")
        add.add_argument("--model", help="model override of an agent turn (provider/model)")
        add.add_argument("--timeout-seconds", type=int, help="stop an agent turn after this")
        add.add_argument("--tools", help="tool allow-list of an isolated turn, e.g. read,ls")
        deliver = add.add_mutually_exclusive_group()
        deliver.add_argument("--announce", action="store_true", help="send the reply to a chat")
        deliver.add_argument("--no-deliver", action="store_true", help="keep it in the session")
        add.add_argument("--channel", help="delivery channel, e.g. telegram (default: last)")
        add.add_argument("--to", help="delivery chat id")
        add.add_argument("--account", help="channel account id")
        add.add_argument("--thread-id", help="thread or topic id")
        add.add_argument("--disabled", action="store_true", help="create it disabled")
        keep = add.add_mutually_exclusive_group()
        keep.add_argument("--delete-after-run", action="store_true")
        keep.add_argument("--keep-after-run", action="store_true")
        run = sub.add_parser("run", help="run a job now")
        run.add_argument("job_id")
        run.add_argument("--due", action="store_true", help="only when it is due")
        remove = sub.add_parser("remove", help="remove a job (its run history stays)")
        remove.add_argument("job_id")
        runs = sub.add_parser("runs", help="the finished runs of a job")
        runs.add_argument("job_id")
        runs.add_argument("--limit", type=int, default=20)
        json_after_subcommand(sub)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            getattr(self, f"_{action}")(options)
        except cron_service.CronError as exc:
            raise _bad(exc.message) from None

    def _out(self, options: dict[str, Any], document: Any, text: str) -> None:
        self.stdout.write(json.dumps(document) if options["json"] else text)

    def _list(self, options: dict[str, Any]) -> None:
        jobs = CronJob.objects.select_related("agent").order_by("next_run_at", "name")
        if not options["all"]:
            jobs = jobs.filter(enabled=True)
        rows = [cron_selectors.cron_job_openclaw(job) for job in jobs]
        lines = [
            f"{job.public_id}  {job.name}  {_schedule_text(job)}  next {_when(job.next_run_at)}"
            f"  last {job.last_status or '-'}{'' if job.enabled else '  (disabled)'}"
            for job in jobs
        ]
        self._out(options, {"jobs": rows}, "\n".join(lines) or "No cron jobs.")

    def _add(self, options: dict[str, Any]) -> None:
        job = self._job(options)
        created = cron_service.cron_add(job=job)
        row = cron_selectors.cron_job_openclaw(
            CronJob.objects.select_related("agent").get(pk=created.pk)
        )
        self._out(
            options,
            row,
            f"Added cron job {created.public_id} ({created.name}); next run "
            f"{_when(created.next_run_at)}",
        )

    def _job(self, options: dict[str, Any]) -> dict[str, Any]:
        """OpenClaw's job JSON from the flags (as its CLI builds it)."""
        try:
            if options["at"]:
                schedule: dict[str, Any] = {"kind": "at", "at": options["at"], "tz": options["tz"]}
            elif options["every"]:
                every = cron_schedule.parse_duration_ms(options["every"])
                schedule = {"kind": "every", "everyMs": every}
            else:
                schedule = {"kind": "cron", "expr": options["cron"], "tz": options["tz"]}
                if options["exact"]:
                    schedule["staggerMs"] = 0
                elif options["stagger"]:
                    schedule["staggerMs"] = cron_schedule.parse_duration_ms(options["stagger"])
        except cron_schedule.ScheduleError as exc:
            raise _bad(str(exc)) from None
        if options["system_event"] is not None:
            payload: dict[str, Any] = {"kind": "systemEvent", "text": options["system_event"]}
        else:
            payload = {"kind": "agentTurn", "message": options["message"]}
            payload.update(model=options["model"], timeoutSeconds=options["timeout_seconds"])
            if options["tools"] is not None:
                payload["toolsAllow"] = options["tools"].replace(",", " ").split()
        job: dict[str, Any] = {
            "name": options["name"],
            "description": options["description"],
            "enabled": not options["disabled"],
            "agentId": options["agent"] or None,
            "schedule": schedule,
            "sessionTarget": options["session"],
            "wakeMode": options["wake"],
            "payload": {k: v for k, v in payload.items() if v is not None},
        }
        if options["delete_after_run"] or options["keep_after_run"]:
            job["deleteAfterRun"] = bool(options["delete_after_run"])
        chat = {
            "channel": options["channel"],
            "to": options["to"],
            "accountId": options["account"],
            "threadId": options["thread_id"],
        }
        if payload["kind"] == "agentTurn" and not options["no_deliver"]:
            job["delivery"] = {"mode": "announce", **{k: v for k, v in chat.items() if v}}
        elif options["announce"] or any(chat.values()):
            raise _bad("--announce, --channel and --to are for --message jobs (agent turns)")
        return job

    def _run(self, options: dict[str, Any]) -> None:
        outcome = cron_service.cron_run_now(
            job_id=options["job_id"], mode="due" if options["due"] else "force"
        )
        document: dict[str, Any] = {"ok": True, "ran": outcome.ran}
        if outcome.ran:
            document.update(enqueued=True, runId=outcome.run_id)
            text = f"Started cron run {outcome.run_id}; `manage.py cron runs` shows how it ended"
        else:
            document["reason"] = outcome.reason
            text = f"Not run: {outcome.reason}"
        self._out(options, document, text)

    def _remove(self, options: dict[str, Any]) -> None:
        if not cron_service.cron_remove(job_id=options["job_id"]):
            raise _bad(f"no cron job {options['job_id']!r}; `manage.py cron list --all` shows them")
        self._out(options, {"ok": True, "removed": True}, f"Removed cron job {options['job_id']}")

    def _runs(self, options: dict[str, Any]) -> None:
        public_id = cron_selectors.parse_job_id(options["job_id"])
        if public_id is None or not cron_selectors.cron_job_known(job_public_id=public_id):
            raise _bad(f"no cron job {options['job_id']!r}; `manage.py cron list --all` shows them")
        page = cron_selectors.cron_runs_page(
            job_public_id=public_id, limit=max(1, min(options["limit"], 200))
        )
        entries = [cron_selectors.cron_run_entry(run) for run in page.runs]
        lines = [
            f"{_when(run.started_at or run.scheduled_for)}  {run.status}  "
            f"{run.delivery_status}  {(run.error or run.summary)[:80]}"
            for run in page.runs
        ]
        self._out(
            options, {"entries": entries, "total": page.total}, "\n".join(lines) or "No runs."
        )
