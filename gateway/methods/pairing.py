"""Gateway methods for DM pairing: ``pairing.list`` and ``pairing.approve``.

OpenClaw has no RPC for this (its ``openclaw pairing`` CLI edits files on the gateway's
host); these give remote operators the same two verbs with the ``operator.pairing``
scope, in the CLI's shapes:

- ``pairing.list {channel?, accountId?}`` → ``{channel?, requests: [{id (sender id),
  code, createdAt, lastSeenAt, expiresAt, channel, accountId, meta}]}``;
- ``pairing.approve {channel, code, accountId?}`` → ``{ok, channel, accountId, id, code,
  notified, noticeError?}``: the sender is allowlisted and told (``pairing.services``).

Wrong codes are rate-limited per device (or client id): past the limit the answer is
``UNAVAILABLE``, ``retryable`` with ``retryAfterMs`` (OpenClaw's error codes have no
rate-limit code of their own).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from gateway import scopes as gw_scopes
from gateway.frames import ErrorCode
from gateway.methods.registry import CallContext, MethodError, WireParams, method
from pairing.services import (
    PairingError,
    PairingRateLimitedError,
    pairing_request_approve_code,
    pairing_request_entry,
    pairing_requests_pending,
)


class PairingListParams(WireParams):
    channel: str | None = Field(default=None, max_length=32)
    account_id: str | None = Field(default=None, max_length=64)


@method("pairing.list", params=PairingListParams, scope=gw_scopes.PAIRING)
def pairing_list(ctx: CallContext, params: PairingListParams) -> dict[str, Any]:
    try:
        requests = pairing_requests_pending(channel=params.channel, account_id=params.account_id)
    except PairingError as exc:
        raise MethodError(str(exc)) from None
    payload: dict[str, Any] = {}
    if params.channel:
        payload["channel"] = params.channel.strip().lower()
    payload["requests"] = [pairing_request_entry(request) for request in requests]
    return payload


class PairingApproveParams(WireParams):
    channel: str = Field(min_length=1, max_length=32)
    code: str = Field(min_length=1, max_length=32)
    account_id: str | None = Field(default=None, max_length=64)


def _approver(ctx: CallContext) -> str:
    # A device id is the caller's own identity; without one, its (self-declared) client id
    # puts every such caller in one bucket, which only makes the limit stricter.
    return f"rpc:{ctx.device_id or 'client:' + ctx.client_id}"


@method("pairing.approve", params=PairingApproveParams, scope=gw_scopes.PAIRING)
def pairing_approve(ctx: CallContext, params: PairingApproveParams) -> dict[str, Any]:
    try:
        approval = pairing_request_approve_code(
            channel=params.channel,
            code=params.code,
            account_id=params.account_id,
            approver=_approver(ctx),
        )
    except PairingRateLimitedError as exc:
        raise MethodError(
            str(exc),
            code=ErrorCode.UNAVAILABLE,
            retryable=True,
            retry_after_ms=exc.retry_after_s * 1000,
        ) from None
    except PairingError as exc:
        raise MethodError(str(exc)) from None
    request = approval.request
    payload: dict[str, Any] = {
        "ok": True,
        "channel": request.channel_account.kind,
        "accountId": request.channel_account.account_id,
        "id": request.sender_ref,
        "code": request.code,
        "notified": approval.notified,
    }
    if approval.notice_error:
        payload["noticeError"] = approval.notice_error
    return payload
