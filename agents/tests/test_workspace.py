"""Workspaces: seeding, never overwriting, bootstrap caps and markers, daily notes."""

from __future__ import annotations

import os
import stat
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from agents.lib import workspace
from agents.lib.workspace import (
    BOOTSTRAP_FILE,
    BOOTSTRAP_FILES,
    WorkspaceFile,
    daily_note_append,
    daily_note_path,
    load_bootstrap_files,
    workspace_ensure,
)

ALL_TEMPLATES = (*BOOTSTRAP_FILES, BOOTSTRAP_FILE)


def by_name(files: list[WorkspaceFile]) -> dict[str, WorkspaceFile]:
    return {f.name: f for f in files}


# --- workspace_ensure --------------------------------------------------------------------
def test_ensure_creates_a_private_workspace_with_every_template(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert workspace_ensure(ws, agent_id="main", agent_name="Molty", emoji="🦞") is True

    assert stat.S_IMODE(ws.stat().st_mode) == 0o700
    assert (ws / "memory").is_dir()
    for name in ALL_TEMPLATES:
        assert (ws / name).read_text(encoding="utf-8").strip(), name
    assert not [p for p in ws.iterdir() if p.name.endswith(".tmp")]


def test_templates_say_what_openclaw_templates_say(tmp_path: Path) -> None:
    workspace_ensure(tmp_path / "ws", agent_id="main")
    ws = tmp_path / "ws"
    agents_md = (ws / "AGENTS.md").read_text(encoding="utf-8")
    assert "memory/YYYY-MM-DD.md" in agents_md
    assert "MEMORY.md" in agents_md
    assert "HEARTBEAT_OK" in (ws / "HEARTBEAT.md").read_text(encoding="utf-8")
    assert "delete this file" in (ws / "BOOTSTRAP.md").read_text(encoding="utf-8")


def test_identity_is_filled_from_name_and_emoji(tmp_path: Path) -> None:
    workspace_ensure(tmp_path, agent_id="helper", agent_name="Molty\nEvil: yes", emoji="🦞")
    identity = (tmp_path / "IDENTITY.md").read_text(encoding="utf-8")
    assert "- **Name:** Molty Evil: yes" in identity
    assert "- **Emoji:** 🦞" in identity
    assert "- **Agent id:** helper" in identity
    assert "{{" not in identity


def test_identity_without_name_asks_to_pick_one(tmp_path: Path) -> None:
    workspace_ensure(tmp_path, agent_id="main")
    identity = (tmp_path / "IDENTITY.md").read_text(encoding="utf-8")
    assert "pick one" in identity
    assert "{{" not in identity


def test_ensure_is_idempotent_and_never_overwrites(tmp_path: Path) -> None:
    workspace_ensure(tmp_path / "ws", agent_id="main")
    ws = tmp_path / "ws"
    (ws / "SOUL.md").write_text("my own soul", encoding="utf-8")
    (ws / "USER.md").unlink()
    (ws / BOOTSTRAP_FILE).unlink()  # the agent finished its first-run ritual

    assert workspace_ensure(ws, agent_id="main", agent_name="Other") is False

    assert (ws / "SOUL.md").read_text(encoding="utf-8") == "my own soul"
    assert (ws / "USER.md").exists()  # a missing template is restored
    assert not (ws / BOOTSTRAP_FILE).exists()  # but the ritual is not asked again


def test_bootstrap_only_for_a_new_or_empty_workspace(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert workspace_ensure(empty, agent_id="a") is True
    assert (empty / BOOTSTRAP_FILE).exists()

    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("x", encoding="utf-8")
    assert workspace_ensure(used, agent_id="a") is False
    assert not (used / BOOTSTRAP_FILE).exists()
    assert (used / "AGENTS.md").exists()


def test_existing_folder_keeps_its_mode(tmp_path: Path) -> None:
    used = tmp_path / "used"
    used.mkdir(mode=0o755)
    used.chmod(0o755)
    (used / "AGENTS.md").write_text("mine", encoding="utf-8")
    workspace_ensure(used, agent_id="a")
    assert stat.S_IMODE(used.stat().st_mode) == 0o755


def test_lowercase_memory_md_is_not_doubled(tmp_path: Path) -> None:
    tmp_path.joinpath("memory.md").write_text("old memory", encoding="utf-8")
    workspace_ensure(tmp_path, agent_id="a")
    names = {p.name for p in tmp_path.iterdir()}
    assert "memory.md" in names
    assert "MEMORY.md" not in names
    # On a case-insensitive file system both names are the same file; either way the
    # operator's content is intact.
    assert tmp_path.joinpath("memory.md").read_text(encoding="utf-8") == "old memory"


def test_dangling_symlink_is_not_replaced(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "TOOLS.md").symlink_to(ws / "elsewhere.md")
    workspace_ensure(ws, agent_id="a")
    assert (ws / "TOOLS.md").is_symlink()


def test_failed_write_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        workspace_ensure(tmp_path / "ws", agent_id="a")
    assert not [p for p in (tmp_path / "ws").iterdir() if p.is_file()]


# --- load_bootstrap_files ----------------------------------------------------------------
def test_loads_files_in_openclaw_order(tmp_path: Path) -> None:
    workspace_ensure(tmp_path, agent_id="a")
    names = [f.name for f in load_bootstrap_files(tmp_path)]
    assert names == [
        "AGENTS.md",
        "SOUL.md",
        "TOOLS.md",
        "IDENTITY.md",
        "USER.md",
        "HEARTBEAT.md",
        "BOOTSTRAP.md",
        "MEMORY.md",
    ]
    files = load_bootstrap_files(tmp_path)
    assert not any(f.missing or f.truncated for f in files)
    agents_md = files[0]
    assert agents_md.content == (tmp_path / "AGENTS.md").read_text(encoding="utf-8")
    assert agents_md.size == len(agents_md.content)
    assert agents_md.path == tmp_path / "AGENTS.md"


def test_bootstrap_md_only_when_present(tmp_path: Path) -> None:
    workspace_ensure(tmp_path, agent_id="a")
    (tmp_path / BOOTSTRAP_FILE).unlink()
    assert BOOTSTRAP_FILE not in by_name(load_bootstrap_files(tmp_path))


def test_missing_file_yields_a_marker(tmp_path: Path) -> None:
    (tmp_path / "AGENTS.md").write_text("hello", encoding="utf-8")
    files = by_name(load_bootstrap_files(tmp_path))
    soul = files["SOUL.md"]
    assert soul.missing
    assert soul.content == f"[MISSING] Expected at: {tmp_path / 'SOUL.md'}"
    assert soul.size == 0
    assert not files["AGENTS.md"].missing
    # Memory files are optional: absent ones are simply not injected.
    assert "MEMORY.md" not in files
    assert "memory.md" not in files


def test_lowercase_memory_md_is_loaded(tmp_path: Path) -> None:
    (tmp_path / "memory.md").write_text("likes tea", encoding="utf-8")
    files = by_name(load_bootstrap_files(tmp_path))
    memory = files.get("memory.md") or files["MEMORY.md"]  # case-insensitive file systems
    assert memory.content == "likes tea"
    assert len([n for n in files if n.lower() == "memory.md"]) == 1


def test_both_memory_files_are_loaded_when_distinct(tmp_path: Path) -> None:
    (tmp_path / "MEMORY.md").write_text("upper", encoding="utf-8")
    (tmp_path / "memory.md").write_text("lower", encoding="utf-8")
    if (tmp_path / "MEMORY.md").samefile(tmp_path / "memory.md"):
        pytest.skip("case-insensitive file system")
    files = by_name(load_bootstrap_files(tmp_path))
    assert files["MEMORY.md"].content == "upper"
    assert files["memory.md"].content == "lower"


def test_subagents_only_get_agents_and_tools(tmp_path: Path) -> None:
    workspace_ensure(tmp_path, agent_id="a")
    assert [f.name for f in load_bootstrap_files(tmp_path, subagent=True)] == [
        "AGENTS.md",
        "TOOLS.md",
    ]


def test_file_over_per_file_cap_keeps_head_and_tail(tmp_path: Path) -> None:
    text = "H" * 5_000 + "M" * 20_000 + "T" * 5_000
    (tmp_path / "AGENTS.md").write_text(text, encoding="utf-8")

    item = by_name(load_bootstrap_files(tmp_path, per_file_cap=10_000))["AGENTS.md"]

    assert item.truncated
    assert not item.missing
    assert item.size == 30_000
    assert len(item.content) <= 10_000
    head, marker, tail = item.content.split("\n")
    assert head == "H" * 5_000 + "M" * 2_000  # 70 % of the cap
    assert tail == "T" * 2_000  # 20 % of the cap
    assert marker.startswith("[... 21000 of 30000 characters cut")
    assert "read tool" in marker
    assert str(tmp_path / "AGENTS.md") in marker


def test_file_at_the_cap_is_kept_whole(tmp_path: Path) -> None:
    (tmp_path / "AGENTS.md").write_text("x" * 1_000, encoding="utf-8")
    item = by_name(load_bootstrap_files(tmp_path, per_file_cap=1_000))["AGENTS.md"]
    assert not item.truncated
    assert item.content == "x" * 1_000


def test_total_cap_cuts_then_omits_later_files(tmp_path: Path) -> None:
    for name in ("AGENTS.md", "SOUL.md", "TOOLS.md", "IDENTITY.md", "USER.md"):
        (tmp_path / name).write_text(name[0] * 3_000, encoding="utf-8")

    files = load_bootstrap_files(tmp_path, per_file_cap=5_000, total_cap=7_000)
    items = by_name(files)

    assert items["AGENTS.md"].content == "A" * 3_000
    assert items["SOUL.md"].content == "S" * 3_000
    tools = items["TOOLS.md"]  # 1 000 characters of budget left
    assert tools.truncated
    assert len(tools.content) <= 1_000
    assert tools.content.startswith("T" * 100)
    for name in ("IDENTITY.md", "USER.md"):
        assert items[name].truncated
        assert items[name].content.startswith(f"[OMITTED] {name}")
        assert "read tool" in items[name].content
    assert items["HEARTBEAT.md"].missing  # missing stays missing
    injected = [f for f in files if not f.content.startswith(("[OMITTED]", "[MISSING]"))]
    assert sum(len(f.content) for f in injected) <= 7_000


def test_non_utf8_bytes_are_replaced(tmp_path: Path) -> None:
    (tmp_path / "AGENTS.md").write_bytes(b"caf\xe9 ok")
    assert by_name(load_bootstrap_files(tmp_path))["AGENTS.md"].content == "caf\ufffd ok"


def test_symlink_outside_the_workspace_is_skipped(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("ssh-private-key", encoding="utf-8")
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "TOOLS.md").symlink_to(secret)

    item = by_name(load_bootstrap_files(ws))["TOOLS.md"]

    assert "ssh-private-key" not in item.content
    assert item.content.startswith("[SKIPPED] TOOLS.md")
    assert "outside the workspace" in item.content


def test_symlink_inside_the_workspace_is_followed(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "tools.md").write_text("local tools", encoding="utf-8")
    (tmp_path / "TOOLS.md").symlink_to(tmp_path / "notes" / "tools.md")
    assert by_name(load_bootstrap_files(tmp_path))["TOOLS.md"].content == "local tools"


def test_workspace_reached_through_a_symlink_still_loads(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "AGENTS.md").write_text("hi", encoding="utf-8")
    link = tmp_path / "link"
    link.symlink_to(real)
    assert by_name(load_bootstrap_files(link))["AGENTS.md"].content == "hi"


def test_unreadable_entry_gets_a_marker(tmp_path: Path) -> None:
    (tmp_path / "AGENTS.md").mkdir()  # a folder where a file should be
    item = by_name(load_bootstrap_files(tmp_path))["AGENTS.md"]
    assert item.missing
    assert item.content.startswith("[UNREADABLE] AGENTS.md")


def test_huge_file_is_read_only_at_both_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workspace, "MAX_READ_BYTES", 10_000)
    (tmp_path / "MEMORY.md").write_text(
        "h" * 20_000 + "m" * 60_000 + "t" * 20_000, encoding="utf-8"
    )

    item = by_name(load_bootstrap_files(tmp_path, per_file_cap=1_000))["MEMORY.md"]

    assert item.truncated
    assert item.size == 100_000
    head, _marker, tail = item.content.split("\n")
    assert set(head) == {"h"}
    assert set(tail) == {"t"}
    assert len(item.content) <= 1_000


# --- daily notes -------------------------------------------------------------------------
def test_daily_note_path(tmp_path: Path) -> None:
    assert daily_note_path(tmp_path, date(2026, 3, 9)) == tmp_path / "memory" / "2026-03-09.md"


def test_daily_note_append_creates_then_appends(tmp_path: Path) -> None:
    paris = timezone(timedelta(hours=1))
    first = datetime(2026, 3, 9, 8, 5, tzinfo=paris)

    note = daily_note_append(tmp_path, "Booked the dentist.\n", now=first)
    daily_note_append(tmp_path, "Call Bob back", now=first + timedelta(hours=9, minutes=30))

    assert note == tmp_path / "memory" / "2026-03-09.md"
    assert note.read_text(encoding="utf-8") == (
        "# 2026-03-09\n\n## 08:05\n\nBooked the dentist.\n\n## 17:35\n\nCall Bob back\n"
    )


def test_daily_note_uses_the_local_day_of_now(tmp_path: Path) -> None:
    late = datetime(2026, 3, 9, 23, 30, tzinfo=UTC)
    note = daily_note_append(tmp_path, "x", now=late.astimezone(timezone(timedelta(hours=2))))
    assert note.name == "2026-03-10.md"


def test_daily_note_refuses_empty_text(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs some text"):
        daily_note_append(tmp_path, "  \n", now=datetime(2026, 1, 1, tzinfo=UTC))
    assert not (tmp_path / "memory").exists()


def test_daily_note_keeps_existing_content(tmp_path: Path) -> None:
    note = daily_note_path(tmp_path, date(2026, 1, 1))
    note.parent.mkdir()
    note.write_text("# my own heading\n", encoding="utf-8")
    daily_note_append(tmp_path, "more", now=datetime(2026, 1, 1, 12, 0, tzinfo=UTC))
    assert note.read_text(encoding="utf-8") == "# my own heading\n\n## 12:00\n\nmore\n"
    assert os.access(note, os.W_OK)
