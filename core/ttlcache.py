"""Small in-process caches whose entries live a few seconds.

The hot paths (a token connect, a chat turn) read rows that change rarely: token scopes,
agents, model keys, trusted proxies, the secrets to redact. Each such cache is a
``TTLCache``: entries expire after ``ttl_s`` (what another host changed applies within
that time), a save in this process clears it at once (the app's signals call
``clear``), and ``forget_all()`` empties every cache of the process (tests, whose
flushed databases send no signals).

A read is one dict lookup and one clock read, without a lock; writes take the lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_MISSING: Any = object()
_ALL: list[TTLCache[Any, Any]] = []
_ALL_LOCK = threading.Lock()


class TTLCache(Generic[K, V]):
    """A thread-safe mapping whose entries expire ``ttl_s`` seconds after they were set."""

    def __init__(self, name: str, *, ttl_s: float, max_entries: int = 1024) -> None:
        if ttl_s <= 0 or max_entries < 1:
            raise ValueError(f"cache {name}: ttl_s and max_entries must be positive")
        self.name = name
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()
        with _ALL_LOCK:
            _ALL.append(self)

    def __repr__(self) -> str:
        return f"<TTLCache {self.name} ttl={self.ttl_s:g}s entries={len(self._entries)}>"

    def get(self, key: K, default: V | None = None) -> V | None:
        """The live value for ``key``, or ``default`` when absent or expired."""
        entry = self._entries.get(key)
        if entry is None or entry[0] <= time.monotonic():
            return default
        return entry[1]

    def lookup(self, key: K) -> tuple[bool, V | None]:
        """``(True, value)`` for a live entry, ``(False, None)`` otherwise (None may be cached)."""
        entry = self._entries.get(key, _MISSING)
        if entry is _MISSING or entry[0] <= time.monotonic():
            return False, None
        return True, entry[1]

    def set(self, key: K, value: V) -> None:
        with self._lock:
            entries = self._entries
            entries.pop(key, None)  # re-set: to the end, entries stay in order of setting
            if len(entries) >= self.max_entries:
                # A burst of distinct keys (e.g. wrong tokens) must not grow the cache
                # without bound: drop the expired entries, and if that is not enough,
                # the ones set longest ago (an eighth, so a full cache does not pay
                # this on every set).
                now = time.monotonic()
                for stale in [k for k, e in entries.items() if e[0] <= now]:
                    del entries[stale]
                if len(entries) >= self.max_entries:
                    for oldest in list(entries)[: max(1, self.max_entries // 8)]:
                        del entries[oldest]
            entries[key] = (time.monotonic() + self.ttl_s, value)

    def get_or_load(self, key: K, load: Callable[[], V]) -> V:
        """The cached value, or ``load()``'s result, cached (None results included)."""
        found, value = self.lookup(key)
        if found:
            return value  # type: ignore[return-value]  # a cached V
        value = load()
        self.set(key, value)
        return value

    def discard(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self, *args: object, **kwargs: object) -> None:
        """Forget every entry (signature fits a Django signal receiver)."""
        with self._lock:
            self._entries = {}


def forget_all() -> None:
    """Empty every cache of this process."""
    with _ALL_LOCK:
        caches = list(_ALL)
    for cache in caches:
        cache.clear()
