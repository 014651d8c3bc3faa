"""Pairing codes as OpenClaw makes them (src/pairing/pairing-store.ts)."""

from __future__ import annotations

import secrets

# No 0, O, 1 or I: codes are read aloud and typed by hand.
PAIRING_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
PAIRING_CODE_LENGTH = 8
PAIRING_CODE_PATTERN = rf"^[{PAIRING_ALPHABET}]{{{PAIRING_CODE_LENGTH}}}$"


def pairing_code_generate() -> str:
    """Return a random 8-character code (40 bits of entropy)."""
    return "".join(secrets.choice(PAIRING_ALPHABET) for _ in range(PAIRING_CODE_LENGTH))


def pairing_code_normalize(raw: str) -> str:
    """Upper-case and strip what an operator typed; callers validate the result."""
    return raw.strip().upper().replace("-", "").replace(" ", "")
