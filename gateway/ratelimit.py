"""Failed-auth rate limiting per client address (OpenClaw gateway.auth.rateLimit)."""

from __future__ import annotations

import time
from collections import deque

from django.conf import settings


class AuthRateLimiter:
    """Count failed connects per address; lock an address out after too many.

    The limits are the ``AUTH_RATE_LIMIT_*`` settings unless given (the webhooks' own
    limiter: OpenClaw's 20 failures a minute, a minute's lockout, loopback not exempt).
    """

    def __init__(
        self,
        *,
        attempts: int | None = None,
        window_s: float | None = None,
        lockout_s: float | None = None,
        exempt_loopback: bool | None = None,
    ) -> None:
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._attempts = attempts
        self._window_s = window_s
        self._lockout_s = lockout_s
        self._exempt_loopback = exempt_loopback

    def _exempt(self, address: str | None, is_local: bool) -> bool:
        exempt = self._exempt_loopback
        if exempt is None:
            exempt = settings.AUTH_RATE_LIMIT_EXEMPT_LOOPBACK
        return address is None or (is_local and exempt)

    def retry_after_ms(self, address: str | None, *, is_local: bool) -> int:
        """Return how long the address is locked out for (0 = allowed)."""
        if address is None or self._exempt(address, is_local):
            return 0
        until = self._locked_until.get(address, 0.0)
        remaining = until - time.monotonic()
        if remaining <= 0:
            self._locked_until.pop(address, None)
            return 0
        return int(remaining * 1000)

    def record_failure(self, address: str | None, *, is_local: bool) -> None:
        if address is None or self._exempt(address, is_local):
            return
        now = time.monotonic()
        window = self._failures.setdefault(address, deque())
        window.append(now)
        while window and now - window[0] > (self._window_s or settings.AUTH_RATE_LIMIT_WINDOW_S):
            window.popleft()
        if len(window) >= (self._attempts or settings.AUTH_RATE_LIMIT_ATTEMPTS):
            lockout = self._lockout_s or settings.AUTH_RATE_LIMIT_LOCKOUT_S
            self._locked_until[address] = now + lockout
            window.clear()
        if len(self._failures) > 10_000:  # bound memory under a spray of addresses
            self._failures.pop(next(iter(self._failures)))

    def forgive(self, address: str | None) -> None:
        """Forget the failures of an address that just authenticated (OpenClaw resets them)."""
        if address is not None:
            self._failures.pop(address, None)

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
