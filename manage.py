#!/usr/bin/env python
"""Django's command-line utility, with one-line errors for bad configuration."""

from __future__ import annotations

import os
import sys


def _option(args: list[str], name: str) -> str | None:
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "openclaw_site.settings")
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    data_dir = _option(sys.argv[2:], "--data-dir") if command == "onboard" else None
    if data_dir:
        # Every path of the settings derives from the data dir, read once at import.
        os.environ["OPENCLAW_DATA_DIR"] = data_dir
    # Django is imported after DJANGO_SETTINGS_MODULE is set (Django's own manage.py does
    # the same), and the data dir module only for the commands that need it.
    from django.core.exceptions import ImproperlyConfigured  # noqa: PLC0415  (see above)

    try:
        from django.conf import settings  # noqa: PLC0415  (see above)

        settings.INSTALLED_APPS  # noqa: B018  (import settings now to report errors plainly)
    except ImproperlyConfigured as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(2)

    # gateway and onboard create the data dir themselves once their checks pass; every
    # other command (migrate, createsuperuser, ...) needs it to exist.
    if command not in {"gateway", "onboard", "help", "--help", "-h", "version", "--version", ""}:
        from core.datadir import DataDirError, bootstrap_data_dir  # noqa: PLC0415  (see above)

        try:
            bootstrap_data_dir()
        except DataDirError as exc:
            sys.stderr.write(f"error: {exc}\n")
            sys.exit(2)
        # A fresh data dir has no tables yet: set the database up first (embedded mode),
        # or say in one line what to run (team mode).
        import django  # noqa: PLC0415  (see above)

        django.setup()
        from core.firstrun import DatabaseNotReadyError, database_prepare  # noqa: PLC0415  (see above)

        try:
            note = database_prepare(command)
        except DatabaseNotReadyError as exc:
            sys.stderr.write(f"error: {exc}\n")
            sys.exit(2)
        if note:
            sys.stderr.write(note + "\n")

    from django.core.management import execute_from_command_line  # noqa: PLC0415  (see above)

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
