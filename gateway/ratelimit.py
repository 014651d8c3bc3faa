"""Failed-auth rate limiting per client address (OpenClaw gateway.auth.rateLimit)."""

from __future__ import annotations

import time
from collections import deque

from django.conf import settings


class AuthRateLimiter:
    """Count failed connects per address; lock an address out after too many."""

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}

    def retry_after_ms(self, address: str | None, *, is_local: bool) -> int:
        """Return how long the address is locked out for (0 = allowed)."""
        if address is None or (is_local and settings.AUTH_RATE_LIMIT_EXEMPT_LOOPBACK):
            return 0
        until = self._locked_until.get(address, 0.0)
        remaining = until - time.monotonic()
        if remaining <= 0:
            self._locked_until.pop(address, None)
            return 0
        return int(remaining * 1000)

    def record_failure(self, address: str | None, *, is_local: bool) -> None:
        if address is None or (is_local and settings.AUTH_RATE_LIMIT_EXEMPT_LOOPBACK):
            return
        now = time.monotonic()
        window = self._failures.setdefault(address, deque())
        window.append(now)
        while window and now - window[0] > settings.AUTH_RATE_LIMIT_WINDOW_S:
            window.popleft()
        if len(window) >= settings.AUTH_RATE_LIMIT_ATTEMPTS:
            self._locked_until[address] = now + settings.AUTH_RATE_LIMIT_LOCKOUT_S
            window.clear()
        if len(self._failures) > 10_000:  # bound memory under a spray of addresses
            self._failures.pop(next(iter(self._failures)))

    def reset(self) -> None:
        self._failures.clear()
        self._locked_until.clear()


auth_rate_limiter = AuthRateLimiter()


class TokenBucket:
    """Requests per connection: ``rate`` per second with bursts up to ``burst``."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self) -> float:
        """Take one token; return 0 if granted, else seconds until one is available."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate
