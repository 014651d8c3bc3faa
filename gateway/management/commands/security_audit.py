"""``manage.py security_audit [--fix] [--json]``: what weakens this deployment's security.

Exit code 0 when nothing is found, 1 when something is (after ``--fix``, what is left).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from gateway.security_audit import security_audit, security_fix

EXIT_FOUND = 1


class Command(BaseCommand):
    help = (
        "Check this deployment's security: bind and credentials, open DM or group policies, "
        "DEBUG, data dir and key file permissions, secrets stored unencrypted, exec outside "
        "the sandbox. Exit 0 when clean, 1 when something is found."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--fix",
            action="store_true",
            help="repair what is safe to change unasked (file and folder permissions)",
        )
        parser.add_argument("--json", action="store_true", help="one JSON object on stdout")

    def handle(self, *args: Any, **options: Any) -> None:
        findings = security_audit()
        fixed = security_fix(findings) if options["fix"] else []
        if fixed:
            findings = security_audit()
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "ok": not findings,
                        "findings": [f.as_json() for f in findings],
                        "fixed": [f.as_json() for f in fixed],
                    },
                    indent=2,
                )
            )
        else:
            for finding in fixed:
                self.stdout.write(f"fixed: {finding.problem} ({finding.fix})")
            for finding in findings:
                self.stdout.write(f"{finding.severity.upper()} [{finding.check}] {finding.problem}")
                self.stdout.write(f"    fix: {finding.fix}")
            if not findings:
                self.stdout.write("No security findings.")
            else:
                critical = sum(f.severity == "critical" for f in findings)
                self.stdout.write(
                    f"{len(findings)} finding(s), {critical} critical"
                    + (
                        "; run with --fix to repair the permissions"
                        if not options["fix"] and any(f.fixable for f in findings)
                        else ""
                    )
                )
        if findings:
            sys.exit(EXIT_FOUND)
