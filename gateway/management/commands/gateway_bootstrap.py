"""``manage.py gateway_bootstrap``: agent ``main`` and an operator token, idempotently.

The ``gateway`` command does this itself; team deployments that serve with daphne or
uvicorn directly run it once after ``migrate``.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from gateway.services import describe_bootstrap, gateway_bootstrap


class Command(BaseCommand):
    help = "Create agent 'main' and an operator token if missing (prints a new token once)."

    def handle(self, *args: Any, **options: Any) -> None:
        for line in describe_bootstrap(gateway_bootstrap()):
            self.stdout.write(line)
