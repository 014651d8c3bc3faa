"""Who the client is behind a reverse proxy (OpenClaw ``gateway.trustedProxies``).

``X-Forwarded-For`` is believed only from a peer in the trusted proxies
(``OPENCLAW_TRUSTED_PROXIES`` plus ``gateway.trustedProxies`` in the config). The client
is then the right-most address of the header that is not itself a trusted proxy (each
proxy appends the address it saw, so everything left of that may be forged). From any
other peer the headers are ignored, and a connection that sent them is never "local".

The auth rate limit and the local-client rules (silent device pairing, the loopback
exemption) use the address this returns.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from core import dbdown
from core.ttlcache import TTLCache
from gateway.selectors import config_entry_value

logger = logging.getLogger(__name__)

CONFIG_PATH = "gateway.trustedProxies"
# A change made on another host applies within this long (one small query per expiry,
# only on connections that carry forwarding headers).
TTL_S = 10.0
FORWARD_HEADERS = ("x-forwarded-for", "x-real-ip", "forwarded")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_KEY = "networks"
_networks: TTLCache[str, tuple[Network, ...]] = TTLCache(
    "gateway.trusted_proxies", ttl_s=TTL_S, max_entries=1
)
# The networks last loaded, expired or not: what cached_networks() falls back to when
# the entry expires between needs_lookup() and resolve_client() (as before the cache).
_last_loaded: list[tuple[Network, ...]] = [()]


@dataclass(frozen=True)
class ClientAddress:
    ip: str | None
    # Direct loopback with no forwarding headers, or a loopback client named by a trusted
    # proxy: the same machine as the gateway.
    is_local: bool
    via_proxy: bool


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """Parse addresses and CIDR networks; raise ValueError naming a bad one."""
    out = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"{value!r} is not an IP address or network; use e.g. 10.0.0.5 or 10.0.0.0/24"
            ) from None
    return tuple(out)


def _ip(value: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not value:
        return None
    text = value.strip()
    if text.startswith("[") and "]" in text:  # [::1]:443
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # 10.0.0.1:443
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: str | None, networks: tuple[Network, ...]) -> bool:
    ip = _ip(address)
    return ip is not None and any(ip in network for network in networks)


def resolve_client(
    peer: str | None, headers: Mapping[str, str], networks: tuple[Network, ...]
) -> ClientAddress:
    """Return the client's address given the TCP peer, the request headers (lower-case
    names) and the trusted proxy networks."""
    forwarded = any(name in headers for name in FORWARD_HEADERS)
    peer_ip = _ip(peer)
    if not forwarded:
        return ClientAddress(peer, bool(peer_ip and peer_ip.is_loopback), via_proxy=False)
    if not _trusted(peer, networks):
        # Anyone can write the header: ignore it, and never count such a client as local.
        return ClientAddress(peer, is_local=False, via_proxy=False)
    hops = [h.strip() for h in headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            ip = _ip(hop)
            if ip is None:
                break  # garbage in the header: fall back to the proxy itself
            return ClientAddress(str(ip), is_local=ip.is_loopback, via_proxy=True)
    # Only proxies in the chain (or no usable header): the client is the last proxy.
    first = _ip(hops[0]) if hops else None
    ip = first or peer_ip
    return ClientAddress(
        str(ip) if ip else peer, is_local=bool(ip and ip.is_loopback), via_proxy=True
    )


def merged(stored: Any) -> list[str]:
    """The environment's trusted proxies, then ``stored`` (the config path's value)."""
    from_env = list(settings.GATEWAY_TRUSTED_PROXIES)
    extra = stored if isinstance(stored, list) else []
    return [*from_env, *(v for v in extra if isinstance(v, str) and v not in from_env)]


def configured() -> list[str]:
    """The trusted proxies as configured: the environment's, then those set by config
    path (``config.get`` shows this list)."""
    return merged(config_entry_value(CONFIG_PATH))


def _load() -> tuple[Network, ...]:
    try:
        return parse_networks(configured())
    except ValueError:
        # Validated on write; a row edited by hand must not open the door: ignore it.
        return parse_networks(settings.GATEWAY_TRUSTED_PROXIES)


def _load_and_keep() -> tuple[Network, ...]:
    networks = _load()
    _last_loaded[0] = networks
    return networks


def trusted_networks() -> tuple[Network, ...]:
    """The trusted proxy networks (cached for a few seconds; may query the database).

    While the database is down, the networks loaded last stand in (the environment's,
    if none was ever loaded): a request is then refused by its own database call, with
    an error that says so, not by this lookup.
    """
    try:
        return _networks.get_or_load(_KEY, _load_and_keep)
    except dbdown.DATABASE_DOWN as exc:
        dbdown.log_database_down(logger, "the trusted proxies", exc)
        if not _last_loaded[0]:
            _last_loaded[0] = parse_networks(settings.GATEWAY_TRUSTED_PROXIES)
        return _last_loaded[0]


def needs_lookup(headers: Mapping[str, str]) -> bool:
    """True when resolving the client needs the trusted networks (forwarding headers)."""
    fresh, _ = _networks.lookup(_KEY)
    return not fresh and any(name in headers for name in FORWARD_HEADERS)


def cached_networks() -> tuple[Network, ...]:
    """The networks loaded last, without a query (after ``needs_lookup`` said so)."""
    return _networks.get(_KEY) or _last_loaded[0]


def forget() -> None:
    """Drop the cache (after a config change in this process, and in tests)."""
    _networks.clear()
    _last_loaded[0] = ()
