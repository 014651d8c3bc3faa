"""DM pairing decided by the code the sender was given: ``manage.py pairing``, the
``pairing.*`` RPCs and ``/approve`` in a chat.

A code names one open request (pending codes are unique), looked up within a channel
(``telegram``) and, optionally, one of its accounts, as OpenClaw's
``openclaw pairing approve <channel> <code> [--account id]`` does.

**Wrong codes are rate-limited** per (channel, approver): after ``WRONG_CODES_LIMIT``
wrong or expired codes within a ``WRONG_CODES_WINDOW_S`` window, every attempt (right
codes too) is refused until the window ends. The counter lives in Django's cache, not in
a table: a wrong guess then writes no row (no contention on SQLite's one writer, nothing
to clean up), and losing the counter on a restart only reopens a one-minute window. The
cache is per process with the default ``LocMemCache``: the approvals worth limiting
(``pairing.approve`` over the gateway, ``/approve`` from a chat) run in the gateway and
its workers, each with its own budget; a shared cache (Redis) in ``CACHES`` makes it one
budget. ``manage.py pairing`` is limited per run only: whoever runs it can read the
database anyway. Guessing is hopeless regardless: 32^8 codes, at most 3 open per account.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import transaction
from django.db.models import Field, Q
from django.utils import timezone

from pairing.lib.codes import PAIRING_CODE_PATTERN, pairing_code_normalize
from pairing.models import PairingRequest
from pairing.services.common import (
    PairingError,
    PairingRateLimitedError,
    account_model,
    expire_pending,
)
from pairing.services.requests import (
    PairingApproval,
    pairing_request_approve,
    pairing_request_reject,
)

WRONG_CODES_LIMIT = 5
WRONG_CODES_WINDOW_S = 60
_PAIRING_CODE_RE = re.compile(PAIRING_CODE_PATTERN)


@dataclass
class WrongCodeLimiter:
    """Wrong pairing codes per (channel, approver) in fixed windows, kept in the cache."""

    limit: int = WRONG_CODES_LIMIT
    window_s: int = WRONG_CODES_WINDOW_S
    clock: Callable[[], float] = field(default=time.time)

    def _key(self, channel: str, approver: str, window: int) -> str:
        # Hashed: approvers are free text (session keys, device ids), cache keys are not.
        digest = hashlib.sha256(f"{channel}\0{approver}".encode()).hexdigest()[:32]
        return f"pairing:wrong-codes:{digest}:{window}"

    def check(self, *, channel: str, approver: str) -> None:
        """Raise ``PairingRateLimitedError`` while this approver has used up the window's wrong codes."""
        now = self.clock()
        window = int(now // self.window_s)
        if int(cache.get(self._key(channel, approver, window), 0)) >= self.limit:
            wait_s = max(1, math.ceil((window + 1) * self.window_s - now))
            raise PairingRateLimitedError(
                f"too many wrong pairing codes ({self.limit} within {self.window_s} s); "
                f"wait {wait_s} s and try again",
                retry_after_s=wait_s,
            )

    def record(self, *, channel: str, approver: str) -> None:
        key = self._key(channel, approver, int(self.clock() // self.window_s))
        cache.add(key, 0, timeout=self.window_s * 2)
        try:
            cache.incr(key)
        except ValueError:  # evicted between add and incr
            cache.set(key, 1, timeout=self.window_s * 2)


wrong_codes = WrongCodeLimiter()


def _kinds() -> list[str]:
    kind = account_model()._meta.get_field("kind")
    assert isinstance(kind, Field)
    return [str(value) for value, _label in kind.choices or []]


def _scope(channel: str | None, account_id: str | None) -> tuple[Q, str]:
    """The filter for requests of ``channel`` (and account), and how to name it in errors.

    Raises ``PairingError`` for an unknown channel, a channel without an account, or an
    account that does not exist, each naming what does.
    """
    account = (account_id or "").strip().lower()
    if channel is None or not channel.strip():
        if account:
            raise PairingError(f"account {account!r} needs its channel, e.g. telegram")
        return Q(), "on any channel"
    kind = channel.strip().lower()
    kinds = _kinds()
    if kind not in kinds:
        raise PairingError(f"unknown channel {channel.strip()!r}; channels: {', '.join(kinds)}")
    accounts = account_model()._default_manager.filter(kind=kind)
    if not account:
        if not accounts.exists():
            raise PairingError(
                f"no {kind} account is configured; add one in the admin (Channels → "
                f"Channel accounts) or with manage.py config set channels.{kind}.botToken …"
            )
        return Q(channel_account__kind=kind), f"for {kind}"
    if not accounts.filter(account_id=account).exists():
        known = sorted(str(a) for a in accounts.values_list("account_id", flat=True))
        raise PairingError(
            f"there is no {kind} account {account!r}; {kind} accounts: {', '.join(known) or 'none'}"
        )
    return (
        Q(channel_account__kind=kind, channel_account__account_id=account),
        f"for {kind} account {account}",
    )


def _pending_by_code(
    *, channel: str | None, code: str, account_id: str | None, approver: str
) -> int:
    """The id of the open request with this code, or ``PairingError`` (counted if wrong)."""
    normalized = pairing_code_normalize(code)
    if not _PAIRING_CODE_RE.fullmatch(normalized):
        raise PairingError(
            f"{code.strip()!r} is not a pairing code: 8 characters from A-Z and 2-9 "
            "without O and I, e.g. K7MX3PQA"
        )
    scope, where = _scope(channel, account_id)
    limited_channel = (channel or "*").strip().lower()
    wrong_codes.check(channel=limited_channel, approver=approver)
    found = (
        PairingRequest.objects.filter(scope, code=normalized, status=PairingRequest.Status.PENDING)
        .values_list("pk", "expires_at")
        .first()
    )
    if found is None or found[1] <= timezone.now():
        wrong_codes.record(channel=limited_channel, approver=approver)
        raise PairingError(
            f"no pending pairing request with code {normalized} {where}; codes expire after "
            "1 hour: ask the sender to write again for a new one"
        )
    return found[0]


@transaction.atomic
def pairing_request_approve_code(
    *,
    channel: str | None,
    code: str,
    account_id: str | None = None,
    decided_by: User | None = None,
    approver: str = "",
) -> PairingApproval:
    """Approve the open request with this code, allowlist its sender and tell them.

    ``channel`` (a kind, e.g. ``telegram``; None for any) and ``account_id`` narrow the
    lookup. The code is normalised first (case, spaces and dashes do not matter).
    ``approver`` names who asks (for the wrong-code limit, see the module docstring).
    Raises ``PairingError`` for a malformed, wrong or expired code, an unknown channel or
    account, or too many wrong codes.
    """
    request_id = _pending_by_code(
        channel=channel, code=code, account_id=account_id, approver=approver
    )
    return pairing_request_approve(request_id=request_id, decided_by=decided_by)


@transaction.atomic
def pairing_request_reject_code(
    *,
    channel: str | None,
    code: str,
    account_id: str | None = None,
    decided_by: User | None = None,
    approver: str = "",
) -> PairingRequest:
    """Reject the open request with this code (same lookup and limit as approving)."""
    request_id = _pending_by_code(
        channel=channel, code=code, account_id=account_id, approver=approver
    )
    return pairing_request_reject(request_id=request_id, decided_by=decided_by)


@transaction.atomic
def pairing_requests_pending(
    *, channel: str | None = None, account_id: str | None = None
) -> list[PairingRequest]:
    """Close the requests whose hour is over, then return the open ones, oldest first.

    As OpenClaw's ``pairing list`` prunes expired requests before it lists. Raises
    ``PairingError`` for an unknown channel or account (see ``_scope``).
    """
    scope, _where = _scope(channel, account_id)
    requests = PairingRequest.objects.filter(scope)
    expire_pending(requests, timezone.now())
    return list(
        requests.filter(status=PairingRequest.Status.PENDING)
        .select_related("channel_account")
        .order_by("created_at", "pk")
    )
