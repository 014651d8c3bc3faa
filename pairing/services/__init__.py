"""Write use-cases of the pairing app: allowlists, DM pairing requests, gateway devices.

- ``requests``: allowlist entries and pairing requests by id (create, approve, reject,
  expire); an approval allowlists the sender and tells them through ``core.delivery``;
- ``by_code``: the same decisions by the code the sender was given, rate-limited, and
  the list of open requests (``manage.py pairing``, ``pairing.*`` RPCs, ``/approve``);
- ``devices``: gateway client devices (the connect handshake decides, these write).

Every status change is a compare-and-set update, so two deciders never both win.
"""

from __future__ import annotations

from pairing.services.by_code import (
    WRONG_CODES_LIMIT,
    WRONG_CODES_WINDOW_S,
    pairing_request_approve_code,
    pairing_request_reject_code,
    pairing_requests_pending,
    wrong_codes,
)
from pairing.services.common import (
    MAX_PENDING_PER_ACCOUNT,
    PAIRING_APPROVED_TEXT,
    PAIRING_REQUEST_TTL,
    PairingError,
    PairingRateLimitedError,
    PairingRequestEntry,
    pairing_request_entry,
)
from pairing.services.devices import (
    DeviceClaim,
    device_approve,
    device_pair_silently,
    device_pairing_request_open,
    device_record_connect,
    device_reject,
    device_revoke,
    device_token_store,
)
from pairing.services.requests import (
    PairingApproval,
    allowlist_entry_add,
    pairing_request_approve,
    pairing_request_create,
    pairing_request_reject,
    pairing_requests_expire,
    sender_chat_id,
)

__all__ = [
    "MAX_PENDING_PER_ACCOUNT",
    "PAIRING_APPROVED_TEXT",
    "PAIRING_REQUEST_TTL",
    "WRONG_CODES_LIMIT",
    "WRONG_CODES_WINDOW_S",
    "DeviceClaim",
    "PairingApproval",
    "PairingError",
    "PairingRateLimitedError",
    "PairingRequestEntry",
    "allowlist_entry_add",
    "device_approve",
    "device_pair_silently",
    "device_pairing_request_open",
    "device_record_connect",
    "device_reject",
    "device_revoke",
    "device_token_store",
    "pairing_request_approve",
    "pairing_request_approve_code",
    "pairing_request_create",
    "pairing_request_entry",
    "pairing_request_reject",
    "pairing_request_reject_code",
    "pairing_requests_expire",
    "pairing_requests_pending",
    "sender_chat_id",
    "wrong_codes",
]
