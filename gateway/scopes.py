"""Operator scopes (OpenClaw src/gateway/method-scopes.ts)."""

from __future__ import annotations

ADMIN = "operator.admin"
READ = "operator.read"
WRITE = "operator.write"
APPROVALS = "operator.approvals"
PAIRING = "operator.pairing"

ALL_SCOPES = (ADMIN, READ, WRITE, APPROVALS, PAIRING)


def invalid_scopes(scopes: list[str]) -> list[str]:
    return [scope for scope in scopes if scope not in ALL_SCOPES]
