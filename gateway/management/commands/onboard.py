"""``manage.py onboard``: set the gateway up on a fresh machine, and again at any time.

The data dir (mode 700), the database's migrations, an admin user, agent ``main`` and
the operator token (shown once), a model provider key (encrypted), the default model,
a Telegram bot token (encrypted) and, with ``--install-daemon``, systemd units. Every
step keeps what exists (``gateway.onboarding``); a second run changes nothing.

On a terminal it asks (Enter takes the default; a stored key or token is replaced only
after a yes). ``--non-interactive`` takes everything from flags and keeps whatever
exists, saying so; ``--json`` (non-interactive) prints one JSON object. Bad input stops
before anything is written, with one line and exit code 2.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser
from django.db import DatabaseError, connection

from agents.runtime.model_config import DEFAULT_MODEL_OF
from agents.services.providers import PROVIDER_APIS
from core.commands import OperatorCommand
from core.datadir import DataDirError, check_data_dir
from gateway import onboarding as ob
from gateway.daemon import DaemonError, DaemonPlan, daemon_install, daemon_plan
from gateway.listen import configured_port
from gateway.services import describe_bootstrap

EXIT_BAD_INPUT = 2
LABELS = {
    "superuser": "Admin user",
    "telegram": "Telegram",
    "agent": "Agent",
    "provider": "Model provider",
    "model": "Model",
}


def _bad(message: str) -> CommandError:
    return CommandError(message, returncode=EXIT_BAD_INPUT)


def _from_env(name: str | None, flag: str) -> str:
    if not name:
        return ""
    value = os.environ.get(name, "").strip()
    if not value:
        raise _bad(f"{flag} {name}: the environment variable {name} is not set (or empty)")
    return value


def _run_as() -> str:
    """Who the units run as: the user behind sudo, else this one."""
    if os.geteuid() == 0 and os.environ.get("SUDO_USER"):
        return os.environ["SUDO_USER"]
    return getpass.getuser()


class Command(OperatorCommand):
    help = "Set the gateway up: admin user, token, agent, model key, Telegram, systemd units."
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--non-interactive",
            "--no-input",
            action="store_true",
            help="ask nothing: take every value from flags, keep whatever exists",
        )
        parser.add_argument("--json", action="store_true", help="one JSON object (non-interactive)")
        parser.add_argument(
            "--data-dir",
            help="the data dir (default OPENCLAW_DATA_DIR, ~/.openclaw-django)",
        )
        user = parser.add_argument_group(
            "admin user (also DJANGO_SUPERUSER_USERNAME/_EMAIL/_PASSWORD)"
        )
        user.add_argument("--username")
        user.add_argument("--email", default="")
        password = user.add_mutually_exclusive_group()
        password.add_argument(
            "--password", help="visible to other local users: prefer --password-env"
        )
        password.add_argument("--password-env", metavar="NAME", help="read the password from $NAME")
        model = parser.add_argument_group("model")
        model.add_argument("--provider", choices=sorted(PROVIDER_APIS))
        key = model.add_mutually_exclusive_group()
        key.add_argument("--api-key", help="visible to other local users: prefer --api-key-env")
        key.add_argument("--api-key-env", metavar="NAME", help="read the API key from $NAME")
        model.add_argument("--base-url", default="", help="an OpenAI-compatible server's URL")
        model.add_argument("--model", default="", help="the default model, e.g. openai/gpt-4o-mini")
        telegram = parser.add_argument_group("Telegram").add_mutually_exclusive_group()
        telegram.add_argument("--telegram-token", help="a bot token from @BotFather")
        telegram.add_argument("--telegram-token-env", metavar="NAME", help="read it from $NAME")
        daemon = parser.add_argument_group("systemd")
        daemon.add_argument(
            "--install-daemon", action="store_true", help="write systemd units (runs no systemctl)"
        )
        daemon.add_argument(
            "--system",
            action="store_true",
            help="system units (/etc/systemd/system), not user ones",
        )
        daemon.add_argument(
            "--team",
            action="store_true",
            help="team mode: also worker and beat units (the default when REDIS_URL is set)",
        )
        daemon.add_argument("--unit-dir", type=Path, help="write the units into this folder")
        daemon.add_argument("--env-file", type=Path, help="where the EnvironmentFile goes")

    def handle(self, *args: Any, **options: Any) -> None:
        interactive = not (options["non_interactive"] or options["json"])
        stdin = options.get("stdin") or sys.stdin
        if interactive and not (hasattr(stdin, "isatty") and stdin.isatty()):
            raise _bad("stdin is not a terminal: run with --non-interactive and flags (see --help)")
        self._preflight(options["data_dir"])
        daemon = self._daemon_plan(options)
        existing = ob.onboard_existing()
        try:
            if interactive:
                plan = self._ask_plan(existing)
            else:
                plan = self._flags_plan(options)
                ob.onboard_check(plan, existing=existing)
            replace_files = self._ask_replace(daemon) if interactive and daemon else set()
        except (KeyboardInterrupt, EOFError):
            self.stderr.write("\nOnboarding cancelled; nothing was changed.")
            sys.exit(1)
        except ob.OnboardError as exc:
            raise _bad(exc.message) from None
        try:
            database = ob.onboard_database()
        except (DataDirError, DatabaseError) as exc:
            raise _bad(f"cannot set the database up: {exc}") from None
        try:
            report = ob.onboard_apply(plan)
            installed = daemon_install(plan=daemon, replace=replace_files) if daemon else []
        except (ob.OnboardError, DaemonError) as exc:
            raise _bad(exc.message) from None
        result = self._result(database, report, daemon, installed)
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2))
        else:
            self._print(result, report)

    # --- input ---------------------------------------------------------------------------
    def _preflight(self, given: str | None) -> None:
        """The data dir, and the database of team mode, before anything is asked."""
        if given and Path(given).expanduser().resolve() != Path(settings.DATA_DIR):
            # The settings read OPENCLAW_DATA_DIR once; manage.py applies --data-dir first.
            raise _bad(
                f"--data-dir {given} is not the data dir of these settings ({settings.DATA_DIR}); "
                "run it as `manage.py onboard --data-dir ...` or set OPENCLAW_DATA_DIR"
            )
        if not settings.TEAM_MODE:
            try:
                check_data_dir()
            except DataDirError as exc:
                raise _bad(str(exc)) from None
        if connection.vendor != "sqlite":  # a file in the data dir: connecting creates it
            try:
                connection.ensure_connection()
            except DatabaseError as exc:
                reason = (str(exc).strip().splitlines() or ["unreachable"])[0].strip()
                raise _bad(
                    f"cannot connect to the database in DATABASE_URL: {reason}; check the URL "
                    "and that PostgreSQL is running"
                ) from None

    def _daemon_plan(self, options: dict[str, Any]) -> DaemonPlan | None:
        flags = [f for f in ("system", "team", "unit_dir", "env_file") if options[f]]
        if not options["install_daemon"]:
            if flags:
                raise _bad(f"--{flags[0].replace('_', '-')} only applies with --install-daemon")
            return None
        try:
            return daemon_plan(
                system=options["system"],
                team=options["team"] or settings.TEAM_MODE,
                environ=os.environ,
                # A venv's python is a symlink: resolving it would leave the venv.
                python=str(Path(sys.executable).absolute()),
                workdir=Path(settings.BASE_DIR),
                data_dir=Path(settings.DATA_DIR),
                run_as=_run_as(),
                unit_dir=options["unit_dir"],
                env_file=options["env_file"],
            )
        except DaemonError as exc:
            raise _bad(exc.message) from None

    def _flags_plan(self, options: dict[str, Any]) -> ob.OnboardPlan:
        env = os.environ
        password = options["password"] or _from_env(options["password_env"], "--password-env")
        return ob.OnboardPlan(
            username=(options["username"] or env.get("DJANGO_SUPERUSER_USERNAME", "")).strip(),
            email=(options["email"] or env.get("DJANGO_SUPERUSER_EMAIL", "")).strip(),
            password=password or env.get("DJANGO_SUPERUSER_PASSWORD", ""),
            provider=options["provider"] or "",
            api_key=options["api_key"] or _from_env(options["api_key_env"], "--api-key-env"),
            base_url=options["base_url"].strip(),
            model=options["model"].strip(),
            telegram_token=options["telegram_token"]
            or _from_env(options["telegram_token_env"], "--telegram-token-env"),
        )

    def _ask(self, prompt: str, default: str = "") -> str:
        shown = f"{prompt} [{default}]: " if default else f"{prompt}: "
        return input(shown).strip() or default

    def _yes(self, prompt: str) -> bool:
        return input(f"{prompt} [y/N]: ").strip().lower() in ("y", "yes")

    def _until_valid(self, read: Any, check: Any) -> str:
        """Ask with ``read()`` until ``check(value)`` accepts it (blank: skip)."""
        while True:
            value = str(read()).strip()
            try:
                if value:
                    check(value)
                return value
            except ob.OnboardError as exc:
                self.stderr.write(f"Error: {exc.message}")

    def _ask_plan(self, existing: ob.Existing) -> ob.OnboardPlan:
        self.stdout.write(
            f"Onboarding the gateway ({settings.DEPLOYMENT} mode, data dir {settings.DATA_DIR}). "
            "Enter takes the [default]; Ctrl-C stops with nothing changed.\n"
        )
        username = email = password = ""
        if existing.superusers:
            self.stdout.write(f"Admin user: {existing.superusers[0]!r} exists (kept)")
        else:
            while not username:
                username = self._until_valid(
                    lambda: self._ask("Admin username", getpass.getuser()), ob.check_username
                )
            email = self._until_valid(lambda: self._ask("Email address (optional)"), ob.check_email)
            password = self._ask_password(username, email)
        replacing: set[str] = set()
        choice = provider = api_key = model = ""
        while choice not in (*PROVIDER_APIS, "none"):
            choice = self._ask("Model provider: openai, anthropic or none", "openai").lower()
        if choice != "none":
            if choice not in existing.provider_keys or self._yes(
                f"A {choice} key is stored. Replace it?"
            ):
                api_key = getpass.getpass(f"{choice} API key (hidden; blank: skip): ").strip()
                if api_key:
                    provider = choice
                    replacing.add("provider")
            default = existing.model or f"{choice}/{DEFAULT_MODEL_OF[choice]}"
            answer = self._until_valid(lambda: self._ask("Model", default), ob.check_model)
            if answer != default:
                model = answer
                replacing.add("model")
        token = ""
        if not existing.telegram_token or self._yes("A Telegram bot token is stored. Replace it?"):
            replacing.add("telegram")
            token = self._until_valid(
                lambda: getpass.getpass(
                    "Telegram bot token from @BotFather (hidden; blank: skip): "
                ),
                ob.check_telegram_token,
            )
        return ob.OnboardPlan(
            username=username,
            email=email,
            password=password,
            provider=provider,
            api_key=api_key,
            model=model,
            telegram_token=token,
            replace=frozenset(replacing),
        )

    def _ask_password(self, username: str, email: str) -> str:
        while True:
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                self.stderr.write("Error: Your passwords didn't match.")
                continue
            try:
                ob.check_password(password, username=username, email=email)
            except ob.OnboardError as exc:
                self.stderr.write(f"Error: {exc.message}")
                continue
            return password

    def _ask_replace(self, daemon: DaemonPlan) -> set[Path]:
        return {
            file.path
            for file in daemon.files
            if file.differs() and self._yes(f"{file.path} exists with other content. Replace it?")
        }

    # --- output --------------------------------------------------------------------------
    def _result(
        self,
        database: ob.DatabaseReport,
        report: ob.OnboardReport,
        daemon: DaemonPlan | None,
        installed: list[Any],
    ) -> dict[str, Any]:
        boot = report.bootstrap
        token_status = (
            "created"
            if boot.new_token
            else "environment"
            if boot.token_source == "environment"  # noqa: S105  (a label, not a secret)
            else "exists"
        )
        token: dict[str, Any] = {"status": token_status, "file": str(boot.token_file or "") or None}
        if boot.new_token:
            token["token"] = boot.new_token
        result: dict[str, Any] = {
            "mode": settings.DEPLOYMENT,
            "dataDir": str(settings.DATA_DIR),
            "dataDirCreated": database.data_dir_created,
            "dataDirPermissionsFixed": database.permissions_fixed,
            "migrationsApplied": database.migrations_applied,
            "steps": {s.name: {"status": s.status.value, "detail": s.detail} for s in report.steps},
            "gatewayToken": token,
            "model": {"answers": report.model, "why": report.model_note or None},
            "notes": list(boot.channel_lines),
        }
        if daemon is not None:
            result["daemon"] = {
                "team": daemon.team,
                "system": daemon.system,
                "units": list(daemon.units),
                "files": [
                    {"path": str(f.path), "status": status.value, "mode": oct(f.mode)}
                    for f, status in installed
                ],
                "commands": list(daemon.commands),
            }
        return result

    def _print(self, result: dict[str, Any], report: ob.OnboardReport) -> None:
        created = " (created, mode 700)" if result["dataDirCreated"] else ""
        self.stdout.write(f"Data dir: {result['dataDir']}{created}")
        if result["dataDirPermissionsFixed"]:
            self.stdout.write("  its permissions were loosened: set to 700")
        applied = result["migrationsApplied"]
        self.stdout.write(
            f"Database: {f'{applied} migrations applied' if applied else 'up to date'}"
        )
        for step in report.steps:
            self.stdout.write(f"{LABELS[step.name]}: {step.detail}")
        self.stdout.write(
            f"Answering model: {report.model}"
            if report.model
            else f"Answering model: none. {report.model_note}"
        )
        for line in describe_bootstrap(replace(report.bootstrap, agent_created=False)):
            self.stdout.write(line)
        daemon = result.get("daemon")
        if daemon:
            for file in daemon["files"]:
                self.stdout.write(f"{file['path']}: {file['status']} (mode {file['mode'][2:]})")
            self.stdout.write("Run these to start it (onboard runs no systemctl):")
            for line in daemon["commands"]:
                self.stdout.write(f"    {line}")
        port = configured_port()  # flag > environment > database > default, as at start
        self.stdout.write(
            f"\nNext: start the gateway with {'the lines above' if daemon else './scripts/run'}, "
            f"then open http://127.0.0.1:{port}/ (home), /chat (WebChat: log in with the token) "
            "and /admin/. See docs/onboarding.md."
        )
