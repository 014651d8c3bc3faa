"""Operator token material: generation and hashing (no Django imports)."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def token_generate() -> str:
    """Return a new token: 24 random bytes as 48 hex characters, as OpenClaw makes them."""
    return secrets.token_hex(24)


def token_hash(token: str) -> str:
    """Return the sha256 hex of a token.

    Tokens are high-entropy random strings, so a fast hash is enough (a slow KDF guards
    low-entropy passwords, which are hashed elsewhere).
    """
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, hashed: str) -> bool:
    """Compare a presented token with a stored hash in constant time."""
    return hmac.compare_digest(token_hash(token), hashed)
