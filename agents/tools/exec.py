"""The exec tool (group:runtime): run a shell command in the workspace.

The command runs with ``/bin/sh -c`` in its own session, so a timeout or an aborted run
kills the whole process group, children included. The environment is rebuilt from
scratch (the gateway's own variables hold API keys and tokens, and none of them may
leak), stdin is ``/dev/null``, and output is read as it comes into a bounded buffer: a
command printing 100 MB costs neither memory nor time (``agents.tools.process``). In a sandboxed session the
command runs through ``agents.tools.sandbox`` or not at all; the status line the model
reads ends with the sandbox that ran (``[exit code 0] [sandbox: bwrap]``) or
``[no sandbox]``.

The model's ``env`` is for the command. Helpers the gateway runs before it (``setpriv``,
``bwrap``, ``unshare``) are absolute paths from the system folders, never looked up in a
``PATH`` the model set; in a sandboxed session they run with ``sandbox.launcher_env()``
and the sandbox prelude hands ``env`` to ``/bin/sh`` only. Variables that make a dynamic
loader, libc or an interpreter load code or change how it reads a script are refused
outright (a ``ToolError`` naming the variable), sandboxed or not: unsandboxed, ``setpriv``
runs with the model's environment, and refusing everywhere keeps one rule. Names are
compared case-insensitively:

- prefixes ``LD_`` (LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT...), ``DYLD_``, ``MALLOC_``,
  ``PYTHON`` (PYTHONPATH, PYTHONSTARTUP, PYTHONHOME...);
- names ``GCONV_PATH``, ``GETCONF_DIR``, ``GLIBC_TUNABLES``, ``LOCPATH``, ``NLSPATH``,
  ``PERL5LIB``, ``PERL5OPT``, ``PERL5DB``, ``PERLLIB``, ``RUBYOPT``, ``RUBYLIB``,
  ``NODE_OPTIONS``, ``NODE_PATH``, ``JAVA_TOOL_OPTIONS``, ``_JAVA_OPTIONS``,
  ``JDK_JAVA_OPTIONS``, ``BASH_ENV``, ``ENV``, ``SHELLOPTS``, ``BASHOPTS``, ``IFS``.

A command that needs one sets it itself (``PYTHONPATH=src python3 -m app``): then it
acts on that command only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from pydantic import Field

from agents.tools import paths, sandbox
from agents.tools.base import Tool, ToolArgs, ToolContext, ToolError, ToolOutput
from agents.tools.base import register as register_tool
from agents.tools.process import CommandResult, run_process

DEFAULT_TIMEOUT_S = 60
MAX_TIMEOUT_S = 1800
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# The model's variables travel in one argument of the sandbox prelude, and Linux caps
# one argument at 128 KiB (MAX_ARG_STRLEN).
MAX_ENV_CHARS = 32_000
# See the module docstring: loader, libc and interpreter variables are refused.
REFUSED_ENV_PREFIXES = ("LD_", "DYLD_", "MALLOC_", "PYTHON")
REFUSED_ENV_NAMES = frozenset(
    {
        "GCONV_PATH",
        "GETCONF_DIR",
        "GLIBC_TUNABLES",
        "LOCPATH",
        "NLSPATH",
        "PERL5LIB",
        "PERL5OPT",
        "PERL5DB",
        "PERLLIB",
        "RUBYOPT",
        "RUBYLIB",
        "NODE_OPTIONS",
        "NODE_PATH",
        "JAVA_TOOL_OPTIONS",
        "_JAVA_OPTIONS",
        "JDK_JAVA_OPTIONS",
        "BASH_ENV",
        "ENV",
        "SHELLOPTS",
        "BASHOPTS",
        "IFS",
    }
)


class ExecArgs(ToolArgs):
    command: str = Field(
        description="Shell command line, run with /bin/sh -c in the workspace. Background "
        "processes are stopped when the command ends."
    )
    workdir: str | None = Field(
        default=None,
        description="Folder to run in, relative to the workspace (default: the workspace).",
    )
    timeout: int = Field(
        default=DEFAULT_TIMEOUT_S,
        ge=1,
        le=MAX_TIMEOUT_S,
        description=f"Seconds before the command is killed (default {DEFAULT_TIMEOUT_S}, "
        f"max {MAX_TIMEOUT_S}).",
    )
    env: dict[str, str] | None = Field(
        default=None, description="Extra environment variables for the command."
    )


# --- the environment and the tool ------------------------------------------------------
def refused_env_reason(name: str) -> str | None:
    """Why the model may not set variable ``name`` (see the module docstring), or None."""
    upper = name.upper()
    prefix = next((p for p in REFUSED_ENV_PREFIXES if upper.startswith(p)), None)
    if prefix is None and upper not in REFUSED_ENV_NAMES:
        return None
    what = f"{prefix}* variables" if prefix else f"variables like {upper}"
    return (
        f"env {name} is refused: {what} make the dynamic loader, libc or an interpreter "
        "load code or change how it reads a script, and exec never lets them reach the "
        "programs it starts before your command (setpriv, the sandbox). If your command "
        f"needs it, set it in the command line itself (for example: {name}=... your-command)"
    )


def command_environment(workspace: Path, extra: Mapping[str, str] | None) -> dict[str, str]:
    """Return the command's whole environment: a fixed few variables plus ``extra``.

    Nothing else is inherited from the gateway, whose environment holds API keys.
    Raises ``ToolError`` for a bad name or value, a refused variable, or too much.
    """
    env = {
        "PATH": os.environ.get("PATH") or DEFAULT_PATH,
        "HOME": str(workspace),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
    }
    if tz := os.environ.get("TZ"):
        env["TZ"] = tz
    size = 0
    for name, value in (extra or {}).items():
        if not _ENV_NAME.match(name):
            raise ToolError(
                f"env name {name!r} is not a valid variable name; use letters, digits and "
                "underscores, not starting with a digit"
            )
        if reason := refused_env_reason(name):
            raise ToolError(reason)
        if "\x00" in value:
            raise ToolError(f"env value of {name} contains a NUL character; remove it")
        size += len(name) + len(value) + 2
        if size > MAX_ENV_CHARS:
            raise ToolError(
                f"env is too large (over {MAX_ENV_CHARS} characters); pass large values "
                "in a file in the workspace instead"
            )
        env[name] = value
    return env


def _secret_dirs() -> list[Path]:
    """Folders a sandboxed command must not see: the gateway's data dir (secret files)."""
    try:
        data_dir = getattr(settings, "DATA_DIR", None)
    except ImproperlyConfigured:
        return []
    return [Path(data_dir)] if data_dir else []


def _status_line(result: CommandResult, timeout: float, mechanism: str | None) -> str:
    """The last line the model reads: how the command ended, and the sandbox it ran in."""
    where = f"[sandbox: {mechanism}]" if mechanism else "[no sandbox]"
    if result.timed_out:
        return f"[killed after {timeout:g} s timeout] {where}"
    if result.cancelled:
        return f"[killed: the run was cancelled] {where}"
    code = result.exit_code
    if code is not None and code < 0:
        return f"[killed by signal {-code}] {where}"
    return f"[exit code {code}] {where}"


def exec_run(ctx: ToolContext, args: ExecArgs) -> ToolOutput:
    if not args.command.strip():
        raise ToolError("command is empty; give a shell command line to run")
    if "\x00" in args.command:
        raise ToolError("command contains a NUL character; remove it")
    root = paths.workspace_root(ctx.workspace)
    cwd = root
    if args.workdir:
        wp = paths.resolve(ctx.workspace, args.workdir)
        os.close(paths.open_dir(wp))  # exists and is a folder
        cwd = wp.real
    timeout = ctx.seconds_left(float(args.timeout))
    if timeout < 1:
        raise ToolError("the run has no time left to start a command; finish your reply")
    env = command_environment(root, args.env)
    argv = ["/bin/sh", "-c", args.command]
    mechanism: str | None = None
    if ctx.sandboxed:
        try:
            mechanism, argv = sandbox.sandbox_argv(
                command=args.command,
                workspace=root,
                cwd=cwd,
                timeout=timeout,
                env=env,
                hide=_secret_dirs(),
                workspace_access=ctx.workspace_access,
                protected_files=ctx.protected_files,
            )
        except (sandbox.SandboxUnavailableError, sandbox.ProtectedFileError) as exc:
            raise ToolError(str(exc)) from None
        # The model's variables are in the prelude's config; the launchers get none.
        env = sandbox.launcher_env()
    result = run_process(argv, cwd=cwd, env=env, timeout=timeout, is_cancelled=ctx.is_cancelled)
    body = result.output if result.output.strip() else "(no output)"
    content = f"{body.rstrip(chr(10))}\n{_status_line(result, timeout, mechanism)}"
    meta = {
        "exitCode": result.exit_code,
        "timedOut": result.timed_out,
        "cancelled": result.cancelled,
        "truncatedBytes": result.truncated_bytes,
        "sandboxed": mechanism is not None,
        "sandbox": mechanism,
        "durationMs": int(result.elapsed * 1000),
    }
    # A non-zero exit is information for the model, not a tool failure; a kill is.
    return ToolOutput(content, is_error=result.timed_out or result.cancelled, meta=meta)


register_tool(
    Tool(
        name="exec",
        description=(
            "Run a shell command (/bin/sh -c) in the workspace and return its output "
            "(stdout and stderr together) and exit code. Long output keeps its start and end."
        ),
        group="runtime",
        args_model=ExecArgs,
        run=exec_run,
    )
)
