"""Read an OpenClaw ``openclaw.json`` the way OpenClaw 2026.9.6 reads it.

- **Where**: the state dir is the directory given, else ``$OPENCLAW_STATE_DIR``, else
  ``~/.openclaw``; the config file is ``$OPENCLAW_CONFIG_PATH`` (only when no directory
  is given), else ``<state dir>/openclaw.json`` (OpenClaw's ``src/config/paths.ts``).
- **JSON5**, with a syntax error reported as ``file:line:column: unexpected X; expected
  Y`` (``gateway.lib.json5_errors``).
- **``$include``** (``src/config/includes.ts``): a string includes one file, a list
  deep-merges several in order; sibling keys are merged over the included object;
  merging concatenates lists, merges objects and lets later scalars win; paths are
  relative to the including file and must stay inside the config file's directory (or
  a directory of ``$OPENCLAW_INCLUDE_ROOTS``); at most 10 levels, 2 MB a file, no cycles.
- **``${VAR}``** (``src/config/env-substitution.ts``): in string values, uppercase names
  only (``[A-Z_][A-Z0-9_]*``); ``$${VAR}`` is the literal ``${VAR}``. The variables are
  the process environment, then ``<state dir>/.env``, then the config's own ``env.vars``
  and ``env.<NAME>`` strings (none overrides one set before). OpenClaw 2026.9 only
  warns about a variable that is not set; an import refuses it, naming the config path,
  because importing an empty secret would silently lose it.

Framework-free: no Django import (tested without a database).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.lib.json5_errors import json5_problem

CONFIG_FILENAME = "openclaw.json"
INCLUDE_KEY = "$include"
MAX_INCLUDE_DEPTH = 10
MAX_FILE_BYTES = 2 * 1024 * 1024
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
_BLOCKED_KEYS = frozenset({"__proto__", "prototype", "constructor"})


class SourceError(Exception):
    """The OpenClaw files cannot be read; the message names the file or config path."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class OpenClawPaths:
    state_dir: Path
    config_path: Path


def openclaw_paths(
    directory: str | None, *, env: Mapping[str, str], config: str | None = None
) -> OpenClawPaths:
    """The state dir and config file to read (see the module docstring)."""
    if directory:
        state = Path(directory).expanduser()
        config_path = Path(config).expanduser() if config else state / CONFIG_FILENAME
        return OpenClawPaths(state, config_path)
    override = (env.get("OPENCLAW_STATE_DIR") or "").strip()
    state = Path(override).expanduser() if override else Path("~/.openclaw").expanduser()
    chosen = config or (env.get("OPENCLAW_CONFIG_PATH") or "").strip()
    return OpenClawPaths(state, Path(chosen).expanduser() if chosen else state / CONFIG_FILENAME)


def config_path_join(path: str, key: str | int) -> str:
    """``agents`` + ``list`` → ``agents.list``; ``bindings`` + 0 → ``bindings[0]``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def read_text(path: Path, *, limit: int | None = MAX_FILE_BYTES) -> str:
    """A UTF-8 text file, or a SourceError saying why it cannot be read."""
    try:
        if limit is not None and path.stat().st_size > limit:
            raise SourceError(f"{path}: larger than {limit // (1024 * 1024)} MB")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SourceError(f"{path}: is a directory, not a file") from None
    except PermissionError:
        raise SourceError(f"{path}: permission denied") from None
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _join_surrogates(node: Any) -> Any:
    """The json5 library reads an escaped pair (``"\\ud83e\\udd9e"``) as two lone
    surrogates; JavaScript, and so OpenClaw, reads one character (🦞)."""
    if isinstance(node, str):
        if any("\ud800" <= ch <= "\udfff" for ch in node):
            return node.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return node
    if isinstance(node, list):
        return [_join_surrogates(item) for item in node]
    if isinstance(node, dict):
        return {_join_surrogates(k): _join_surrogates(v) for k, v in node.items()}
    return node


def parse_json5(text: str, *, name: str) -> Any:
    """Parse JSON5; a SourceError says ``name:line:column: unexpected X; expected Y``."""
    import json5  # noqa: PLC0415  (lazy: the gateway imports this module at start; json5 only here)

    try:
        return _join_surrogates(json5.loads(text))
    except ValueError as exc:
        raise SourceError(json5_problem(text, str(exc)).describe(name)) from None
    except RecursionError:
        raise SourceError(f"{name}: nested too deeply") from None


def deep_merge(base: Any, override: Any) -> Any:
    """OpenClaw's include merge: lists concatenate, objects merge, the override's scalar wins."""
    if isinstance(base, list) and isinstance(override, list):
        return [*base, *override]
    if not isinstance(base, dict) or not isinstance(override, dict):
        return override
    merged = {k: v for k, v in base.items() if k not in _BLOCKED_KEYS}
    for key, value in override.items():
        if key in _BLOCKED_KEYS:
            continue
        merged[key] = deep_merge(merged[key], value) if key in merged else value
    return merged


@dataclass
class _Includes:
    roots: tuple[Path, ...]  # the config file's directory first, then $OPENCLAW_INCLUDE_ROOTS
    files: list[Path] = field(default_factory=list)

    def _inside(self, candidate: Path) -> bool:
        return any(candidate.is_relative_to(root) for root in self.roots)

    def _resolve(self, raw: str, base: Path) -> Path:
        if "\0" in raw or len(raw) >= 4096:
            raise SourceError(f"{base}: $include path {raw[:60]!r} is not a usable path")
        lexical = Path(os.path.normpath(base.parent / raw))
        if not self._inside(lexical):
            raise SourceError(
                f"{base}: $include {raw!r} is outside the config directory {self.roots[0]} "
                "(add its directory to OPENCLAW_INCLUDE_ROOTS to allow it)"
            )
        if lexical.exists() and not self._inside(lexical.resolve()):
            raise SourceError(f"{base}: $include {raw!r} leads outside the config directory")
        return lexical

    def load(self, raw: Any, base: Path, chain: tuple[Path, ...]) -> Any:
        if not isinstance(raw, str):
            raise SourceError(
                f"{base}: $include takes a file name or a list of file names, not "
                f"{type(raw).__name__}"
            )
        path = self._resolve(raw, base)
        if path in chain:
            cycle = " -> ".join(str(p) for p in (*chain, path))
            raise SourceError(f"circular $include: {cycle}")
        if len(chain) > MAX_INCLUDE_DEPTH:
            raise SourceError(f"{base}: $include {raw!r} is more than 10 levels deep")
        try:
            text = read_text(path)
        except SourceError as exc:
            raise SourceError(f"{base}: $include {raw!r}: {exc.message}") from None
        self.files.append(path)
        return self.process(parse_json5(text, name=str(path)), path, (*chain, path))

    def process(self, node: Any, base: Path, chain: tuple[Path, ...]) -> Any:
        if isinstance(node, list):
            return [self.process(item, base, chain) for item in node]
        if not isinstance(node, dict):
            return node
        if INCLUDE_KEY not in node:
            return {k: self.process(v, base, chain) for k, v in node.items()}
        raw = node[INCLUDE_KEY]  # read first, then the siblings (OpenClaw's order)
        if isinstance(raw, list):
            included: Any = {}
            for item in raw:
                included = deep_merge(included, self.load(item, base, chain))
        else:
            included = self.load(raw, base, chain)
        rest = {k: self.process(v, base, chain) for k, v in node.items() if k != INCLUDE_KEY}
        if not rest:
            return included
        if not isinstance(included, dict):
            raise SourceError(
                f"{base}: keys next to $include need the included file to hold an object"
            )
        return deep_merge(included, rest)


def _config_env(document: Any) -> dict[str, str]:
    """``env.vars`` and the ``env.<NAME>`` strings of a config (OpenClaw config-env-vars)."""
    block = document.get("env") if isinstance(document, dict) else None
    if not isinstance(block, dict):
        return {}
    found: dict[str, str] = {}
    pairs = [*(block.get("vars") or {}).items()] if isinstance(block.get("vars"), dict) else []
    pairs += [(k, v) for k, v in block.items() if k not in ("vars", "shellEnv")]
    for name, value in pairs:
        if isinstance(value, str) and value.strip() and "${" not in value:
            found.setdefault(str(name), value)
    return found


def _substitute(text: str, env: Mapping[str, str], where: str, used: set[str]) -> str:
    if "$" not in text:
        return text
    out: list[str] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        escaped = text.startswith("$${", pos)
        if char == "$" and (escaped or text.startswith("${", pos)):
            start = pos + (3 if escaped else 2)
            end = text.find("}", start)
            name = text[start:end] if end >= 0 else ""
            if end >= 0 and _ENV_NAME.fullmatch(name):
                if escaped:
                    out.append("${" + name + "}")
                else:
                    value = env.get(name)
                    if not value:
                        raise SourceError(
                            f"{where or '(root)'} references ${{{name}}}, which is not set (or "
                            f"is empty): set {name} in the environment or in the state dir's "
                            f".env, or write $${{{name}}} for the literal text"
                        )
                    used.add(name)
                    out.append(value)
                pos = end + 1
                continue
        out.append(char)
        pos += 1
    return "".join(out)


def substitute_env(node: Any, env: Mapping[str, str], used: set[str], where: str = "") -> Any:
    """``node`` with every ``${VAR}`` of its string values replaced (keys are left alone)."""
    if isinstance(node, str):
        return _substitute(node, env, where, used)
    if isinstance(node, list):
        return [
            substitute_env(v, env, used, config_path_join(where, i)) for i, v in enumerate(node)
        ]
    if isinstance(node, dict):
        return {
            k: substitute_env(v, env, used, config_path_join(where, k)) for k, v in node.items()
        }
    return node


@dataclass(frozen=True)
class LoadedConfig:
    document: dict[str, Any]
    files: tuple[Path, ...]  # the config file, then each included file
    env_names: tuple[str, ...]  # the variables substituted


def include_roots(config_path: Path, env: Mapping[str, str]) -> tuple[Path, ...]:
    extra = [
        Path(p) for p in (env.get("OPENCLAW_INCLUDE_ROOTS") or "").split(os.pathsep) if p.strip()
    ]
    roots = [config_path.parent.resolve(), *(p.resolve() for p in extra if p.is_absolute())]
    return tuple(dict.fromkeys(roots))


def load_config(
    config_path: Path, *, env: Mapping[str, str], dotenv: Mapping[str, str] | None = None
) -> LoadedConfig:
    """Read, include and substitute ``config_path`` (see the module docstring); ``dotenv``
    holds the state dir's ``.env`` variables (below ``env``, above the config's own)."""
    config_path = Path(os.path.abspath(config_path))
    text = read_text(config_path, limit=None)
    parsed = parse_json5(text, name=str(config_path))
    if not isinstance(parsed, dict):
        raise SourceError(f"{config_path}: the config must be an object ({{...}})")
    includes = _Includes(roots=include_roots(config_path, env))
    document = includes.process(parsed, config_path, (config_path,))
    variables = dict(env)
    for name, value in (dotenv or {}).items():
        variables.setdefault(name, value)
    for name, value in _config_env(document).items():
        variables.setdefault(name, value)
    used: set[str] = set()
    document = substitute_env(document, variables, used)
    return LoadedConfig(
        document=document, files=(config_path, *includes.files), env_names=tuple(sorted(used))
    )
