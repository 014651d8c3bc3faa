"""``manage.py doctor [--fix] [--json]`` (OpenClaw's ``openclaw doctor``).

Exit 0 when nothing is wrong, 1 when something is (after ``--fix``, what is left).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from gateway.doctor import doctor, doctor_fix

EXIT_FOUND = 1


class Command(BaseCommand):
    help = (
        "Check that this gateway can run: configuration, data dir permissions, migrations, "
        "Redis, the port, token strength, channel credentials. --fix repairs what is safe "
        "(permissions; migrations after a database backup) and never deletes configuration."
    )
    # The first run's automatic migrate (core.firstrun) would hide a pending migration.
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--fix", action="store_true", help="repair what is safe")
        parser.add_argument("--json", action="store_true", help="one JSON object on stdout")

    def handle(self, *args: Any, **options: Any) -> None:
        problems = doctor()
        done = doctor_fix(problems) if options["fix"] else []
        if done:
            problems = doctor()
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "ok": not problems,
                        "problems": [p.as_json() for p in problems],
                        "fixed": done,
                    },
                    indent=2,
                )
            )
        else:
            for line in done:
                self.stdout.write(f"fixed: {line}")
            for problem in problems:
                self.stdout.write(f"[{problem.check}] {problem.problem}\n    fix: {problem.fix}")
            if not problems:
                self.stdout.write("No problems found.")
        if problems:
            sys.exit(EXIT_FOUND)
