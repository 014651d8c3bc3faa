"""What the home page shows about the running gateway, read from process state.

Everything comes from memory (``gateway.state``, ``gateway.bus``) except the health
summary, which ``state.health_get()`` rebuilds in one database call at most every 60 s
and shares with the ``health`` method: the page never adds queries of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from gateway import bus, state
from gateway.handshake import SERVER_VERSION
from gateway.lib.protocol import PROTOCOL_VERSION


@dataclass(frozen=True)
class AgentRow:
    agent_id: str
    name: str
    is_default: bool
    sessions: int


@dataclass(frozen=True)
class ClientRow:
    name: str
    mode: str
    platform: str
    ip: str
    scopes: str


@dataclass(frozen=True)
class GatewayStatus:
    version: str
    protocol: int
    mode: str
    uptime: str
    agents: tuple[AgentRow, ...]
    sessions: int
    channels: tuple[str, ...]
    sockets: int
    clients: tuple[ClientRow, ...]


def uptime_text(ms: int) -> str:
    """``ms`` as "2 d 3 h", "3 h 12 min", "4 min 5 s" or "12 s"."""
    seconds = ms // 1000
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def _agents(summary: dict[str, Any]) -> tuple[AgentRow, ...]:
    rows = []
    for agent in summary.get("agents") or []:
        if not isinstance(agent, dict):
            continue
        sessions = agent.get("sessions") if isinstance(agent.get("sessions"), dict) else {}
        rows.append(
            AgentRow(
                agent_id=str(agent.get("agentId", "")),
                name=str(agent.get("name") or agent.get("agentId") or ""),
                is_default=bool(agent.get("isDefault")),
                sessions=int((sessions or {}).get("count") or 0),
            )
        )
    return tuple(rows)


def _clients() -> tuple[ClientRow, ...]:
    return tuple(
        ClientRow(
            name=str(entry.get("host", "")),
            mode=str(entry.get("mode", "")),
            platform=str(entry.get("platform", "")),
            ip=str(entry.get("ip", "")),
            scopes=", ".join(entry.get("scopes") or []),
        )
        for entry in state.presence_list()
    )


async def gateway_status() -> GatewayStatus:
    """Return the gateway's state as this process sees it (counts cover this process)."""
    summary = await state.health_get()
    sessions = summary.get("sessions") if isinstance(summary.get("sessions"), dict) else {}
    return GatewayStatus(
        version=SERVER_VERSION,
        protocol=PROTOCOL_VERSION,
        mode=settings.DEPLOYMENT,
        uptime=uptime_text(state.uptime_ms()),
        agents=_agents(summary),
        sessions=int((sessions or {}).get("count") or 0),
        channels=tuple(str(kind) for kind in summary.get("channelOrder") or []),
        # Every socket of this process, CLI calls included (they have no presence row).
        sockets=sum(1 for s in bus.subscribers() if getattr(s, "principal", None) is not None),
        clients=_clients(),
    )
