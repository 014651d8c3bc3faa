"""``manage.py agents list|add|remove [--json]``: OpenClaw's ``openclaw agents``.

An agent is an id, a name, a model and a workspace of prompt files. ``add`` validates
as the admin does; ``remove`` refuses the default agent while others exist, and an agent
that runs, routing rules or cron jobs still name (disable or reassign them first).
Bad input exits 2 saying what to do.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser
from django.db.models import ProtectedError

from agents.models import Agent
from agents.services.agents import agent_workspace_path
from agents.services.roster import agent_delete, agent_store
from core.commands import OperatorCommand, json_after_subcommand

EXIT_BAD_INPUT = 2


def _row(agent: Agent) -> dict[str, Any]:
    return {
        "id": agent.slug,
        "name": agent.name,
        "default": agent.is_default,
        "model": agent.model_primary or None,
        "sandboxMode": agent.sandbox_mode,
        "workspace": str(agent_workspace_path(agent)),
    }


def _problem(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)


class Command(OperatorCommand):
    help = "List, add or remove agents (OpenClaw's `openclaw agents`)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="the agents, the default first")
        add = sub.add_parser("add", help="add an agent")
        add.add_argument("agent_id", help="lowercase letters, digits, - and _ (e.g. ops)")
        add.add_argument("--name", help="shown in clients (default: the id)")
        add.add_argument("--model", default="", help="provider/model, e.g. openai/gpt-4o-mini")
        add.add_argument("--workspace", default="", help="folder of its prompt files")
        add.add_argument(
            "--sandbox", choices=[m.value for m in Agent.SandboxMode], default="non-main"
        )
        add.add_argument("--default", action="store_true", help="make it the default agent")
        remove = sub.add_parser("remove", help="remove an agent (its sessions stay)")
        remove.add_argument("agent_id")
        json_after_subcommand(sub)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "list":
            agents = sorted(Agent.objects.all(), key=lambda a: (not a.is_default, a.slug))
            if options["json"]:
                self.stdout.write(json.dumps({"agents": [_row(a) for a in agents]}))
                return
            for agent in agents:
                row = _row(agent)
                self.stdout.write(
                    f"{row['id']}{' (default)' if row['default'] else ''}\t{row['name']}\t"
                    f"{row['model'] or 'default model'}\tsandbox {row['sandboxMode']}\t"
                    f"{row['workspace']}"
                )
        elif action == "add":
            self._add(options)
        else:
            self._remove(options)

    def _add(self, options: dict[str, Any]) -> None:
        slug = options["agent_id"].strip().lower()
        if Agent.objects.filter(slug=slug).exists():
            raise CommandError(
                f"agent {slug!r} exists already; `manage.py agents list` shows them",
                returncode=EXIT_BAD_INPUT,
            )
        agent = Agent(
            slug=slug,
            name=options["name"] or slug,
            model_primary=options["model"].strip(),
            workspace=options["workspace"].strip(),
            sandbox_mode=options["sandbox"],
            is_default=options["default"] or not Agent.objects.exists(),
        )
        try:
            agent_store(agent=agent)
        except ValidationError as exc:
            raise CommandError(_problem(exc), returncode=EXIT_BAD_INPUT) from None
        row = _row(agent)
        self.stdout.write(json.dumps(row) if options["json"] else f"Added agent {slug}")

    def _remove(self, options: dict[str, Any]) -> None:
        slug = options["agent_id"].strip().lower()
        agent = Agent.objects.filter(slug=slug).first()
        if agent is None:
            raise CommandError(
                f"no agent {slug!r}; `manage.py agents list` shows them", returncode=EXIT_BAD_INPUT
            )
        if agent.is_default and Agent.objects.exclude(pk=agent.pk).exists():
            raise CommandError(
                f"{slug!r} is the default agent: make another one the default first "
                "(admin: Agents, or `agents add ... --default`)",
                returncode=EXIT_BAD_INPUT,
            )
        try:
            agent_delete(agent=agent)
        except ProtectedError as exc:
            kinds = sorted(
                {str(type(obj)._meta.verbose_name_plural) for obj in exc.protected_objects}
            )
            raise CommandError(
                f"agent {slug!r} is still named by {', '.join(kinds)}: delete or reassign "
                "them first (the admin lists them)",
                returncode=EXIT_BAD_INPUT,
            ) from None
        self.stdout.write(
            json.dumps({"removed": slug}) if options["json"] else f"Removed agent {slug}"
        )
