"""Read OpenClaw's state files: cron jobs, approved pairings and session transcripts.

The layout is the one OpenClaw's file stores used (``openclaw-protocol.md`` §4.3, §6.3,
§9), which OpenClaw 2026.9's ``doctor`` still migrates from:

- ``cron/jobs.json`` (or ``cron.store``): ``{version: 1, jobs: [CronJob, ...]}``;
- ``credentials/<channel>-allowFrom.json`` (the default account) and
  ``credentials/<channel>-<accountId>-allowFrom.json``: ``{version: 1, allowFrom: [...]}``;
- ``agents/<agentId>/sessions/sessions.json`` (session key → SessionEntry) and each
  session's transcript ``<sessionId>.jsonl`` (pi-coding-agent's SessionManager format:
  a ``session`` header line, then entries with ``id``/``parentId`` forming a tree).

OpenClaw 2026.9 itself keeps these in SQLite (``state/openclaw.sqlite`` and per-agent
databases); those are not read (``SQLITE_STATE``).

Framework-free: no Django import.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.lib.openclaw_source import SourceError, read_text

ALLOW_FROM_SUFFIX = "-allowFrom.json"
PAIRING_SUFFIX = "-pairing.json"
SQLITE_STATE = Path("state/openclaw.sqlite")
# Transcript files that are archives, not live sessions.
ARCHIVE_MARKERS = (".reset.", ".deleted.", ".bak")
MAX_JSON_BYTES = 64 * 1024 * 1024


def read_json(path: Path) -> Any:
    """A JSON file (OpenClaw writes its stores as plain JSON)."""
    text = read_text(path, limit=MAX_JSON_BYTES)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise SourceError(f"{path}: not valid JSON ({exc})") from None


# --- cron -----------------------------------------------------------------------------
def cron_jobs(path: Path) -> list[dict[str, Any]]:
    """The jobs of a cron store; [] when the file does not exist."""
    if not path.exists():
        return []
    store = read_json(path)
    jobs = store.get("jobs") if isinstance(store, dict) else store
    if not isinstance(jobs, list) or not all(isinstance(job, dict) for job in jobs):
        raise SourceError(f"{path}: expected {{version: 1, jobs: [...]}}")
    return jobs


# --- approved pairings ----------------------------------------------------------------
@dataclass(frozen=True)
class AllowFromFile:
    path: Path
    kind: str
    account_id: str
    senders: tuple[str, ...]


def allow_from_files(
    credentials: Path, kinds: Iterable[str]
) -> tuple[list[AllowFromFile], list[Path]]:
    """The allowFrom stores of channels in ``kinds``, and the files of other channels or
    the pending-request stores (``<channel>-pairing.json``), which are not imported."""
    if not credentials.is_dir():
        return [], []
    found: list[AllowFromFile] = []
    other: list[Path] = []
    by_length = sorted(kinds, key=len, reverse=True)
    for path in sorted(credentials.iterdir()):
        name = path.name
        if name.endswith(PAIRING_SUFFIX):
            other.append(path)
            continue
        if not name.endswith(ALLOW_FROM_SUFFIX):
            continue
        stem = name[: -len(ALLOW_FROM_SUFFIX)]
        kind = next((k for k in by_length if stem == k or stem.startswith(f"{k}-")), None)
        if kind is None:
            other.append(path)
            continue
        account = stem[len(kind) + 1 :] or "default"
        store = read_json(path)
        senders = store.get("allowFrom") if isinstance(store, dict) else None
        if not isinstance(senders, list):
            raise SourceError(f"{path}: expected {{version: 1, allowFrom: [...]}}")
        found.append(
            AllowFromFile(path, kind, account.lower(), tuple(str(s).strip() for s in senders))
        )
    return found, other


# --- sessions and transcripts ---------------------------------------------------------
@dataclass(frozen=True)
class TranscriptEntry:
    entry_id: str
    role: str  # user, assistant, tool, compaction
    content: list[dict[str, Any]]
    at: datetime | None
    model: str = ""
    usage: dict[str, Any] = field(default_factory=dict)
    stop_reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Transcript:
    session_id: str | None = None
    started_at: datetime | None = None
    entries: list[TranscriptEntry] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)  # "model_change entries" → how many


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 string or epoch milliseconds as an aware datetime (None if neither)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    if isinstance(value, str) and value.strip():
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return [b if isinstance(b, dict) else {"type": "text", "text": str(b)} for b in content]
    return []


def _message(entry: dict[str, Any], entry_id: str, at: datetime | None) -> TranscriptEntry | None:
    message = entry.get("message")
    if not isinstance(message, dict):
        return None
    role = message.get("role")
    at = at or parse_time(message.get("timestamp"))
    content = _blocks(message.get("content"))
    if role == "user":
        return TranscriptEntry(entry_id, "user", content, at)
    if role == "assistant":
        provider, model = message.get("provider"), message.get("model")
        ref = f"{provider}/{model}" if provider and model else str(model or "")
        raw_usage = message.get("usage")
        usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
        return TranscriptEntry(
            entry_id,
            "assistant",
            content,
            at,
            ref,
            dict(usage),
            str(message.get("stopReason") or ""),
        )
    if role == "toolResult":
        details = {
            "toolCallId": str(message.get("toolCallId") or ""),
            "toolName": str(message.get("toolName") or ""),
            "isError": bool(message.get("isError", False)),
        }
        return TranscriptEntry(entry_id, "tool", content, at, details=details)
    return None


def _active_branch(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries from the root to the last one (a transcript is a tree; what was
    branched away from is not part of the conversation)."""
    if not entries or not all(isinstance(e.get("id"), str) for e in entries):
        return entries
    by_id = {e["id"]: e for e in entries}
    branch: list[dict[str, Any]] = []
    node: dict[str, Any] | None = entries[-1]
    seen: set[str] = set()
    while node is not None and node["id"] not in seen:
        seen.add(node["id"])
        branch.append(node)
        parent = node.get("parentId")
        node = by_id.get(parent) if isinstance(parent, str) else None
    branch.reverse()
    return branch


def transcript(path: Path) -> Transcript:
    """Parse a JSONL transcript: its header, and the messages of its active branch."""
    out = Transcript()
    raw: list[dict[str, Any]] = []
    for number, line in enumerate(read_text(path, limit=None).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SourceError(f"{path}:{number}: not a JSON line ({exc.msg})") from None
        if not isinstance(entry, dict):
            raise SourceError(f"{path}:{number}: a transcript line must be an object")
        if entry.get("type") == "session":
            out.session_id = str(entry.get("id") or "") or None
            out.started_at = parse_time(entry.get("timestamp"))
            continue
        raw.append(entry)
    branch = _active_branch(raw)
    if len(branch) < len(raw):
        out.skipped["entries on abandoned branches"] += len(raw) - len(branch)
    for index, entry in enumerate(branch):
        kind = str(entry.get("type") or "?")
        entry_id = str(entry.get("id") or f"line-{index}")
        at = parse_time(entry.get("timestamp"))
        parsed: TranscriptEntry | None = None
        if kind == "message":
            parsed = _message(entry, entry_id, at)
        elif kind == "compaction":
            details = {"tokensBefore": entry.get("tokensBefore")}
            if isinstance(entry.get("firstKeptEntryId"), str):
                details["firstKeptEntryId"] = entry["firstKeptEntryId"]
            text = str(entry.get("summary") or "")
            parsed = TranscriptEntry(entry_id, "compaction", _blocks(text), at, details=details)
        if parsed is None:
            role = entry.get("message", {}).get("role") if kind == "message" else None
            out.skipped[f"{kind} entries ({role})" if role else f"{kind} entries"] += 1
        else:
            out.entries.append(parsed)
    return out


@dataclass(frozen=True)
class SessionFile:
    agent_id: str
    key: str
    entry: dict[str, Any]
    transcript: Path | None  # None: the entry's transcript file is missing


def session_files(sessions_dir: Path, agent_id: str) -> tuple[list[SessionFile], list[Path]]:
    """The sessions of one agent's store, and the transcripts no session names
    (archives ``*.reset.*``, ``*.deleted.*``, ``*.bak`` are left out of both)."""
    store_path = sessions_dir / "sessions.json"
    store = read_json(store_path) if store_path.exists() else {}
    if not isinstance(store, dict):
        raise SourceError(f"{store_path}: expected an object of session key → entry")
    sessions: list[SessionFile] = []
    named: set[Path] = set()
    for key, entry in store.items():
        if not isinstance(entry, dict):
            raise SourceError(f"{store_path}: the entry of {key!r} is not an object")
        file = entry.get("sessionFile")
        if isinstance(file, str) and file.strip():
            path = Path(file).expanduser()
            path = path if path.is_absolute() else sessions_dir / path
        else:
            path = sessions_dir / f"{entry.get('sessionId')}.jsonl"
        named.add(path.resolve())
        sessions.append(SessionFile(agent_id, str(key), entry, path if path.is_file() else None))
    orphans = [
        path
        for path in sorted(sessions_dir.glob("*.jsonl"))
        if path.resolve() not in named and not any(m in path.name for m in ARCHIVE_MARKERS)
    ]
    return sessions, orphans
