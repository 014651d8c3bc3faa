"""Which browser pages may open the gateway WebSocket: OpenClaw's ``checkBrowserOrigin``.

The rules of OpenClaw 2026.9.6 (``src/gateway/origin-check.ts``), in order:

1. **allowlist**: the origin is in ``OPENCLAW_GATEWAY_ALLOWED_ORIGINS`` or
   ``gateway.controlUi.allowedOrigins`` (``"*"`` there allows every origin);
2. **host-header-fallback**: only when ``gateway.controlUi.
   dangerouslyAllowHostHeaderOriginFallback`` is on, any origin whose host equals the
   request's ``Host`` (a DNS-rebinding page passes this, hence the name);
3. **private-same-origin**: the origin's host equals the request's ``Host`` and that host
   is loopback (for a local client), a private or link-local address, or a ``.local``
   or ``.ts.net`` name;
4. **local-loopback**: a loopback origin (``localhost``, ``127.0.0.1``, ``[::1]``, any
   port) from a local client: a Control UI dev server beside the gateway;
5. **same-host** (ours; the issue asks for "the same host as the request"): the origin's
   host equals the request's ``Host``, which is no loopback name, and the client is *not*
   local: the page this gateway serves under a public name, opened from another
   machine. From a local client that match is what a DNS-rebinding page sends, so it is
   refused there (only the opt-in fallback of rule 2 accepts it). A rebinding page in a
   browser elsewhere still needs a credential, which beyond loopback must be strong,
   under the per-client limit.

Everything else is refused with OpenClaw's message. "Local client" is the one
``gateway.proxies.resolve_client`` decides (direct loopback with no forwarding headers,
or a loopback client named by a trusted proxy): a page that reached the gateway through
a proxy, or that sent ``X-Forwarded-For`` itself, is not local.

The pure rules come first (no database); the configured lists are cached like the
trusted proxies (``core.ttlcache``, cleared when ``config set`` changes them).
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from core import dbdown
from core.ttlcache import TTLCache
from gateway.selectors import config_entry_value

ALLOWED_ORIGINS_PATH = "gateway.controlUi.allowedOrigins"
HOST_FALLBACK_PATH = "gateway.controlUi.dangerouslyAllowHostHeaderOriginFallback"
CONFIG_PATHS = (ALLOWED_ORIGINS_PATH, HOST_FALLBACK_PATH)
# OpenClaw's answer, word for word, with ``details.code``.
REFUSAL = (
    "origin not allowed (open the Control UI from the gateway host or allow it in "
    "gateway.controlUi.allowedOrigins)"
)
REFUSAL_CODE = "CONTROL_UI_ORIGIN_NOT_ALLOWED"
TTL_S = 10.0

_ORIGIN_SHAPE = re.compile(r"^[a-z][a-z0-9+.-]*://[^/?#\\]+/?$", re.IGNORECASE)
_HOSTNAME = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?$")
_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443", "ftp": "21"}
# OpenClaw's isPrivateOrLoopbackAddress: IPv4 loopback, RFC 1918, link-local and CGNAT
# (Tailscale's 100.64/10); IPv6 special-use ranges (loopback, link-local, unique-local
# fc00::/7, site-local, multicast, documentation, ...), IPv4-mapped ones as IPv4.
_PRIVATE_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        *("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"),
        *("169.254.0.0/16", "100.64.0.0/10"),
    )
)
_PRIVATE_V6 = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        *("::/128", "::1/128", "fe80::/10", "fc00::/7", "fec0::/10", "ff00::/8"),
        *("2001:db8::/32", "2001:2::/48", "100::/64", "2001:20::/28"),
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass(frozen=True)
class Origin:
    origin: str  # scheme://host[:port], lower-case, default port dropped
    host: str  # host[:port] as in a Host header
    hostname: str  # IPv6 in brackets, as URL.hostname gives it


@dataclass(frozen=True)
class OriginCheck:
    ok: bool
    matched_by: str | None = None  # allowlist | host-header-fallback | ...
    reason: str | None = None  # why not: "origin missing or invalid" | "origin not allowed"


@dataclass(frozen=True)
class OriginPolicy:
    allowed: frozenset[str]
    host_header_fallback: bool = False


# --- the rules (pure) -----------------------------------------------------------------------
def _split_host(rest: str) -> tuple[str, str] | None:
    """``host[:port]`` (lower-case) → (hostname, port); IPv6 in brackets, compressed."""
    if not rest.startswith("["):
        hostname, _, port = rest.partition(":")
        return (hostname, port) if _HOSTNAME.match(hostname) else None
    end = rest.find("]")
    if end == -1 or (rest[end + 1 :] and not rest[end + 1 :].startswith(":")):
        return None
    try:
        return f"[{ipaddress.IPv6Address(rest[1:end]).compressed}]", rest[end + 2 :]
    except ValueError:
        return None


def parse_origin(raw: str | None) -> Origin | None:
    """Parse a browser ``Origin`` (``scheme://host[:port]``); None when it is not one."""
    text = (raw or "").strip()
    if not text or text == "null" or not _ORIGIN_SHAPE.match(text):
        return None
    scheme, _, rest = text.partition("://")
    scheme, rest = scheme.lower(), rest.rstrip("/").lower()
    split = None if "@" in rest else _split_host(rest)  # user:password@host is no origin
    if split is None:
        return None
    hostname, port = split
    if port and (not (port.isascii() and port.isdigit()) or int(port) > 65535):
        return None
    if port and _DEFAULT_PORTS.get(scheme) == str(int(port)):
        port = ""
    host = f"{hostname}:{int(port)}" if port else hostname
    return Origin(origin=f"{scheme}://{host}", host=host, hostname=hostname)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback address (OpenClaw ``isLoopbackHost``)."""
    name = host.strip().lower()
    if name.rstrip(".") == "localhost":
        return True
    ip = _ip(name)
    return ip is not None and ip.is_loopback


def is_private_or_loopback_address(text: str) -> bool:
    ip = _ip(text)
    if ip is None:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip in _NAT64:
        ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if isinstance(ip, ipaddress.IPv4Address):
        return any(ip in net for net in _PRIVATE_V4)
    return any(ip in net for net in _PRIVATE_V6)


def host_name(host_header: str) -> str:
    """The name in a ``Host`` header, without port or brackets."""
    host = host_header.strip().lower()
    if host.startswith("[") and "]" in host:
        return host[1 : host.index("]")]
    if host.count(":") > 1:
        return host  # a bare IPv6 address
    return host.split(":", 1)[0]


def _trusted_same_origin_host(host_header: str, *, is_local_client: bool) -> bool:
    name = host_name(host_header)
    if not name:
        return False
    if is_loopback_host(name):
        return is_local_client
    if _ip(name) is not None:
        return is_private_or_loopback_address(name)
    return name.endswith((".local", ".ts.net"))


def normalize_allowed(values: Iterable[str]) -> frozenset[str]:
    """The allowlist as compared: each entry's origin form (or lower-cased as given)."""
    out = set()
    for value in values:
        text = str(value).strip().lower()
        parsed = parse_origin(text)
        if text:
            out.add(parsed.origin if parsed else text)
    return frozenset(out)


def _matching_rule(
    parsed: Origin, *, host: str, policy: OriginPolicy, is_local_client: bool
) -> str | None:
    """The name of the first rule that lets ``parsed`` in, or None."""
    same = bool(host) and parsed.host == host
    rules = (
        ("allowlist", "*" in policy.allowed or parsed.origin in policy.allowed),
        ("host-header-fallback", policy.host_header_fallback and same),
        (
            "private-same-origin",
            same and _trusted_same_origin_host(host, is_local_client=is_local_client),
        ),
        ("local-loopback", is_local_client and is_loopback_host(parsed.hostname)),
        # The page this gateway serves under a public name (behind nginx, or bound beyond
        # loopback), reached from another machine. From a local client the same match is
        # the mark of DNS rebinding (a foreign name resolving to 127.0.0.1), which only the
        # opt-in fallback accepts; loopback pages go by rules 3 and 4 only.
        ("same-host", same and not is_local_client and not is_loopback_host(host_name(host))),
    )
    return next((name for name, holds in rules if holds), None)


def check_browser_origin(
    origin: str | None, *, request_host: str, policy: OriginPolicy, is_local_client: bool
) -> OriginCheck:
    """Apply the rules (see the module docstring) to one ``Origin``."""
    parsed = parse_origin(origin)
    if parsed is None:
        return OriginCheck(ok=False, reason="origin missing or invalid")
    rule = _matching_rule(
        parsed,
        host=request_host.strip().lower(),
        policy=policy,
        is_local_client=is_local_client,
    )
    if rule is None:
        return OriginCheck(ok=False, reason="origin not allowed")
    return OriginCheck(ok=True, matched_by=rule)


def validate_allowed_origins(values: list[str]) -> list[str]:
    """Return the entries in origin form; raise ValueError naming a bad one."""
    out: list[str] = []
    for value in values:
        text = value.strip()
        if text == "*":
            out.append(text)
            continue
        parsed = parse_origin(text)
        if parsed is None:
            raise ValueError(
                f"{value!r} is not a browser origin; use scheme://host[:port] with no path, "
                'e.g. "http://192.168.1.20:5173" or "https://gateway.example.com" '
                '(or "*" for any origin)'
            )
        out.append(parsed.origin)
    return out


# --- the configured policy (cached) ---------------------------------------------------------
_KEY = "policy"
_policy: TTLCache[str, OriginPolicy] = TTLCache(
    "gateway.browser_origins", ttl_s=TTL_S, max_entries=1
)
# The stored part last loaded, expired or not: what cached_policy() falls back to when
# the entry expires between policy_ready() and the check (as gateway.proxies does).
_last_loaded: list[OriginPolicy | None] = [None]
_env_memo: list[tuple[tuple[str, ...], frozenset[str]]] = [((), frozenset())]


def merged(stored: Any) -> list[str]:
    """The environment's allowed origins, then ``stored`` (the config path's value)."""
    from_env = list(settings.GATEWAY_ALLOWED_ORIGINS)
    extra = stored if isinstance(stored, list) else []
    return [*from_env, *(v for v in extra if isinstance(v, str) and v not in from_env)]


def configured() -> list[str]:
    """The allowed origins as configured: the environment's, then those set by config path
    (``config.get`` shows this list)."""
    return merged(config_entry_value(ALLOWED_ORIGINS_PATH))


def host_header_fallback() -> bool:
    return config_entry_value(HOST_FALLBACK_PATH) is True


def _load() -> OriginPolicy:
    """The part set by config path (the environment's is read live, see ``_combined``)."""
    stored = config_entry_value(ALLOWED_ORIGINS_PATH)
    loaded = OriginPolicy(
        allowed=normalize_allowed(v for v in stored or [] if isinstance(v, str)),
        host_header_fallback=host_header_fallback(),
    )
    _last_loaded[0] = loaded
    return loaded


def _combined(stored: OriginPolicy | None) -> OriginPolicy:
    env = tuple(settings.GATEWAY_ALLOWED_ORIGINS)
    if _env_memo[0][0] != env:
        _env_memo[0] = (env, normalize_allowed(env))
    if stored is None:
        return OriginPolicy(allowed=_env_memo[0][1])
    return OriginPolicy(
        allowed=_env_memo[0][1] | stored.allowed,
        host_header_fallback=stored.host_header_fallback,
    )


def policy() -> OriginPolicy:
    """The browser origin policy (cached for a few seconds; may query the database)."""
    return _combined(_policy.get_or_load(_KEY, _load))


async def policy_ready(origin: str | None) -> None:
    """Load the policy when its cache expired: one small query per few seconds, and only
    for connections that carry an ``Origin`` (``origin`` None: nothing to check).

    While the database is down, the policy loaded last stands in (``cached_policy``; the
    environment's alone if none was loaded): a connect that needs the database is then
    refused by its own call, saying that the database is down."""
    if origin is not None and not _policy.lookup(_KEY)[0]:
        try:
            await database_sync_to_async(policy)()
        except dbdown.DATABASE_DOWN as exc:
            dbdown.log_database_down(logging.getLogger(__name__), "the origin policy", exc)


def cached_policy() -> OriginPolicy:
    """The policy loaded last, without a query (after ``policy_ready``); the environment's
    allowlist alone when nothing was loaded."""
    return _combined(_policy.get(_KEY) or _last_loaded[0])


def forget() -> None:
    """Drop the cache (after a config change in this process, and in tests)."""
    _policy.clear()
    _last_loaded[0] = None
