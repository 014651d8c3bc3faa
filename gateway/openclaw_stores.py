"""The state an OpenClaw import brings besides the config: cron jobs, approved pairings
and session transcripts (read by ``gateway.lib.openclaw_state``), each written through
its app's service and recognised on a second import (nothing is written twice).

Called by ``gateway.openclaw_import`` inside its one transaction.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction

from agents.cron_selectors import cron_job_find, cron_job_openclaw, parse_job_id
from agents.services.config import ConfigError
from agents.services.cron import CronError, cron_upsert_from_openclaw
from agents.services.cron.jobs import IMPORT_NAMESPACE
from channels_app import selectors as channel_selectors
from gateway.lib import openclaw_state as state
from gateway.lib.openclaw_normalize import NotMapped
from pairing.models import AllowlistEntry
from pairing.selectors import allowlist_has
from pairing.services import allowlist_entry_add
from sessions_app.lib import keys
from sessions_app.services import (
    QUEUE_MODES,
    THINKING_LEVELS,
    ImportedMessage,
    session_transcript_import,
)

Progress = Callable[[str], None]  # called once per item done, with what it was


@dataclass
class StoreCounts:
    cron: Counter[str] = field(default_factory=Counter)  # created, updated, unchanged
    allowlist: Counter[str] = field(default_factory=Counter)  # added, unchanged
    sessions: Counter[str] = field(default_factory=Counter)  # created, updated, unchanged
    messages: int = 0
    not_mapped: list[NotMapped] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return (
            self.cron["created"]
            + self.cron["updated"]
            + self.allowlist["added"]
            + self.sessions["created"]
            + self.sessions["updated"]
        )


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


# --- cron -----------------------------------------------------------------------------
def _job_now(job_id: uuid.UUID) -> dict[str, Any] | None:
    found = cron_job_find(job_id=str(job_id))
    if found is None:
        return None
    shown = cron_job_openclaw(found)
    shown.pop("updatedAtMs", None)
    return shown


def import_cron(
    jobs: list[dict[str, Any]], *, source: str, counts: StoreCounts, progress: Progress
) -> None:
    """Each job through ``cron_upsert_from_openclaw``, in a savepoint that is undone when
    the job comes out as it was (that service always saves and announces)."""
    for index, job in enumerate(jobs):
        raw_id = str(job.get("id") or "").strip()
        payload = job.get("payload")
        if job.get("declarationKey") or (
            isinstance(payload, dict) and payload.get("kind") == "heartbeat"
        ):
            counts.not_mapped.append(
                NotMapped(
                    f"{source} jobs[{index}]",
                    "an agent's heartbeat job: here it follows agents.*.heartbeat "
                    "(manage.py config set agents.defaults.heartbeat.every ...)",
                )
            )
            progress(f"cron job {index + 1}/{len(jobs)}")
            continue
        job_id = parse_job_id(raw_id) or uuid.uuid5(IMPORT_NAMESPACE, raw_id)
        before = _job_now(job_id) if raw_id else None
        savepoint = transaction.savepoint()
        try:
            upserted = cron_upsert_from_openclaw(job)
        except CronError as exc:
            raise ConfigError(
                f"{source} jobs[{index}] ({raw_id or 'no id'}): {exc.message}"
            ) from None
        if upserted.created:
            transaction.savepoint_commit(savepoint)
            counts.cron["created"] += 1
        elif _job_now(upserted.job.public_id) == before:
            transaction.savepoint_rollback(savepoint)
            counts.cron["unchanged"] += 1
        else:
            transaction.savepoint_commit(savepoint)
            counts.cron["updated"] += 1
        progress(f"cron job {index + 1}/{len(jobs)}")


# --- approved pairings ------------------------------------------------------------------
def import_allowlists(
    files: list[state.AllowFromFile],
    others: list[Path],
    *,
    root: Path,
    counts: StoreCounts,
    progress: Progress,
) -> None:
    accounts = {(a.kind, a.account_id): a.pk for a in channel_selectors.channel_accounts()}
    for path in others:
        why = (
            "pending pairing requests expire within an hour; not imported"
            if path.name.endswith(state.PAIRING_SUFFIX)
            else "no connector for this channel"
        )
        counts.not_mapped.append(NotMapped(_relative(path, root), why))
    for store in files:
        account_pk = accounts.get((store.kind, store.account_id))
        if account_pk is None:
            counts.not_mapped.append(
                NotMapped(
                    _relative(store.path, root),
                    f"no {store.kind} account {store.account_id!r} in openclaw.json",
                )
            )
            continue
        for sender in (s for s in store.senders if s):
            if allowlist_has(channel_account_id=account_pk, sender_refs=[sender]):
                counts.allowlist["unchanged"] += 1
                continue
            allowlist_entry_add(
                channel_account_id=account_pk,
                sender_ref=sender,
                source=AllowlistEntry.Source.PAIRING,
                note="imported from OpenClaw",
            )
            counts.allowlist["added"] += 1
        progress(f"allowlist {store.path.name}")


# --- sessions ---------------------------------------------------------------------------
def _model_override(entry: dict[str, Any]) -> str:
    model, provider = entry.get("modelOverride"), entry.get("providerOverride")
    if not isinstance(model, str) or not model.strip():
        return ""
    ref = model.strip() if "/" in model or not provider else f"{provider}/{model.strip()}"
    return ref if "/" in ref else ""


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _session_fields(
    entry: dict[str, Any], compactions: int, where: str, counts: StoreCounts
) -> dict[str, Any]:
    raw_origin = entry.get("origin")
    origin: dict[str, Any] = raw_origin if isinstance(raw_origin, dict) else {}
    chat_type = keys.normalize_chat_type(str(entry.get("chatType") or "")) or ""
    fields: dict[str, Any] = {
        "channel": str(entry.get("channel") or entry.get("lastChannel") or "")[:32],
        "account_id": str(entry.get("lastAccountId") or origin.get("accountId") or "")[:64],
        "chat_type": chat_type,
        "origin": origin,
        "label": str(entry.get("label") or "")[:200],
        "display_name": str(entry.get("displayName") or "")[:200],
        "model_override": _model_override(entry)[:200],
        "input_tokens": _count(entry.get("inputTokens")),
        "output_tokens": _count(entry.get("outputTokens")),
        "total_tokens": _count(entry.get("totalTokens")),
        "context_tokens": _count(entry.get("contextTokens")),
        "compaction_count": max(_count(entry.get("compactionCount")), compactions),
    }
    for key, name, allowed in (
        ("thinkingLevel", "thinking_level", THINKING_LEVELS),
        ("queueMode", "queue_mode", QUEUE_MODES),
    ):
        value = entry.get(key)
        if value in allowed:
            fields[name] = value
        elif value:
            counts.not_mapped.append(
                NotMapped(f"{where}.{key}", f"{value!r} is not one of {sorted(allowed)}")
            )
    return fields


def _session_id(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def import_session(
    item: state.SessionFile, *, root: Path, counts: StoreCounts, progress: Progress
) -> None:
    where = f"{_relative(item.transcript or root, root)} ({item.key})"
    try:
        key = keys.canonicalize(item.key, default_agent=item.agent_id)
    except keys.SessionKeyError as exc:
        counts.not_mapped.append(NotMapped(where, str(exc)))
        return
    parsed = state.transcript(item.transcript) if item.transcript else state.Transcript()
    if item.transcript is None:
        counts.not_mapped.append(NotMapped(where, "its transcript file is missing: imported empty"))
    for kind, number in sorted(parsed.skipped.items()):
        counts.not_mapped.append(NotMapped(where, f"{kind} not kept: {number}"))
    messages = [
        ImportedMessage(
            entry_id=e.entry_id,
            role=e.role,
            content=e.content,
            created_at=e.at,
            model=e.model,
            usage=e.usage,
            stop_reason=e.stop_reason,
            details=e.details,
        )
        for e in parsed.entries
    ]
    compactions = sum(1 for e in parsed.entries if e.role == "compaction")
    done = session_transcript_import(
        key=key,
        agent_slug=keys.parse_agent_id(key) or item.agent_id,
        messages=messages,
        session_id=_session_id(item.entry.get("sessionId") or parsed.session_id),
        fields=_session_fields(item.entry, compactions, where, counts),
        last_activity_at=state.parse_time(item.entry.get("updatedAt")),
    )
    status = "created" if done.created else ("updated" if done.appended else "unchanged")
    counts.sessions[status] += 1
    counts.messages += done.appended
    progress(f"session {key}")


def session_sources(
    root: Path, agent_ids: Iterable[str], store_template: str | None, counts: StoreCounts
) -> list[state.SessionFile]:
    """The sessions of the agents in the document; other agents' folders are reported."""
    wanted = list(agent_ids)
    found: list[state.SessionFile] = []
    for agent_id in wanted:
        if store_template:
            store = Path(store_template.replace("{agentId}", agent_id)).expanduser()
            folder = (store if store.is_absolute() else root / store).parent
        else:
            folder = root / "agents" / agent_id / "sessions"
        if not folder.is_dir():
            continue
        sessions, orphans = state.session_files(folder, agent_id)
        found.extend(sessions)
        for path in orphans:
            counts.not_mapped.append(
                NotMapped(_relative(path, root), "no entry in sessions.json names this transcript")
            )
    agents_dir = root / "agents"
    if agents_dir.is_dir():
        for folder in sorted(agents_dir.iterdir()):
            if folder.is_dir() and folder.name not in wanted and (folder / "sessions").is_dir():
                counts.not_mapped.append(
                    NotMapped(
                        _relative(folder / "sessions", root),
                        f"agent {folder.name} is not in openclaw.json",
                    )
                )
    return found
