"""``manage.py gateway_bootstrap``: agent ``main`` and an operator token, idempotently.

The ``gateway`` command does this itself; team deployments that serve with daphne or
uvicorn directly run it once after ``migrate``.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from core.commands import OperatorCommand
from gateway.services import TokenError, describe_bootstrap, gateway_bootstrap


class Command(OperatorCommand):
    help = "Create agent 'main' and an operator token if missing (prints a new token once)."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = gateway_bootstrap()
        except TokenError as exc:
            raise CommandError(f"OPENCLAW_GATEWAY_TOKEN: {exc}") from None
        for line in describe_bootstrap(result):
            self.stdout.write(line)
