"""No slow work at the door: a sync method handler never reaches a model or the run loop.

A sync handler runs on the process's one shared database thread (``database_sync_to_async``
is thread-sensitive), so while it runs every other socket of the process waits. A model
call (with failover, up to minutes) or a turn of the run loop there would stall them all.

The check reads the code: from each sync handler in the registry it follows every name
the function's source refers to (globals, attributes of modules and classes, imports in
the body, nested functions), into every function and class of this project, and fails
if one of the slow entry points below is reachable. Celery tasks are not followed:
enqueueing one is how slow work leaves the door.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import textwrap
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from celery.app.task import Task

import agents.providers
from agents.runtime import loop
from agents.services import compaction
from gateway.methods import REGISTRY
from gateway.methods.registry import CallContext, NoParams

PROJECT_PACKAGES = ("agents", "gateway", "sessions_app", "channels_app", "pairing", "core")
# Packages whose code talks to a model or runs tools: nothing in them belongs at the door.
SLOW_PACKAGES = (
    "agents.providers.anthropic",  # the vendors' adapters
    "agents.providers.openai",
    "agents.providers.placeholder",
    "agents.tools",  # tool execution: exec, web fetch, files
    "anthropic",  # the vendors' SDKs
    "openai",
)


def slow_entry_points() -> dict[Any, str]:
    """The functions through which a model call or a turn starts (by object)."""
    return {
        agents.providers.provider_client: "a model provider client",
        loop.run_advance: "the run loop (a turn)",
        compaction.session_compact: "a compaction summary (a model call)",
        compaction.session_compact_by_key: "a compaction summary (a model call)",
        compaction.session_compact_answer: "a compaction summary (a model call)",
    }


def _module_of(obj: Any) -> str:
    return getattr(obj, "__module__", None) or ""


def _ours(obj: Any) -> bool:
    return _module_of(obj).split(".")[0] in PROJECT_PACKAGES


def _source_tree(fn: Callable[..., Any]) -> ast.AST | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return None


def _attribute_chain(node: ast.Attribute) -> list[str] | None:
    names: list[str] = []
    current: ast.expr = node
    while isinstance(current, ast.Attribute):
        names.append(current.attr)
        current = current.value
    if not isinstance(current, ast.Name):
        return None
    names.append(current.id)
    return names[::-1]


def _resolve(names: list[str], namespace: dict[str, Any]) -> Iterator[Any]:
    """Yield what ``a.b.c`` names, and each step of it (modules and classes only)."""
    if names[0] in namespace:
        obj = namespace[names[0]]
    elif hasattr(builtins, names[0]):
        return
    else:
        return
    yield obj
    for name in names[1:]:
        if not isinstance(obj, types.ModuleType | type):
            return
        obj = getattr(obj, name, None)
        if obj is None:
            return
        yield obj


def referenced(fn: Callable[..., Any]) -> Iterator[Any]:
    """Every object the source of ``fn`` names, as far as it can be resolved statically."""
    tree = _source_tree(fn)
    if tree is None:
        return
    namespace = dict(getattr(fn, "__globals__", {}))
    closure = inspect.getclosurevars(fn).nonlocals if inspect.isfunction(fn) else {}
    namespace.update(closure)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            module = importlib.import_module(node.module)
            for alias in node.names:
                value = getattr(module, alias.name, None)
                if value is None:
                    value = importlib.import_module(f"{node.module}.{alias.name}")
                namespace[alias.asname or alias.name] = value
                yield value
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield importlib.import_module(alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain = _attribute_chain(node)
            if chain:
                yield from _resolve(chain, namespace)
        elif isinstance(node, ast.Name):
            yield from _resolve([node.id], namespace)


def _callables_of_class(cls: type) -> Iterator[Callable[..., Any]]:
    for value in vars(cls).values():
        if isinstance(value, staticmethod | classmethod):
            yield value.__func__
        elif isinstance(value, property):
            yield from (f for f in (value.fget, value.fset) if f is not None)
        elif inspect.isfunction(value):
            yield value


def slow_paths(start: Callable[..., Any], slow: dict[Any, str]) -> list[list[str]]:
    """Call paths (as qualified names) from ``start`` to a slow entry point or module."""
    found: list[list[str]] = []
    seen: set[int] = set()
    stack: list[tuple[Any, list[str]]] = [(start, [_label(start)])]
    while stack:
        obj, path = stack.pop()
        if isinstance(obj, Task):
            continue  # enqueued, not run here (unwrapping would reach its body)
        obj = inspect.unwrap(obj) if callable(obj) else obj
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if _is_slow(obj, slow):
            found.append(path)
            continue
        if inspect.isclass(obj) and _ours(obj):
            stack.extend((f, [*path, _label(f)]) for f in _callables_of_class(obj))
        elif inspect.isfunction(obj) and _ours(obj):
            stack.extend((ref, [*path, _label(ref)]) for ref in referenced(obj))
    return found


def _is_slow(obj: Any, slow: dict[Any, str]) -> bool:
    try:
        if obj in slow:
            return True
    except TypeError:  # unhashable
        return False
    if not (inspect.isfunction(obj) or inspect.isclass(obj)):
        return False
    module = _module_of(obj)
    return any(module == p or module.startswith(f"{p}.") for p in SLOW_PACKAGES)


def _label(obj: Any) -> str:
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or repr(obj)
    return f"{_module_of(obj)}.{name}" if _module_of(obj) else str(name)


# --- the check ----------------------------------------------------------------------------
def test_no_sync_handler_reaches_a_model_the_run_loop_or_a_compaction() -> None:
    slow = slow_entry_points()
    offenders = {
        name: paths
        for name, method in sorted(REGISTRY.items())
        if not method.is_async
        for paths in [slow_paths(method.handler, slow)]
        if paths
    }
    assert not offenders, "\n".join(
        f"sync method {name} can reach slow work (make it async and hand the work to a "
        f"worker, as sessions.compact does): {' -> '.join(paths[0])}"
        for name, paths in offenders.items()
    )


def test_sessions_compact_is_async_and_its_worker_half_is_slow() -> None:
    assert REGISTRY["sessions.compact"].is_async
    assert slow_paths(compaction.session_compact_answer, slow_entry_points())


# --- the checker finds what it must ---------------------------------------------------------
def _helper_that_compacts(key: str) -> Any:
    return compaction.session_compact_by_key(key=key)


def _old_style_compact(ctx: CallContext, params: NoParams) -> Any:
    """sessions.compact as it was: a sync handler importing the service in its body."""
    from agents.services.compaction import (
        session_compact_by_key,
    )

    return session_compact_by_key(key="agent:main:main")


def _via_a_helper(ctx: CallContext, params: NoParams) -> Any:
    return _helper_that_compacts("agent:main:main")


def _calls_a_provider(ctx: CallContext, params: NoParams) -> Any:
    return agents.providers.provider_client


def _advances_a_run(ctx: CallContext, params: NoParams) -> Any:
    return loop.run_advance(run_pk=1)


def _enqueues_only(ctx: CallContext, params: NoParams) -> Any:
    return compaction.session_compact_request(key="k", request_id="r")


@pytest.mark.parametrize(
    "handler",
    [_old_style_compact, _via_a_helper, _calls_a_provider, _advances_a_run],
    ids=["import-in-body", "through-a-helper", "provider", "run-loop"],
)
def test_the_check_finds_slow_work_however_it_is_reached(handler: Callable[..., Any]) -> None:
    paths = slow_paths(handler, slow_entry_points())
    assert paths, f"{handler.__name__} reaches slow work but the check missed it"
    assert paths[0][0].endswith(handler.__name__)


def test_the_check_lets_the_door_enqueue() -> None:
    assert slow_paths(_enqueues_only, slow_entry_points()) == []
