"""``manage.py import_openclaw [DIR] [--config FILE] [--dry-run] [--json]``.

Imports an OpenClaw state dir (default ``$OPENCLAW_STATE_DIR``, else ``~/.openclaw``):
its ``openclaw.json`` (JSON5, ``$include``, ``${VAR}``), cron jobs, approved pairings and
session transcripts, in one transaction (``gateway.openclaw_import``). Running it twice
changes nothing the second time. The report says what was imported and, by path, what
this gateway has no place for. Bad input (a JSON5 syntax error, an unknown key, an
unset ``${VAR}``, a binding to a missing agent, a missing directory) exits 2 with the
reason and imports nothing.

On a terminal a progress bar is drawn with Django's own output (a carriage return per
item): the import's items are counted up front, so a library would add nothing but a
dependency.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

from django.core.management.base import CommandError, CommandParser

from core.commands import OperatorCommand
from gateway.openclaw_import import ImportReport, OpenClawImportError, openclaw_import

EXIT_BAD_INPUT = 2
BAR_WIDTH = 30


class Command(OperatorCommand):
    help = (
        "Import an OpenClaw state dir (~/.openclaw): openclaw.json, cron jobs, approved "
        "pairings and session transcripts, in one transaction."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "directory",
            nargs="?",
            help="the OpenClaw state dir (default: $OPENCLAW_STATE_DIR, else ~/.openclaw)",
        )
        parser.add_argument(
            "--config",
            help="the config file (default: DIR/openclaw.json; without DIR, "
            "$OPENCLAW_CONFIG_PATH if set)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="import, report, then roll everything back"
        )
        parser.add_argument("--json", action="store_true", help="the report as one JSON document")

    def _bar(self, what: str, done: int, total: int) -> None:
        width = shutil.get_terminal_size((80, 20)).columns
        filled = BAR_WIDTH * done // max(total, 1)
        line = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total} {what}"
        self.stdout.write("\r" + line[: width - 1].ljust(width - 1), ending="")
        self.stdout.flush()

    def handle(self, *args: Any, **options: Any) -> None:
        draw = self.stdout.isatty() and not options["json"]
        try:
            report = openclaw_import(
                directory=options["directory"],
                config=options["config"],
                env=os.environ,
                dry_run=options["dry_run"],
                progress=self._bar if draw else None,
            )
        except OpenClawImportError as exc:
            if draw:
                self.stdout.write("")
            raise CommandError(
                f"nothing imported: {exc.message}", returncode=EXIT_BAD_INPUT
            ) from None
        if draw:
            self.stdout.write("")  # end the bar's line
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
            return
        self._summary(report)

    def _summary(self, report: ImportReport) -> None:
        data = report.as_dict()
        verb = "would import" if report.dry_run else "imported"
        self.stdout.write(f"{verb} {report.config_path} ({len(report.files)} files read)")
        for title, items in (
            ("created", data["config"]["created"]),
            ("changed", data["config"]["changed"]),
        ):
            if items:
                self.stdout.write(f"  config {title}: {', '.join(items)}")
        cron, allow, sessions = data["cron"], data["allowlist"], data["sessions"]
        self.stdout.write(
            f"  cron jobs: {cron['created']} created, {cron['updated']} updated, "
            f"{cron['unchanged']} unchanged"
        )
        self.stdout.write(
            f"  approved senders: {allow['added']} added, {allow['unchanged']} already there"
        )
        self.stdout.write(
            f"  sessions: {sessions['created']} created, {sessions['updated']} with new "
            f"messages, {sessions['unchanged']} unchanged ({sessions['messages']} messages)"
        )
        if not report.changes:
            self.stdout.write("  nothing changed: the database already had all of it")
        if report.not_mapped:
            self.stdout.write(f"not mapped ({len(report.not_mapped)}):")
            for item in report.not_mapped:
                self.stdout.write(f"  {item.path}: {item.why}")
        if report.dry_run:
            self.stdout.write("dry run: nothing was written")
