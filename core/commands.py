"""The base of the operator's management commands: what they write is audited.

A command that changes the configuration (``config``, ``channels``, ``agents``,
``sessions``, ``gateway_token``, ``pairing``, …) subclasses ``OperatorCommand`` instead
of ``BaseCommand``: it runs as the OS user who started it (``core.audit``), so its writes
land in the audit log with ``manage.py <command> <subcommand>`` as their source. The
runtime's commands (``gateway``, ``embedded_worker``) stay plain ``BaseCommand``s.
"""

from __future__ import annotations

import argparse
import getpass
import os
from typing import Any

from django.core.management.base import BaseCommand

from core.audit import Actor, acting


def os_user() -> str:
    """The OS user running this process, and who became it with sudo."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (a container's uid)
        name = f"uid {os.getuid()}"
    sudo = os.environ.get("SUDO_USER")
    return f"{name} (sudo by {sudo})" if sudo and sudo != name else name


class OperatorCommand(BaseCommand):
    """A command whose writes are an operator's: recorded in the audit log."""

    def execute(self, *args: Any, **options: Any) -> str | None:
        command = type(self).__module__.rsplit(".", 1)[-1]
        action = options.get("action")  # the subcommand (dest="action" in every command)
        source = f"manage.py {command}" + (f" {action}" if action else "")
        with acting(Actor(kind="command", name=os_user(), source=source)):
            return super().execute(*args, **options)


def json_after_subcommand(sub: Any) -> None:
    """Let ``--json`` follow the subcommand too (``agents list --json``, as OpenClaw's CLI
    takes it) besides preceding it (``agents --json list``)."""
    for parser in sub.choices.values():
        parser.add_argument(
            "--json",
            action="store_true",
            default=argparse.SUPPRESS,
            help="one JSON document on stdout",
        )
