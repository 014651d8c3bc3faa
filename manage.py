#!/usr/bin/env python
"""Django's command-line utility, with one-line errors for bad configuration."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "openclaw_site.settings")
    # Django is imported after DJANGO_SETTINGS_MODULE is set (Django's own manage.py does
    # the same), and the data dir module only for the commands that need it.
    from django.core.exceptions import ImproperlyConfigured  # noqa: PLC0415  (see above)

    try:
        from django.conf import settings  # noqa: PLC0415  (see above)

        settings.INSTALLED_APPS  # noqa: B018  (import settings now to report errors plainly)
    except ImproperlyConfigured as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(2)

    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command not in {"gateway", "help", "--help", "-h", "version", "--version", ""}:
        # The gateway command creates the data dir itself once its start-up checks pass;
        # every other command (migrate, createsuperuser, ...) needs it to exist.
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
