"""Import an OpenClaw state dir (``~/.openclaw``) into the database, in one transaction.

What is read, in this order (``manage.py import_openclaw`` shows a bar for the state):

1. ``openclaw.json`` with its ``$include`` files and ``${VAR}`` references
   (``gateway.lib.openclaw_source``; ``<state dir>/.env`` supplies variables too). A
   channel account's ``tokenFile`` is read into its ``botToken``. An agent without a
   ``workspace`` gets the folder OpenClaw used for it when that folder exists
   (``<state dir>/workspace`` for the default agent, ``workspace-<id>`` for the others),
   so its prompt files come along.
2. The config is applied in merge mode (``gateway.openclaw_doc``).
3. Cron jobs, approved pairings and the agents' sessions (``gateway.openclaw_stores``).

Any error rolls everything back. ``dry_run`` does the whole import and rolls it back,
so the report says what would change. A second import of the same files changes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ValidationError
from django.db import transaction

from agents.services.config import ConfigError
from channels_app.connectors.registry import connector_kinds
from gateway.lib import openclaw_state as state
from gateway.lib.openclaw_normalize import NotMapped
from gateway.lib.openclaw_source import (
    LoadedConfig,
    SourceError,
    load_config,
    openclaw_paths,
    read_text,
)
from gateway.openclaw_doc import ApplyResult, document_apply, document_desired
from gateway.openclaw_stores import (
    StoreCounts,
    import_allowlists,
    import_cron,
    import_session,
    session_sources,
)
from pairing.services import PairingError
from sessions_app.services import SessionError

# (what was done, items done, items in all): the command draws its bar from it.
Progress = Callable[[str, int, int], None]


class OpenClawImportError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class ImportReport:
    state_dir: Path
    config_path: Path
    files: list[Path] = field(default_factory=list)
    env_names: list[str] = field(default_factory=list)
    dry_run: bool = False
    config: ApplyResult = field(default_factory=ApplyResult)
    stores: StoreCounts = field(default_factory=StoreCounts)

    @property
    def not_mapped(self) -> list[NotMapped]:
        return [*self.config.not_mapped, *self.stores.not_mapped]

    @property
    def changes(self) -> int:
        return len(self.config.created) + len(self.config.changed) + self.stores.changes

    def as_dict(self) -> dict[str, Any]:
        stores = self.stores
        return {
            "stateDir": str(self.state_dir),
            "configPath": str(self.config_path),
            "files": [str(p) for p in self.files],
            "envVars": self.env_names,
            "dryRun": self.dry_run,
            "changes": self.changes,
            "config": {"created": self.config.created, "changed": self.config.changed},
            "cron": {k: stores.cron[k] for k in ("created", "updated", "unchanged")},
            "allowlist": {k: stores.allowlist[k] for k in ("added", "unchanged")},
            "sessions": {
                **{k: stores.sessions[k] for k in ("created", "updated", "unchanged")},
                "messages": stores.messages,
            },
            "notMapped": [{"path": n.path, "why": n.why} for n in self.not_mapped],
        }


def read_dotenv(path: Path) -> dict[str, str]:
    """The variables of a ``.env`` file, read by django-environ's parser (not applied)."""
    if not path.is_file():
        return {}
    reader: Any = type("_DotEnv", (environ.Env,), {"ENVIRON": {}})
    reader.read_env(str(path), overwrite=True)
    return {str(k): str(v) for k, v in reader.ENVIRON.items()}


def _state_dir_check(root: Path, config_path: Path) -> None:
    if not root.exists():
        raise OpenClawImportError(
            f"{root}: no such directory; give the OpenClaw state dir, e.g. "
            "manage.py import_openclaw ~/.openclaw"
        )
    if not root.is_dir():
        raise OpenClawImportError(f"{root}: not a directory; give the OpenClaw state dir")
    if not os.access(root, os.R_OK | os.X_OK):
        raise OpenClawImportError(f"{root}: permission denied; run as the user who owns it")
    if not config_path.exists():
        raise OpenClawImportError(f"{config_path}: no such file; is {root} an OpenClaw state dir?")


def _accounts_of(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    channels = document.get("channels")
    for kind, block in (channels or {}).items() if isinstance(channels, dict) else ():
        if not isinstance(block, dict):
            continue
        found.append((f"channels.{kind}", block))
        accounts = block.get("accounts")
        for name, account in (accounts or {}).items() if isinstance(accounts, dict) else ():
            if isinstance(account, dict):
                found.append((f"channels.{kind}.accounts.{name}", account))
    return found


def _token_files(document: dict[str, Any], root: Path) -> None:
    """``tokenFile`` → ``botToken`` (OpenClaw reads the token from that file)."""
    for where, block in _accounts_of(document):
        token_file = block.pop("tokenFile", None)
        if token_file is None or block.get("botToken") is not None:
            continue
        path = Path(str(token_file)).expanduser()
        path = path if path.is_absolute() else root / path
        try:
            block["botToken"] = read_text(path).strip()
        except SourceError as exc:
            raise OpenClawImportError(f"{where}.tokenFile: {exc.message}") from None


def _implied_workspaces(document: dict[str, Any], root: Path, env: Mapping[str, str]) -> None:
    """Point agents without a workspace at the folder OpenClaw used, when it exists."""
    desired = document_desired(document)
    agents = document.get("agents") or {}
    entries: list[tuple[str, dict[str, Any]]] = []
    if isinstance(agents.get("list"), list):
        entries = [(str(e.get("id", "")).lower(), e) for e in agents["list"] if isinstance(e, dict)]
    elif isinstance(agents.get("entries"), dict):
        entries = [(str(k).lower(), e) for k, e in agents["entries"].items() if isinstance(e, dict)]
    profile = (env.get("OPENCLAW_PROFILE") or "").strip()
    for slug, entry in entries:
        if entry.get("workspace") is not None:
            continue
        if slug == desired.default_agent:
            if desired.defaults_workspace:
                continue  # agents.defaults.workspace applies
            folder = root / (f"workspace-{profile}" if profile else "workspace")
        else:
            folder = root / f"workspace-{slug}"
        if folder.is_dir():
            entry["workspace"] = str(folder.resolve())


def _load(root: Path, config_path: Path, env: Mapping[str, str]) -> LoadedConfig:
    try:
        loaded = load_config(config_path, env=env, dotenv=read_dotenv(root / ".env"))
        _token_files(loaded.document, root)
        _implied_workspaces(loaded.document, root, env)
    except SourceError as exc:
        raise OpenClawImportError(exc.message) from None
    except ConfigError as exc:
        raise OpenClawImportError(exc.message) from None
    return loaded


Step = Callable[..., None]  # called with progress=<tick>


def _work(report: ImportReport, document: dict[str, Any]) -> tuple[list[Step], int]:
    """The state to import, found before anything is written, as steps to run in the
    transaction, and how many items they hold (each calls its tick once per item)."""
    root, counts = report.state_dir, report.stores
    desired = document_desired(document)
    cron_path = (
        Path(desired.cron_store).expanduser() if desired.cron_store else Path("cron/jobs.json")
    )
    cron_path = cron_path if cron_path.is_absolute() else root / cron_path
    jobs = state.cron_jobs(cron_path)
    allow, others = state.allow_from_files(root / "credentials", connector_kinds())
    session = document.get("session")
    template = session.get("store") if isinstance(session, dict) else None
    sessions = session_sources(
        root, desired.agents, template if isinstance(template, str) else None, counts
    )
    if (root / state.SQLITE_STATE).exists():
        counts.not_mapped.append(
            NotMapped(
                str(state.SQLITE_STATE),
                "OpenClaw 2026.9 keeps cron jobs, pairings and transcripts in SQLite; this "
                "import reads the JSON stores (cron/jobs.json, credentials/*-allowFrom.json, "
                "agents/*/sessions) that OpenClaw wrote before",
            )
        )
    source = str(cron_path.relative_to(root)) if cron_path.is_relative_to(root) else str(cron_path)
    steps: list[Step] = [
        partial(import_cron, jobs, source=source, counts=counts),
        partial(import_allowlists, allow, others, root=root, counts=counts),
        *(partial(import_session, item, root=root, counts=counts) for item in sessions),
    ]
    report.files.extend([cron_path] if jobs else [])
    report.files.extend(a.path for a in allow)
    report.files.extend(s.transcript for s in sessions if s.transcript)
    return steps, len(jobs) + len(allow) + len(sessions)


def openclaw_import(
    *,
    directory: str | None,
    config: str | None = None,
    env: Mapping[str, str],
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import the OpenClaw state dir ``directory`` (see the module docstring)."""
    paths = openclaw_paths(directory, env=env, config=config)
    report = ImportReport(state_dir=paths.state_dir, config_path=paths.config_path, dry_run=dry_run)
    _state_dir_check(paths.state_dir, paths.config_path)
    loaded = _load(paths.state_dir, paths.config_path, env)
    report.files.extend(loaded.files)
    report.env_names = list(loaded.env_names)
    done = 0

    def tick(what: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(what, done, total)

    try:
        steps, total = _work(report, loaded.document)
        with transaction.atomic():
            report.config = document_apply(loaded.document, replace=False)
            for step in steps:
                step(progress=tick)
            if dry_run:
                transaction.set_rollback(True)
    except (ConfigError, SessionError, SourceError) as exc:
        raise OpenClawImportError(exc.message) from None
    except PairingError as exc:
        raise OpenClawImportError(str(exc)) from None
    except ValidationError as exc:
        raise OpenClawImportError("; ".join(exc.messages)) from None
    return report
