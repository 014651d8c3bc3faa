"""``manage.py config get [path] | set <path> <value> | unset <path> | validate FILE``.

OpenClaw's ``config``. ``validate`` checks a JSON5 document (a file, or ``-`` for stdin)
by the same rules as ``config.patch``, in a transaction it rolls back: nothing applied.

``get`` prints the effective configuration (``gateway.catalog.config.config_document``,
what ``config.get`` answers), or one path of it. ``set`` takes a JSON5 value (a bare
word is a string); see ``gateway.config_service`` for the paths that can be set, among
them ``channels.telegram.botToken`` and ``channels.telegram.accounts.<id>.<key>``. A
secret is never printed: ``get`` shows it as ``__OPENCLAW_REDACTED__``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import json5
from django.core.management.base import CommandError, CommandParser
from django.db import transaction

from agents.services.config import ConfigError, parse_path
from channels_app.services.config import channels_path_canonical
from core.commands import OperatorCommand
from gateway.catalog.config import config_document
from gateway.config_service import config_patch, config_set


def _value(raw: str) -> Any:
    try:
        return json5.loads(raw)
    except ValueError:
        return raw  # a bare word, e.g. openai/gpt-4o-mini


class Command(OperatorCommand):
    help = (
        "Read or set the configuration by OpenClaw config path, e.g. agents.defaults.model.primary."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        get = sub.add_parser("get", help="print the configuration, or one path of it")
        get.add_argument("path", nargs="?")
        put = sub.add_parser("set", help="set a path to a JSON5 value")
        put.add_argument("path")
        put.add_argument("value")
        unset = sub.add_parser("unset", help="reset a path to its default")
        unset.add_argument("path")
        validate = sub.add_parser(
            "validate",
            help="check a JSON5 configuration file (or - for stdin) without applying it",
        )
        validate.add_argument("file")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "validate":
            self._validate(options["file"])
            return
        try:
            if options["action"] == "get":
                node: Any = config_document()
                parts = parse_path(options["path"]) if options["path"] else []
                for part in channels_path_canonical(parts):
                    try:
                        node = node[part]
                    except (KeyError, IndexError, TypeError):
                        raise CommandError(
                            f"{options['path']} is not in the configuration", returncode=2
                        ) from None
                self.stdout.write(json.dumps(node, indent=2, ensure_ascii=False))
                return
            value = _value(options["value"]) if options["action"] == "set" else None
            changed = config_set(options["path"], value)
        except ConfigError as exc:
            raise CommandError(exc.message, returncode=2) from None
        when = (
            "the channel picks it up now, no restart"
            if options["path"].startswith("channels")
            else "applies from the next turn"
        )
        what = ", ".join(changed) if changed else options["path"]
        self.stdout.write(f"{what} {'set' if value is not None else 'reset'}; {when}")

    def _validate(self, name: str) -> None:
        """Parse the file and apply it in a transaction that is rolled back."""
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot read {name}: {exc.strerror}", returncode=2) from None
        try:
            document = json5.loads(text)
        except ValueError as exc:
            raise CommandError(f"{name}: not valid JSON5: {exc}", returncode=2) from None
        try:
            with transaction.atomic():
                changed = config_patch(document)
                raise _DryRun(changed)
        except _DryRun as done:
            paths = done.changed
        except ConfigError as exc:
            raise CommandError(f"{name}: {exc.message}", returncode=2) from None
        self.stdout.write(
            f"{name}: valid ({len(paths)} setting(s) it would change); nothing applied"
        )


class _DryRun(Exception):  # noqa: N818  (not an error: it rolls the validation back)
    def __init__(self, changed: list[str]) -> None:
        super().__init__("dry run")
        self.changed = changed
