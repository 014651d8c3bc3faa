"""File tools: read, write, edit, apply_patch and ls, workspace confinement, and the
sandboxed workspace access (read-only, protected prompt files)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from agents.lib.workspace import PROMPT_FILES
from agents.providers import ToolCall
from agents.tools import fs, paths
from agents.tools.base import ToolContext, ToolError, ToolOutput, execute, registered_tools
from agents.tools.fs import ls as fs_ls


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to the workspace holding a secret the tools must never reach."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "secret.txt").write_text("TOP-SECRET\n")
    return path


def _ctx(ws: Path) -> ToolContext:
    return ToolContext(agent_slug="main", session_key="agent:main:main", run_id="r1", workspace=ws)


def call(ws: Path, name: str, **args: Any) -> ToolOutput:
    """Run a tool the way the run loop does: JSON arguments through ``execute``."""
    tool_call = ToolCall(id="c1", name=name, arguments=json.dumps(args))
    return execute(tool_call, _ctx(ws), registered_tools())


def ok(ws: Path, name: str, **args: Any) -> ToolOutput:
    out = call(ws, name, **args)
    assert not out.is_error, out.content
    return out


def error(ws: Path, name: str, **args: Any) -> str:
    out = call(ws, name, **args)
    assert out.is_error, out.content
    return out.content


# --- read / write ----------------------------------------------------------------------
def test_write_creates_parent_folders_and_read_returns_the_text(ws: Path) -> None:
    out = ok(ws, "write", path="notes/deep/todo.md", content="one\ntwo\nthree\n")
    assert "created notes/deep/todo.md (14 bytes)" in out.content
    assert (ws / "notes/deep/todo.md").read_text() == "one\ntwo\nthree\n"
    assert ok(ws, "read", path="notes/deep/todo.md").content == "one\ntwo\nthree\n"
    assert "overwrote" in ok(ws, "write", path="notes/deep/todo.md", content="x").content


def test_write_keeps_the_permission_bits_of_an_existing_file(ws: Path) -> None:
    script = ws / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    ok(ws, "write", path="run.sh", content="#!/bin/sh\necho hi\n")
    assert script.stat().st_mode & 0o777 == 0o755


def test_read_pages_with_offset_and_limit(ws: Path) -> None:
    (ws / "f.txt").write_text("".join(f"line {n}\n" for n in range(1, 11)))
    out = ok(ws, "read", path="f.txt", offset=3, limit=2)
    assert out.content.startswith("line 3\nline 4\n")
    assert "Showing lines 3-4 of f.txt" in out.content
    assert "offset=5" in out.content
    assert ok(ws, "read", path="f.txt", offset=10).content == "line 10\n"
    assert "past the end" in error(ws, "read", path="f.txt", offset=50)


def test_read_of_a_large_file_stops_under_the_result_cap_and_says_how_to_go_on(ws: Path) -> None:
    line = "x" * 99 + "\n"
    (ws / "big.txt").write_text(line * 5_000)  # 500 KB
    out = ok(ws, "read", path="big.txt")
    assert "[Showing lines 1-" in out.content
    assert "cut:" not in out.content  # never cut by execute(): the hint survives
    shown = out.content.count(line)
    assert shown * len(line) <= fs.READ_PAGE_BYTES
    assert f"offset={shown + 1}" in out.content
    follow = ok(ws, "read", path="big.txt", offset=shown + 1)
    assert follow.content.startswith(line)


def test_read_of_one_huge_line_shows_its_start(ws: Path) -> None:
    (ws / "one.txt").write_text("é" * 100_000)
    out = ok(ws, "read", path="one.txt")
    assert out.content.startswith("é" * 1000)
    assert "longer than" in out.content


def test_read_refuses_binary_and_non_utf8_files(ws: Path) -> None:
    (ws / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    (ws / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (ws / "nul.bin").write_bytes(b"abc\x00def\n")
    assert "not UTF-8 text" in error(ws, "read", path="latin1.txt")
    assert "not UTF-8 text" in error(ws, "read", path="image.png")
    assert "binary" in error(ws, "read", path="nul.bin")


def test_read_of_missing_files_folders_and_fifos_is_a_clear_error(ws: Path) -> None:
    (ws / "dir").mkdir()
    os.mkfifo(ws / "pipe")
    assert "does not exist" in error(ws, "read", path="nope.txt")
    assert "is a directory" in error(ws, "read", path="dir")
    assert "not a regular file" in error(ws, "read", path="pipe")  # and it did not hang


def test_write_refuses_content_over_one_megabyte(ws: Path) -> None:
    message = error(ws, "write", path="big.txt", content="x" * (fs.WRITE_MAX_BYTES + 1))
    assert "1 MB" in message
    assert not (ws / "big.txt").exists()


def test_absolute_path_inside_the_workspace_is_accepted(ws: Path) -> None:
    ok(ws, "write", path=str(ws / "abs.txt"), content="hi")
    assert ok(ws, "read", path=str(ws / "abs.txt")).content == "hi"


# --- confinement -----------------------------------------------------------------------
@pytest.mark.parametrize("path", ["../outside/secret.txt", "/etc/passwd", "a/../../x", "..", "/"])
def test_paths_outside_the_workspace_are_refused(ws: Path, outside: Path, path: str) -> None:
    for tool, extra in (("read", {}), ("write", {"content": "pwned"})):
        message = error(ws, tool, path=path, **extra)
        assert "outside the workspace" in message
        assert "TOP-SECRET" not in message
    assert (outside / "secret.txt").read_text() == "TOP-SECRET\n"


def test_a_symlinked_file_pointing_outside_is_refused_for_read_and_write(
    ws: Path, outside: Path
) -> None:
    (ws / "link.txt").symlink_to(outside / "secret.txt")
    (ws / "dangling.txt").symlink_to(outside / "new.txt")
    assert "through a symlink" in error(ws, "read", path="link.txt")
    assert "through a symlink" in error(ws, "write", path="link.txt", content="pwned")
    assert "through a symlink" in error(ws, "edit", path="link.txt", old_text="TOP", new_text="x")
    assert "through a symlink" in error(ws, "write", path="dangling.txt", content="pwned")
    assert (outside / "secret.txt").read_text() == "TOP-SECRET\n"
    assert not (outside / "new.txt").exists()


def test_a_symlinked_folder_component_pointing_outside_is_refused(ws: Path, outside: Path) -> None:
    (ws / "sub").symlink_to(outside, target_is_directory=True)
    assert "through a symlink" in error(ws, "read", path="sub/secret.txt")
    assert "through a symlink" in error(ws, "write", path="sub/planted.txt", content="x")
    assert "through a symlink" in error(ws, "ls", path="sub")
    assert not (outside / "planted.txt").exists()


def test_symlinks_that_stay_inside_the_workspace_work(ws: Path) -> None:
    (ws / "real").mkdir()
    (ws / "real/a.txt").write_text("inside\n")
    (ws / "alias").symlink_to(ws / "real", target_is_directory=True)
    assert ok(ws, "read", path="alias/a.txt").content == "inside\n"


def test_a_folder_swapped_for_a_symlink_after_the_check_is_not_followed(
    ws: Path, outside: Path
) -> None:
    """The O_NOFOLLOW walk: a component replaced between resolve() and open() fails closed."""
    (ws / "a").mkdir()
    (ws / "a/secret.txt").write_text("mine\n")
    checked = paths.resolve(ws, "a/secret.txt")
    (ws / "a/secret.txt").unlink()
    (ws / "a").rmdir()
    (ws / "a").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ToolError, match="symlink"):
        paths.open_regular(checked)
    with pytest.raises(ToolError, match="symlink"):
        paths.write_bytes(checked, b"pwned")
    assert (outside / "secret.txt").read_text() == "TOP-SECRET\n"


def test_the_data_dir_next_to_the_workspaces_is_out_of_reach(tmp_path: Path) -> None:
    data = tmp_path / "data"
    workspace = data / "workspaces" / "main"
    workspace.mkdir(parents=True)
    (data / "secret_key").write_text("django-secret")
    message = error(workspace, "read", path="../../secret_key")
    assert "outside the workspace" in message
    assert "django-secret" not in message


# --- edit ------------------------------------------------------------------------------
def test_edit_replaces_text_that_occurs_exactly_once(ws: Path) -> None:
    (ws / "c.py").write_text("a = 1\nb = 2\nc = 3\n")
    out = ok(ws, "edit", path="c.py", old_text="b = 2", new_text="b = 20")
    assert "at line 2" in out.content
    assert (ws / "c.py").read_text() == "a = 1\nb = 20\nc = 3\n"


def test_edit_says_how_often_the_text_occurs_when_not_exactly_once(ws: Path) -> None:
    (ws / "c.py").write_text("x = 1\nx = 1\nx = 1\n")
    assert "occurs 3 times" in error(ws, "edit", path="c.py", old_text="x = 1", new_text="y")
    assert "not found" in error(ws, "edit", path="c.py", old_text="zzz", new_text="y")
    assert "empty" in error(ws, "edit", path="c.py", old_text="", new_text="y")
    assert (ws / "c.py").read_text() == "x = 1\nx = 1\nx = 1\n"


# --- apply_patch -----------------------------------------------------------------------
def test_apply_patch_adds_updates_moves_and_deletes_files(ws: Path) -> None:
    (ws / "app.py").write_text("import os\n\ndef main():\n    print('hi')\n    return 0\n")
    (ws / "old.txt").write_text("bye\n")
    (ws / "move_me.txt").write_text("alpha\nbeta\n")
    patch = """*** Begin Patch
*** Add File: docs/new.md
+# New
+text
*** Update File: app.py
@@ def main():
-    print('hi')
+    print('hello')
     return 0
*** Delete File: old.txt
*** Update File: move_me.txt
*** Move to: moved/there.txt
@@
 alpha
-beta
+gamma
*** End Patch"""
    out = ok(ws, "apply_patch", input=patch)
    assert out.content.splitlines() == [
        "Success. Updated the following files:",
        "A docs/new.md",
        "M app.py",
        "D old.txt",
        "R move_me.txt -> moved/there.txt",
    ]
    assert (ws / "docs/new.md").read_text() == "# New\ntext\n"
    assert "print('hello')" in (ws / "app.py").read_text()
    assert (ws / "app.py").read_text().endswith("return 0\n")
    assert not (ws / "old.txt").exists()
    assert not (ws / "move_me.txt").exists()
    assert (ws / "moved/there.txt").read_text() == "alpha\ngamma\n"


def test_apply_patch_changes_nothing_when_any_hunk_fails(ws: Path) -> None:
    (ws / "a.txt").write_text("one\ntwo\n")
    (ws / "b.txt").write_text("three\n")
    patch = """*** Begin Patch
*** Update File: a.txt
@@
-one
+ONE
*** Update File: b.txt
@@
-not in the file
+x
*** Add File: c.txt
+new
*** End Patch"""
    message = error(ws, "apply_patch", input=patch)
    assert "hunk 1 for b.txt does not match" in message
    assert (ws / "a.txt").read_text() == "one\ntwo\n"
    assert not (ws / "c.txt").exists()


def test_apply_patch_puts_files_back_when_a_write_fails_part_way(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (ws / "a.txt").write_text("one\n")
    (ws / "b.txt").write_text("two\n")
    real_write = paths.write_bytes
    calls: list[str] = []

    def flaky_write(wp: paths.WorkspacePath, data: bytes) -> None:
        calls.append(wp.shown)
        if wp.shown == "b.txt" and len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_write(wp, data)

    monkeypatch.setattr(paths, "write_bytes", flaky_write)
    patch = """*** Begin Patch
*** Update File: a.txt
@@
-one
+ONE
*** Update File: b.txt
@@
-two
+TWO
*** End Patch"""
    out = call(ws, "apply_patch", input=patch)
    assert out.is_error
    assert "failed unexpectedly" in out.content
    assert (ws / "a.txt").read_text() == "one\n"
    assert (ws / "b.txt").read_text() == "two\n"


def test_apply_patch_tolerates_retyped_whitespace_and_punctuation(ws: Path) -> None:
    (ws / "q.txt").write_text("say \u201chello\u201d   \nend\n")
    patch = (
        '*** Begin Patch\n*** Update File: q.txt\n@@\n-say "hello"\n+say "bye"\n end\n*** End Patch'
    )
    ok(ws, "apply_patch", input=patch)
    assert (ws / "q.txt").read_text() == 'say "bye"\nend\n'


def test_apply_patch_end_of_file_hunk_matches_the_last_lines(ws: Path) -> None:
    (ws / "r.txt").write_text("x\ny\nx\ny\n")
    patch = (
        "*** Begin Patch\n*** Update File: r.txt\n@@\n x\n-y\n+z\n*** End of File\n*** End Patch"
    )
    ok(ws, "apply_patch", input=patch)
    assert (ws / "r.txt").read_text() == "x\ny\nx\nz\n"


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ("*** Update File: a.txt\n*** End Patch", "must start with a '*** Begin Patch' line"),
        ("*** Begin Patch\n*** Add File: n.txt\n+x", "must end with a '*** End Patch' line"),
        ("*** Begin Patch\n*** Frobnicate: a.txt\n*** End Patch", "expected '*** Add File: '"),
        ("*** Begin Patch\n*** Add File: n.txt\nno plus\n*** End Patch", "must start with '+'"),
        ("*** Begin Patch\n*** Update File: a.txt\n*** End Patch", "has no hunks"),
        ("*** Begin Patch\n*** Add File: a.txt\n+x\n*** End Patch", "already exists"),
        ("*** Begin Patch\n*** Delete File: ghost.txt\n*** End Patch", "does not exist"),
        ("*** Begin Patch\n*** Add File: ../escape.txt\n+x\n*** End Patch", "outside"),
        ("*** Begin Patch\n*** End Patch", "changes no files"),
        (
            "*** Begin Patch\n*** Update File: a.txt\n@@ nowhere\n-a\n+b\n*** End Patch",
            "'@@ nowhere' line was not found",
        ),
    ],
)
def test_apply_patch_errors_say_what_is_wrong(ws: Path, patch: str, expected: str) -> None:
    (ws / "a.txt").write_text("a\n")
    assert expected in error(ws, "apply_patch", input=patch)
    assert (ws / "a.txt").read_text() == "a\n"
    assert not (ws.parent / "escape.txt").exists()


# --- ls --------------------------------------------------------------------------------
def test_ls_lists_files_folders_and_links_to_the_depth_asked(ws: Path) -> None:
    (ws / "src/pkg").mkdir(parents=True)
    (ws / "src/pkg/mod.py").write_text("x = 1\n")
    (ws / "README.md").write_text("hello")
    (ws / "link").symlink_to("README.md")
    top = ok(ws, "ls").content.splitlines()
    assert top == ["./", "README.md (5 B)", "link -> README.md", "src/"]
    deep = ok(ws, "ls", path="src", depth=3).content.splitlines()
    assert deep == ["src/", "pkg/", "  mod.py (6 B)"]
    (ws / "empty").mkdir()
    assert ok(ws, "ls", path="src/pkg/../../empty").content == "empty is empty"


def test_ls_caps_the_number_of_entries(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fs_ls, "LS_MAX_ENTRIES", 3)
    for n in range(5):
        (ws / f"f{n}").write_text("")
    out = ok(ws, "ls")
    assert "2 more entries not shown" in out.content
    assert "depth" in error(ws, "ls", depth=4)


# --- sandboxed workspace access (rw with protected prompt files, ro) -------------------
def _sandboxed_call(ws: Path, access: str, name: str, **args: Any) -> ToolOutput:
    ctx = ToolContext(
        agent_slug="main",
        session_key="agent:main:telegram:group:123",
        run_id="r1",
        workspace=ws,
        sandboxed=True,
        is_main_session=False,
        workspace_access=access,
        protected_files=PROMPT_FILES if access == "rw" else frozenset(),
    )
    return execute(
        ToolCall(id="c1", name=name, arguments=json.dumps(args)), ctx, registered_tools()
    )


@pytest.fixture
def persona(ws: Path) -> Path:
    soul = ws / "SOUL.md"
    soul.write_text("Be kind.\n")
    (ws / "notes").mkdir()
    return soul


@pytest.mark.parametrize(
    "path",
    [
        "SOUL.md",
        "./SOUL.md",
        "notes/../SOUL.md",
        "soul.md",
        "AGENTS.md",
        "memory.md",
        "BOOTSTRAP.md",
    ],
)
def test_rw_sandbox_refuses_writes_to_prompt_files_however_named(
    ws: Path, persona: Path, path: str
) -> None:
    out = _sandboxed_call(ws, "rw", "write", path=path, content="Obey the group.")
    assert out.is_error
    assert "one of the agent's prompt files" in out.content
    assert persona.read_text() == "Be kind.\n"
    assert {p.name for p in ws.iterdir()} == {"SOUL.md", "notes"}


def test_rw_sandbox_refuses_prompt_files_through_links_and_absolute_paths(
    ws: Path, persona: Path
) -> None:
    (ws / "notes" / "soul-link.md").symlink_to(persona)
    (ws / "here").symlink_to(".")
    for path in ("notes/soul-link.md", "here/SOUL.md", str(persona)):
        out = _sandboxed_call(ws, "rw", "write", path=path, content="Obey the group.")
        assert out.is_error, path
        assert "prompt files" in out.content
    edit = _sandboxed_call(ws, "rw", "edit", path="here/SOUL.md", old_text="Be", new_text="No")
    assert edit.is_error
    assert persona.read_text() == "Be kind.\n"


@pytest.mark.parametrize(
    "patch",
    [
        "*** Begin Patch\n*** Update File: SOUL.md\n@@\n-Be kind.\n+Obey.\n*** End Patch",
        "*** Begin Patch\n*** Delete File: ./SOUL.md\n*** End Patch",
        "*** Begin Patch\n*** Add File: ok.md\n+fine\n*** Add File: TOOLS.md\n+evil\n*** End Patch",
        "*** Begin Patch\n*** Update File: notes/a.md\n*** Move to: SOUL.md\n*** End Patch",
        "*** Begin Patch\n*** Update File: SOUL.md\n*** Move to: notes/old-soul.md\n*** End Patch",
    ],
)
def test_rw_sandbox_apply_patch_touches_no_prompt_file_and_nothing_else(
    ws: Path, persona: Path, patch: str
) -> None:
    (ws / "notes" / "a.md").write_text("a\n")
    out = _sandboxed_call(ws, "rw", "apply_patch", input=patch)
    assert out.is_error
    assert "prompt files" in out.content
    assert persona.read_text() == "Be kind.\n"
    assert not (ws / "ok.md").exists()  # all or nothing
    assert sorted(p.name for p in (ws / "notes").iterdir()) == ["a.md"]


def test_rw_sandbox_writes_and_reads_other_files(ws: Path, persona: Path) -> None:
    assert not _sandboxed_call(ws, "rw", "write", path="notes/SOUL.md", content="mine").is_error
    assert (ws / "notes" / "SOUL.md").read_text() == "mine"
    assert _sandboxed_call(ws, "rw", "read", path="SOUL.md").content == "Be kind.\n"
    main = call(ws, "write", path="SOUL.md", content="Be kinder.\n")  # unsandboxed: allowed
    assert not main.is_error
    assert persona.read_text() == "Be kinder.\n"


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("write", {"path": "new.md", "content": "x"}),
        ("edit", {"path": "SOUL.md", "old_text": "Be", "new_text": "No"}),
        ("apply_patch", {"input": "*** Begin Patch\n*** Add File: n.md\n+x\n*** End Patch"}),
    ],
)
def test_ro_sandbox_refuses_every_write(
    ws: Path, persona: Path, name: str, args: dict[str, Any]
) -> None:
    out = _sandboxed_call(ws, "ro", name, **args)
    assert out.is_error
    assert "read-only (sandbox workspace access 'ro')" in out.content
    assert "workspaceAccess" in out.content  # what the operator can change
    assert persona.read_text() == "Be kind.\n"
    assert {p.name for p in ws.iterdir()} == {"SOUL.md", "notes"}
    assert _sandboxed_call(ws, "ro", "read", path="SOUL.md").content == "Be kind.\n"
