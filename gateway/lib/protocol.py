"""OpenClaw gateway protocol constants and version negotiation (no Django imports)."""

from __future__ import annotations

PROTOCOL_VERSION = 4
# Nodes and probes may still speak 3 (OpenClaw MIN_NODE_PROTOCOL_VERSION).
MIN_NODE_PROTOCOL = 3
MIN_PROBE_PROTOCOL = 3

MAX_PAYLOAD_BYTES = 25 * 1024 * 1024
MAX_BUFFERED_BYTES = 50 * 1024 * 1024
PRE_CONNECT_MAX_BYTES = 64 * 1024
TICK_INTERVAL_MS = 30_000
HANDSHAKE_TIMEOUT_S = 10.0
DEVICE_SIGNATURE_SKEW_MS = 120_000
HEALTH_REFRESH_S = 60.0

# Close codes.
CLOSE_NORMAL = 1000
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_RESTART = 1012
CLOSE_TRY_AGAIN = 1013  # a part the gateway needs (the database) is down for now

CLIENT_IDS = frozenset(
    {
        "webchat-ui",
        "openclaw-control-ui",
        "openclaw-tui",
        "webchat",
        "cli",
        "gateway-client",
        "openclaw-macos",
        "openclaw-ios",
        "openclaw-android",
        "node-host",
        "test",
        "fingerprint",
        "openclaw-probe",
    }
)
CLIENT_MODES = frozenset({"webchat", "cli", "ui", "backend", "node", "probe", "test"})


def negotiate(*, min_protocol: int, max_protocol: int, role: str, mode: str) -> int | None:
    """Return the protocol to speak, or None when the client's range excludes ours.

    Operators must speak 4; nodes and probes may speak 3 (then we answer 3).
    """
    if min_protocol <= PROTOCOL_VERSION <= max_protocol:
        return PROTOCOL_VERSION
    floor = MIN_NODE_PROTOCOL if role == "node" else MIN_PROBE_PROTOCOL if mode == "probe" else None
    if floor is not None and min_protocol <= floor <= max_protocol < PROTOCOL_VERSION:
        return max_protocol
    return None
