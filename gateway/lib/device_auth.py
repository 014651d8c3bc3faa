"""Ed25519 device identity, as OpenClaw's clients sign it (src/gateway/device-auth.ts).

No Django imports: verification is a pure function of the connect params.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from gateway.lib.protocol import DEVICE_SIGNATURE_SKEW_MS


class DeviceAuthError(Exception):
    """A device identity that does not verify; ``code``/``reason`` as OpenClaw names them."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(code)
        self.code = code
        self.reason = reason


def b64url_decode(value: str) -> bytes:
    value = value.strip()
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def raw_public_key(public_key: str) -> bytes:
    """Return the raw 32-byte key from base64url or PEM."""
    try:
        if "BEGIN PUBLIC KEY" in public_key:
            key = load_pem_public_key(public_key.encode())
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError("not an Ed25519 key")
            return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        raw = b64url_decode(public_key)
    except (ValueError, TypeError):
        raise DeviceAuthError("DEVICE_AUTH_PUBLIC_KEY_INVALID", "device-public-key") from None
    if len(raw) != 32:
        raise DeviceAuthError("DEVICE_AUTH_PUBLIC_KEY_INVALID", "device-public-key")
    return raw


def device_id_for(raw_key: bytes) -> str:
    return hashlib.sha256(raw_key).hexdigest()


def _norm(value: str | None) -> str:
    return (value or "").strip().lower()


def signed_payload(
    *,
    version: str,
    device_id: str,
    client_id: str,
    client_mode: str,
    role: str,
    scopes: list[str],
    signed_at_ms: int,
    token: str,
    nonce: str,
    platform: str | None = None,
    device_family: str | None = None,
) -> str:
    parts = [
        version,
        device_id,
        client_id,
        client_mode,
        role,
        ",".join(scopes),
        str(signed_at_ms),
        token,
        nonce,
    ]
    if version == "v3":
        parts += [_norm(platform), _norm(device_family)]
    return "|".join(parts)


@dataclass(frozen=True)
class VerifiedDevice:
    device_id: str
    public_key: str  # raw key, base64url
    signature_version: str


def verify_device(
    *,
    device_id: str,
    public_key: str,
    signature: str,
    signed_at_ms: int,
    nonce: str,
    expected_nonce: str,
    client_id: str,
    client_mode: str,
    role: str,
    scopes: list[str],
    token: str,
    platform: str | None,
    device_family: str | None,
    now_ms: int,
) -> VerifiedDevice:
    """Verify a connect's device block; raise DeviceAuthError naming what failed."""
    raw = raw_public_key(public_key)
    if device_id_for(raw) != device_id:
        raise DeviceAuthError("DEVICE_AUTH_DEVICE_ID_MISMATCH", "device-id-mismatch")
    if abs(now_ms - signed_at_ms) > DEVICE_SIGNATURE_SKEW_MS:
        raise DeviceAuthError("DEVICE_AUTH_SIGNATURE_EXPIRED", "device-signature-stale")
    if not nonce:
        raise DeviceAuthError("DEVICE_AUTH_NONCE_REQUIRED", "device-nonce-missing")
    if nonce != expected_nonce:
        raise DeviceAuthError("DEVICE_AUTH_NONCE_MISMATCH", "device-nonce-mismatch")
    try:
        sig = b64url_decode(signature)
    except (ValueError, TypeError):
        raise DeviceAuthError("DEVICE_AUTH_SIGNATURE_INVALID", "device-signature") from None
    key = Ed25519PublicKey.from_public_bytes(raw)
    for version in ("v3", "v2"):
        payload = signed_payload(
            version=version,
            device_id=device_id,
            client_id=client_id,
            client_mode=client_mode,
            role=role,
            scopes=scopes,
            signed_at_ms=signed_at_ms,
            token=token,
            nonce=nonce,
            platform=platform,
            device_family=device_family,
        )
        try:
            key.verify(sig, payload.encode())
        except (InvalidSignature, UnicodeEncodeError):  # a lone surrogate signs nothing
            continue
        return VerifiedDevice(device_id, b64url_encode(raw), version)
    raise DeviceAuthError("DEVICE_AUTH_SIGNATURE_INVALID", "device-signature")
