"""The texts a sender sees during DM pairing (OpenClaw src/pairing/pairing-messages.ts)."""

from __future__ import annotations


def pairing_reply_text(*, channel: str, sender_id: str, code: str) -> str:
    """The reply to an unknown sender: their id, the code, and the owner's command."""
    return "\n".join(
        [
            "OpenClaw: access not configured.",
            "",
            f"Your {channel} user id: {sender_id}",
            "",
            f"Pairing code: {code}",
            "",
            "Ask the bot owner to approve with:",
            f"openclaw pairing approve {channel} {code}",
        ]
    )
