"""core.ttlcache: expiry, cached None, bounded size, forget_all; core.clock."""

from __future__ import annotations

import time
from unittest import mock

import pytest

from core import clock, ttlcache
from core.ttlcache import TTLCache


def test_entries_expire_after_their_ttl() -> None:
    cache: TTLCache[str, int] = TTLCache("test.expiry", ttl_s=10)
    with mock.patch("core.ttlcache.time.monotonic", return_value=100.0):
        cache.set("a", 1)
    with mock.patch("core.ttlcache.time.monotonic", return_value=109.9):
        assert cache.get("a") == 1
    with mock.patch("core.ttlcache.time.monotonic", return_value=110.0):
        assert cache.get("a") is None
        assert cache.lookup("a") == (False, None)


def test_none_is_a_cacheable_value() -> None:
    cache: TTLCache[str, int | None] = TTLCache("test.none", ttl_s=60)
    calls: list[int] = []

    def load() -> None:
        calls.append(1)

    assert cache.get_or_load("k", load) is None
    assert cache.get_or_load("k", load) is None
    assert calls == [1]
    assert cache.lookup("k") == (True, None)


def test_size_is_bounded_and_the_entries_set_longest_ago_go_first() -> None:
    cache: TTLCache[int, int] = TTLCache("test.bounded", ttl_s=60, max_entries=16)
    for i in range(16):
        cache.set(i, i)
    cache.set(0, 0)  # set again: now the newest
    cache.set(16, 16)  # full: the two set longest ago (1, 2) make room
    assert len(cache._entries) <= 16
    assert cache.get(1) is None
    assert cache.get(2) is None
    assert [cache.get(k) for k in (0, 3, 15, 16)] == [0, 3, 15, 16]
    for i in range(100, 200):
        cache.set(i, i)
    assert len(cache._entries) <= 16
    assert cache.get(199) == 199


def test_expired_entries_make_room_before_live_ones() -> None:
    cache: TTLCache[int, int] = TTLCache("test.expired_first", ttl_s=10, max_entries=4)
    with mock.patch("core.ttlcache.time.monotonic", return_value=100.0):
        cache.set(1, 1)
    with mock.patch("core.ttlcache.time.monotonic", return_value=105.0):
        for k in (2, 3, 4):
            cache.set(k, k)
    with mock.patch("core.ttlcache.time.monotonic", return_value=111.0):
        cache.set(5, 5)  # 1 has expired: it goes, 2, 3 and 4 stay
        assert [cache.get(k) for k in (1, 2, 3, 4, 5)] == [None, 2, 3, 4, 5]


def test_forget_all_clears_every_cache_and_clear_is_a_signal_receiver() -> None:
    one: TTLCache[str, int] = TTLCache("test.one", ttl_s=60)
    two: TTLCache[str, int] = TTLCache("test.two", ttl_s=60)
    one.set("x", 1)
    two.set("y", 2)
    ttlcache.forget_all()
    assert one.get("x") is None
    assert two.get("y") is None
    two.set("y", 2)
    two.clear(sender=object(), instance=None)
    assert two.get("y") is None


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        TTLCache("test.bad", ttl_s=0)


def test_now_ms_is_epoch_milliseconds() -> None:
    assert abs(clock.now_ms() - time.time() * 1000) < 1000
