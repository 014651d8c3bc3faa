"""memory_search and memory_get over real workspace files."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agents.providers import ToolCall
from agents.tools.base import ToolContext, ToolOutput, execute, registered_tools


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    (path / "memory").mkdir(parents=True)
    return path


def call(ws: Path, name: str, **args: Any) -> ToolOutput:
    ctx = ToolContext(agent_slug="main", session_key="k", run_id="r1", workspace=ws)
    return execute(ToolCall("c1", name, json.dumps(args)), ctx, registered_tools())


def _day(days_ago: int) -> str:
    return (datetime.now(UTC).date() - timedelta(days=days_ago)).isoformat()


def test_search_finds_lines_with_context_and_ranks_by_matched_words(ws: Path) -> None:
    (ws / "MEMORY.md").write_text(
        "# Facts\n\nThe user likes green tea.\nThe user's cat is called Miso.\nEnd.\n"
    )
    (ws / "memory" / f"{_day(3)}.md").write_text("Bought tea.\n\nOther things.\n")
    out = call(ws, "memory_search", query="green TEA")
    assert not out.is_error
    first, second = out.content.split("\n\n")[:2]
    assert first.startswith("MEMORY.md:3 ")  # both words beat one word
    assert ">     3  The user likes green tea." in first
    assert "      1  # Facts" in first  # context lines around the hit
    assert second.startswith(f"memory/{_day(3)}.md:1 ")
    assert "memory_get" in out.content
    assert out.meta == {"results": 2, "files": 2}


def test_search_prefers_recent_daily_files_on_a_tie(ws: Path) -> None:
    for days in (60, 0, 10):
        (ws / "memory" / f"{_day(days)}.md").write_text("Met Alice for lunch.\n")
    out = call(ws, "memory_search", query="alice lunch")
    paths = [block.split(":")[0] for block in out.content.split("\n\n")[:3]]
    assert paths == [f"memory/{_day(0)}.md", f"memory/{_day(10)}.md", f"memory/{_day(60)}.md"]


def test_search_respects_max_results_and_nested_folders(ws: Path) -> None:
    (ws / "memory" / "projects").mkdir()
    (ws / "memory" / "projects" / "deploy.md").write_text("deploy\n\n\n\n\n\n\ndeploy again\n")
    (ws / "memory" / "notes.txt").write_text("deploy (not markdown, not searched)\n")
    out = call(ws, "memory_search", query="deploy", max_results=1)
    assert out.meta["results"] == 1
    assert out.content.startswith("memory/projects/deploy.md:")
    assert call(ws, "memory_search", query="deploy").meta["results"] == 2


def test_search_without_matches_or_words(ws: Path) -> None:
    out = call(ws, "memory_search", query="nothing")
    assert not out.is_error
    assert "No memory notes match 'nothing' (no memory files exist yet)" in out.content
    assert "no words" in call(ws, "memory_search", query="?!").content


def test_search_skips_memory_files_linking_out_of_the_workspace(ws: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.md"
    secret.write_text("password hunter2\n")
    (ws / "memory" / "leak.md").symlink_to(secret)
    (ws / "MEMORY.md").symlink_to(secret)
    out = call(ws, "memory_search", query="password")
    assert "hunter2" not in out.content
    assert out.meta["files"] == 0


def test_get_reads_memory_files_with_line_ranges(ws: Path) -> None:
    (ws / "memory" / "2026-01-02.md").write_text("a\nb\nc\nd\n")
    out = call(ws, "memory_get", path="memory/2026-01-02.md", from_line=2, lines=2)
    assert out.content.startswith("b\nc\n")
    assert "from_line=4" in out.content
    assert call(ws, "memory_get", path="memory/2026-01-02.md").content == "a\nb\nc\nd\n"


def test_get_refuses_other_files_missing_files_and_escapes(ws: Path, tmp_path: Path) -> None:
    (ws / "AGENTS.md").write_text("rules\n")
    (tmp_path / "secret.md").write_text("hunter2\n")
    (ws / "memory" / "link.md").symlink_to(ws / "AGENTS.md")
    assert "is not a memory file" in call(ws, "memory_get", path="AGENTS.md").content
    assert "is not a memory file" in call(ws, "memory_get", path="memory/link.md").content
    assert "does not exist" in call(ws, "memory_get", path="memory/none.md").content
    escape = call(ws, "memory_get", path="memory/../../secret.md")
    assert escape.is_error
    assert "outside the workspace" in escape.content
