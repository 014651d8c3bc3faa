"""``manage.py export_openclaw [--output PATH] [--include-secrets]``.

Writes the configuration as an OpenClaw 2026.9 ``openclaw.json`` (stdout by default;
``gateway.openclaw_render``): OpenClaw's ``openclaw config validate`` accepts it, and
``manage.py import_openclaw`` reads it back to the same configuration.

Secrets: by default a bot token or webhook secret is written as an env reference
(``"${TELEGRAM_BOT_TOKEN}"``) that OpenClaw resolves when it loads the file, and the
variables to set are listed on stderr; ``--include-secrets`` writes the values. A file
written with ``--output`` is readable by its owner only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gateway.openclaw_render import document_render

EXIT_BAD_INPUT = 2


class Command(BaseCommand):
    help = "Write the configuration as an OpenClaw openclaw.json (stdout by default)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", "-o", help="write to this file (mode 600) instead")
        parser.add_argument(
            "--include-secrets",
            action="store_true",
            help="write bot tokens and webhook secrets themselves instead of ${ENV} references",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        rendered = document_render(include_secrets=options["include_secrets"])
        text = json.dumps(rendered.document, indent=2, ensure_ascii=False) + "\n"
        output = options["output"]
        if output:
            path = Path(output).expanduser()
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(text)
                path.chmod(0o600)
            except OSError as exc:
                raise CommandError(
                    f"cannot write {path}: {exc.strerror or exc}", returncode=EXIT_BAD_INPUT
                ) from None
            self.stderr.write(f"wrote {path}")
        else:
            self.stdout.write(text, ending="")
        if rendered.env_refs:
            self.stderr.write(
                "set these before OpenClaw loads the file (their values are this gateway's "
                f"secrets; --include-secrets writes them instead): {', '.join(rendered.env_refs)}"
            )
        for note in rendered.notes:
            self.stderr.write(f"not exported: {note}")
