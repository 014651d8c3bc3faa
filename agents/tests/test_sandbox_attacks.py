"""Attacks on the exec sandbox, performed for real through the exec tool's entry point.

Each test plants what an attacker (the model) would plant, runs ``exec_run`` in a
sandboxed session with every mechanism that works on this host (see ``use_mechanism``:
under REQUIRE_SERVICES=1 a host where none works fails), and checks the host side:
marker files not written, secrets not in the output, sockets not reached, files
unchanged. Each has a control where it matters (the same thing works outside the
sandbox), so a test cannot pass because the attack itself was broken.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.tests.test_tools_exec import use_mechanism
from agents.tools import sandbox
from agents.tools.base import ToolContext, ToolError, ToolOutput
from agents.tools.exec import ExecArgs, exec_run

# The interpreter itself, not the venv's link to it (a venv under /tmp is hidden).
PYTHON = os.path.realpath(sys.executable)


@pytest.fixture(params=sandbox.MECHANISMS)
def mechanism(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    return use_mechanism(str(request.param), monkeypatch)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path.resolve()


def context(
    ws: Path,
    *,
    sandboxed: bool = True,
    access: str = "rw",
    protected: frozenset[str] = frozenset(),
) -> ToolContext:
    return ToolContext(
        agent_slug="main",
        session_key="agent:main:telegram:direct:42",
        run_id="r1",
        workspace=ws,
        sandboxed=sandboxed,
        workspace_access=access,
        protected_files=protected,
    )


def run(ctx: ToolContext, command: str, env: dict[str, str] | None = None) -> ToolOutput:
    return exec_run(ctx, ExecArgs(command=command, env=env, timeout=30))


def require_root_dir(path: str) -> None:
    """Skip (fail under REQUIRE_SERVICES=1) when the test cannot create files in ``path``."""
    if os.access(path, os.W_OK):
        return
    message = f"{path} is not writable here (the test plants a socket there)"
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"REQUIRE_SERVICES=1 but {message}", pytrace=False)
    pytest.skip(message)


# --- 1. launchers found through the model's PATH, and the loader's variables ------------
FAKE_LAUNCHER = """#!/bin/sh
echo "fake $(basename "$0") ran on the host" > {marker}
cat {secret}
echo
exit 0
"""


def test_launchers_planted_on_the_models_path_never_run(
    mechanism: str, ws: Path, tmp_path: Path, settings: Any
) -> None:
    """bin/unshare, bin/bwrap and bin/setpriv in the workspace, first on the model's PATH.

    Before the fix the fake launcher ran on the host instead of the sandbox, printed the
    data dir's secret_key and the result still said sandboxed: true.
    """
    data = tmp_path / "data"
    data.mkdir()
    secret = data / "secret_key"
    secret.write_text(f"FAKE-SECRET-{uuid.uuid4().hex}")
    settings.DATA_DIR = data
    marker = tmp_path / "host-marker"  # outside the workspace: the sandbox cannot write it
    (ws / "bin").mkdir()
    for name in ("setpriv", "bwrap", "unshare"):
        fake = ws / "bin" / name
        fake.write_text(FAKE_LAUNCHER.format(marker=marker, secret=secret))
        fake.chmod(0o755)
    env = {"PATH": f"{ws}/bin:/usr/bin:/bin"}

    out = run(context(ws), f'echo "inside PATH=$PATH"; cat {secret}', env=env)

    assert not marker.exists(), marker.read_text()
    assert secret.read_text() not in out.content
    assert f"inside PATH={ws}/bin:/usr/bin:/bin" in out.content  # the command got its env
    assert (out.meta["sandboxed"], out.meta["sandbox"]) == (True, mechanism)
    assert out.content.endswith(f"[sandbox: {mechanism}]")
    control = subprocess.run([ws / "bin" / mechanism], capture_output=True, text=True, check=False)
    assert secret.read_text() in control.stdout  # the fake launcher does work when run
    assert marker.exists()


def test_a_setpriv_planted_on_the_models_path_does_not_run_in_the_main_session(
    ws: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "host-marker"
    (ws / "bin").mkdir()
    fake = ws / "bin" / "setpriv"
    fake.write_text(FAKE_LAUNCHER.format(marker=marker, secret="/dev/null"))
    fake.chmod(0o755)
    out = run(context(ws, sandboxed=False), "echo ran", env={"PATH": f"{ws}/bin:/usr/bin:/bin"})
    assert not marker.exists(), marker.read_text()
    assert out.content.splitlines() == ["ran", "[exit code 0] [no sandbox]"]


EVIL_LIBRARY = r"""
#include <stdio.h>
__attribute__((constructor)) static void planted(void) {
    FILE *f = fopen(MARKER, "a");
    if (f) { fputs("preloaded on the host\n", f); fclose(f); }
}
"""


@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandboxed", "main"])
def test_ld_preload_is_refused_and_its_library_never_loads(
    sandboxed: bool, ws: Path, tmp_path: Path
) -> None:
    """A real shared library whose constructor writes a host marker, given as LD_PRELOAD.

    Before the fix ``setpriv`` (and ``bwrap``/``unshare``) loaded it on the host.
    """
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed; test_loader_variables_are_refused covers the refusal")
    marker = tmp_path / "preload-marker"
    source = tmp_path / "evil.c"
    source.write_text(EVIL_LIBRARY)
    library = tmp_path / "evil.so"
    subprocess.run(
        [gcc, "-shared", "-fPIC", f'-DMARKER="{marker}"', "-o", library, source], check=True
    )
    control = subprocess.run(["/bin/true"], env={"LD_PRELOAD": str(library)}, check=False)
    assert control.returncode == 0
    assert marker.read_text() == "preloaded on the host\n"
    marker.unlink()

    with pytest.raises(ToolError) as refused:
        run(context(ws, sandboxed=sandboxed), "echo ran", env={"LD_PRELOAD": str(library)})

    assert "env LD_PRELOAD is refused" in refused.value.message
    assert "in the command line itself" in refused.value.message
    assert not marker.exists()


@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandboxed", "main"])
@pytest.mark.parametrize(
    "name",
    [
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "ld_audit",
        "DYLD_INSERT_LIBRARIES",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "PythonHome",
        "PERL5LIB",
        "PERL5OPT",
        "RUBYOPT",
        "NODE_OPTIONS",
        "BASH_ENV",
        "ENV",
        "SHELLOPTS",
        "IFS",
        "GCONV_PATH",
        "GLIBC_TUNABLES",
        "MALLOC_CHECK_",
    ],
)
def test_loader_variables_are_refused(name: str, sandboxed: bool, ws: Path) -> None:
    with pytest.raises(ToolError) as refused:
        run(context(ws, sandboxed=sandboxed), "touch ran.txt", env={name: "x"})
    assert f"env {name} is refused" in refused.value.message
    assert not (ws / "ran.txt").exists()


def test_the_launcher_gets_our_environment_not_the_models(
    mechanism: str, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What Popen receives: absolute launchers, and the fixed launcher environment."""
    seen: list[tuple[list[str], dict[str, str]]] = []
    real_popen = subprocess.Popen

    def spy(argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        seen.append((list(argv), dict(kwargs["env"])))
        return real_popen(argv, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", spy)
    env = {"PATH": f"{ws}/bin:/usr/bin:/bin", "MY_TOKEN": "model-value"}
    out = run(context(ws), 'echo "token=$MY_TOKEN"', env=env)

    assert "token=model-value" in out.content
    ((argv, launched_env),) = seen
    assert launched_env == sandbox.launcher_env()
    assert "model-value" not in str(launched_env)
    before_prelude = argv[: argv.index(PYTHON)]
    assert argv[0] == (sandbox.launcher_path("setpriv") or sandbox.launcher_path(mechanism))
    assert sandbox.launcher_path(mechanism) in before_prelude
    assert not set(before_prelude) & set(sandbox.LAUNCHERS)  # no bare name for PATH to find


# --- 2. host Unix sockets -----------------------------------------------------------------
def _unix_connect_command(address: str) -> str:
    code = (
        "import socket; s = socket.socket(socket.AF_UNIX); s.settimeout(3); "
        f"s.connect({address}); print('CONNECTED')"
    )
    return f'{PYTHON} -c "{code}"'


@pytest.fixture
def abstract_socket() -> Iterator[str]:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    name = f"\0openclaw-test-{uuid.uuid4().hex}"
    server.bind(name)
    server.listen(5)
    yield name
    server.close()


def test_an_abstract_unix_socket_on_the_host_is_not_reachable(
    mechanism: str, ws: Path, abstract_socket: str
) -> None:
    address = repr(abstract_socket.encode())
    control = run(context(ws, sandboxed=False), _unix_connect_command(address))
    assert "CONNECTED" in control.content
    out = run(context(ws), _unix_connect_command(address))
    assert out.meta["sandbox"] == mechanism
    assert "CONNECTED" not in out.content
    assert "ConnectionRefusedError" in out.content  # no such name in its network namespace


@pytest.fixture
def run_socket() -> Iterator[Path]:
    """A listening socket in a folder of its own under the host's /run."""
    require_root_dir("/run")
    folder = Path(tempfile.mkdtemp(prefix="openclaw-test-", dir="/run"))
    folder.chmod(0o755)
    path = folder / "s.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(str(path))
        path.chmod(0o777)
        server.listen(5)
        yield path
    finally:
        server.close()
        shutil.rmtree(folder, ignore_errors=True)


def test_host_sockets_under_run_are_not_reachable(
    mechanism: str, ws: Path, run_socket: Path
) -> None:
    """Docker, PostgreSQL and D-Bus listen under /run: a read-only view still connects."""
    address = repr(str(run_socket))
    control = run(context(ws, sandboxed=False), _unix_connect_command(address))
    assert "CONNECTED" in control.content
    out = run(context(ws), _unix_connect_command(address))
    assert out.meta["sandbox"] == mechanism
    assert "CONNECTED" not in out.content
    assert "FileNotFoundError" in out.content
    listing = run(context(ws), "find /run/ /var/run/ -mindepth 1 | wc -l; ls -A /run/postgresql")
    assert listing.content.splitlines()[0].strip() == "0"  # an empty tmpfs, both names
    assert ".s.PGSQL" not in listing.content


# --- 3. the workspace view: read-only, and protected files --------------------------------
PROTECTED = frozenset({"SOUL.md", "AGENTS.md", "memory/notes.md"})
# Each attempt prints "<name>=<exit status>"; all must fail.
ATTACKS = {
    "rm": "rm -f SOUL.md",
    "truncate": ": > SOUL.md",
    "write": "echo x > SOUL.md",
    "append": "echo x >> AGENTS.md",
    "mv": "mv SOUL.md moved.md",
    "mv_over": "echo y > new.md && mv -f new.md SOUL.md",
    "hardlink": "ln SOUL.md hard.md",
    "chmod": "chmod 666 AGENTS.md",
    "cp_over": "cp /etc/passwd AGENTS.md",
    "mv_folder": "mv memory memory2",
    "rm_nested": "rm -f memory/notes.md",
    "write_nested": "echo x > memory/notes.md",
}


def _attack_script() -> str:
    # A subshell each: a failed redirection on ":" would end the whole script.
    lines = [f'( {cmd} ) 2>/dev/null; echo "{name}=$?"' for name, cmd in ATTACKS.items()]
    lines += ['echo ok > other.txt; echo "other=$?"', 'echo ok > memory/new.txt; echo "mem=$?"']
    return "\n".join(lines)


def _statuses(out: ToolOutput) -> dict[str, int]:
    pairs = [line.split("=", 1) for line in out.content.splitlines() if "=" in line]
    return {name: int(code) for name, code in pairs}


@pytest.mark.parametrize("access", ["rw", "none"])
def test_protected_files_cannot_be_changed_removed_or_moved_away(
    mechanism: str, ws: Path, access: str
) -> None:
    (ws / "memory").mkdir()
    originals = {"SOUL.md": "Be kind.\n", "AGENTS.md": "Rules.\n", "memory/notes.md": "n\n"}
    for rel, text in originals.items():
        (ws / rel).write_text(text)

    out = run(context(ws, access=access, protected=PROTECTED), _attack_script())

    statuses = _statuses(out)
    assert set(statuses) == {*ATTACKS, "other", "mem"}, out.content
    assert {name: code for name, code in statuses.items() if code == 0} == {"other": 0, "mem": 0}
    for rel, text in originals.items():
        assert (ws / rel).read_text() == text
    assert sorted(p.name for p in ws.iterdir()) == [
        "AGENTS.md",
        "SOUL.md",
        "memory",
        "new.md",
        "other.txt",
    ]
    assert (ws / "memory" / "new.txt").read_text() == "ok\n"
    assert (ws / "AGENTS.md").stat().st_mode & 0o777 != 0o666
    control = run(context(ws, access=access), "rm SOUL.md && echo removed")
    assert "removed" in control.content  # unprotected, the same session could


def test_a_protected_file_that_is_a_link_or_has_a_second_name_is_refused(
    mechanism: str, ws: Path
) -> None:
    (ws / "persona.md").write_text("Be kind.\n")
    (ws / "SOUL.md").symlink_to("persona.md")
    with pytest.raises(ToolError, match=r"SOUL\.md is a symbolic link"):
        run(context(ws, protected=PROTECTED), "true")
    (ws / "SOUL.md").unlink()
    (ws / "AGENTS.md").write_text("Rules.\n")
    os.link(ws / "AGENTS.md", ws / "alias.md")
    with pytest.raises(ToolError, match=r"AGENTS\.md has a second name .*alias\.md"):
        run(context(ws, protected=PROTECTED), "true")


@pytest.mark.parametrize("place", ["tmp", "data dir"])
def test_a_read_only_workspace_cannot_be_written(
    mechanism: str, ws: Path, place: str, settings: Any
) -> None:
    """Under /tmp and under a hidden data dir (both are hidden, then bound back)."""
    data: Path | None = None
    if place == "data dir":
        require_root_dir("/var/tmp")
        data = Path(tempfile.mkdtemp(prefix="openclaw-sandbox-data-", dir="/var/tmp"))
        settings.DATA_DIR = data
        ws = data / "workspaces" / "main"
        ws.mkdir(parents=True)
    try:
        (ws / "notes.md").write_text("keep\n")
        (ws / "sub").mkdir()
        script = (
            'echo x > new.txt; echo "new=$?"; echo x >> notes.md; echo "append=$?"; '
            'rm -f notes.md; echo "rm=$?"; mkdir d; echo "mkdir=$?"; '
            'echo x > sub/f; echo "sub=$?"; cat notes.md; echo t > /tmp/t && cat /tmp/t'
        )
        out = run(context(ws, access="ro"), script)
        statuses = _statuses(out)
        assert set(statuses) == {"new", "append", "rm", "mkdir", "sub"}, out.content
        assert all(code != 0 for code in statuses.values()), out.content
        assert "keep\nt\n" in out.content  # reads work, and the private /tmp is writable
        assert sorted(p.name for p in ws.iterdir()) == ["notes.md", "sub"]
        assert (ws / "notes.md").read_text() == "keep\n"
        assert not any((ws / "sub").iterdir())
    finally:
        if data is not None:
            shutil.rmtree(data, ignore_errors=True)
