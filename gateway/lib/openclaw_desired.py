"""What ``gateway.lib.openclaw_normalize`` makes of an OpenClaw config: the ``Desired``
state, with the OpenClaw path of each part, and what has no place here (``NotMapped``).

Framework-free: no Django import.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.lib.openclaw_source import config_path_join as join

DEFAULT_ACCOUNT = "default"
# The account keys a ChannelAccount keeps (channels_app.lib.account_keys.ACCOUNT_KEYS).
ACCOUNT_KEYS = (
    "enabled",
    "name",
    "botToken",
    "apiRoot",
    "webhookUrl",
    "webhookSecret",
    "dmPolicy",
    "allowFrom",
    "groupPolicy",
    "groupAllowFrom",
    "groups",
    "requireMention",
)
SECRET_KEYS = ("botToken", "webhookSecret")
# An agent's OpenClaw keys this gateway keeps, as dotted leaves (agents.services.roster).
AGENT_LEAVES = (
    "name",
    "identity.emoji",
    "workspace",
    "model.primary",
    "model.fallbacks",
    "tools.profile",
    "tools.allow",
    "tools.deny",
    "tools.sandbox.tools.allow",
    "tools.sandbox.tools.deny",
    "sandbox.mode",
    "sandbox.workspaceAccess",
)
SESSION_KEYS = ("dmScope", "identityLinks", "reset")
LISTEN_KEYS = ("port", "bind", "customBindHost")
HTTP_ENDPOINTS = ("chatCompletions", "responses")
HTTP_ENDPOINT_KEYS = ("enabled", "maxBodyBytes")


class DocError(Exception):
    """The document's shape is wrong (not the value of one setting)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class NotMapped:
    path: str
    why: str


@dataclass
class AgentSpec:
    slug: str
    where: str  # agents.entries.main or agents.list[0]
    values: dict[str, Any]  # AGENT_LEAVES given (others take their defaults)
    has_model: bool = False


@dataclass
class AccountSpec:
    kind: str
    account_id: str
    where: str
    values: dict[str, Any]  # ACCOUNT_KEYS given


@dataclass
class Desired:
    agents: dict[str, AgentSpec] = field(default_factory=dict)
    default_agent: str | None = None
    defaults_model: dict[str, Any] = field(default_factory=dict)  # primary?, fallbacks?
    defaults_workspace: str | None = None
    bindings: list[Any] | None = None  # None: the document has no bindings
    accounts: dict[tuple[str, str], AccountSpec] = field(default_factory=dict)
    session: dict[str, Any] | None = None  # SESSION_KEYS given; None: no session block
    gateway: dict[str, Any] = field(default_factory=dict)  # config_service paths given
    listen: dict[str, Any] = field(default_factory=dict)  # gateway.port/bind/customBindHost
    hooks: dict[str, Any] | None = None  # None: the document has no hooks block
    http: dict[str, Any] | None = None  # gateway.http, the keys kept here
    tools: dict[str, Any] | None = None  # gateway.tools
    fixed: dict[str, Any] = field(default_factory=dict)  # path → value the env fixes
    cron_store: str | None = None
    not_mapped: list[NotMapped] = field(default_factory=list)

    def skip(self, path: str, why: str) -> None:
        self.not_mapped.append(NotMapped(path, why))


def as_object(value: Any, where: str, example: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise DocError(f"{where} must be an object, e.g. {example}")
    return dict(value)


def skip_rest(
    out: Desired, obj: Mapping[str, Any], where: str, used: tuple[str, ...], why: str
) -> None:
    for key in obj:
        if key not in used:
            out.skip(join(where, str(key)), why)
