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


# A shared secret that opens the gateway beyond loopback: at least this long, with at
# least this many different characters, and not one short sequence repeated. Tokens we
# generate (48 hex characters) always pass; so does a long passphrase.
STRONG_MIN_LENGTH = 24
STRONG_MIN_DISTINCT = 10
STRENGTH_RULE = (
    f"at least {STRONG_MIN_LENGTH} characters with at least {STRONG_MIN_DISTINCT} different "
    "ones, not a repeated pattern"
)


def secret_is_strong(secret: str) -> bool:
    """Return True when ``secret`` meets ``STRENGTH_RULE``."""
    if len(secret) < STRONG_MIN_LENGTH or len(set(secret)) < STRONG_MIN_DISTINCT:
        return False
    # "abcdefghijabcdefghij…" has ten different characters and no more entropy than ten.
    for period in range(1, len(secret) // 2 + 1):
        if all(secret[i] == secret[i % period] for i in range(len(secret))):
            return False
    return True
