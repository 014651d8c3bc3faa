"""The web_fetch tool (group:web): fetch a public http(s) page as readable text.

The model chooses the URL, and a page it read may have chosen it, so the fetch is guarded
against server-side request forgery: only http and https, no credentials in the URL, and
every address the host resolves to must be public (not loopback, private, link-local such
as the 169.254.169.254 metadata service, CGNAT, multicast, reserved or unspecified,
IPv4-mapped and NAT64/6to4 forms included) unless the operator listed the host in
``settings.WEB_FETCH_ALLOWED_HOSTS``. The connection then goes to the checked address
itself (the Host header and TLS server name still carry the host name), so a DNS answer
that changes between check and connect (DNS rebinding) cannot redirect it. Redirects are
followed by hand, each hop checked again.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import time
from dataclasses import dataclass
from html.parser import HTMLParser

import httpx
from django.conf import settings
from pydantic import Field

from agents.tools.base import MAX_RESULT_CHARS, Tool, ToolArgs, ToolContext, ToolError, ToolOutput
from agents.tools.base import register as register_tool

TOTAL_TIMEOUT_S = 20.0
MAX_BYTES = 2_000_000
MAX_REDIRECTS = 5
DEFAULT_MAX_CHARS = 50_000
USER_AGENT = "openclaw-django/0.1 (web_fetch; +https://github.com/openclaw/openclaw)"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")
_TEXT_SUFFIXES = ("+json", "+xml")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SIXTOFOUR = ipaddress.ip_network("2002::/16")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class WebFetchArgs(ToolArgs):
    url: str = Field(description="The http:// or https:// URL to fetch.")
    max_chars: int = Field(
        default=DEFAULT_MAX_CHARS,
        ge=100,
        le=DEFAULT_MAX_CHARS,
        description=f"Most characters of page text to return (default {DEFAULT_MAX_CHARS}).",
    )


# --- the SSRF guard --------------------------------------------------------------------
def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, NAT64, 6to4), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _SIXTOFOUR:
        return ip.sixtofour
    return None


def is_public(ip: IPAddress) -> bool:
    """Return True only for a globally routable unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None and not is_public(inner):
            return False
        if ip.is_site_local:
            return False
    return ip.is_global and not (
        ip.is_multicast
        or ip.is_private
        or ip.is_reserved
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_unspecified
    )


def _allowed_hosts() -> frozenset[str]:
    hosts = getattr(settings, "WEB_FETCH_ALLOWED_HOSTS", []) or []
    return frozenset(str(h).strip().lower().rstrip(".") for h in hosts)


@dataclass(frozen=True)
class Target:
    """Where one request goes: the URL as given and the address checked for it."""

    url: httpx.URL
    host: str
    ip: IPAddress


def _check_url(url: httpx.URL) -> str:
    """Return the URL's host (lower case) after the scheme and credential checks."""
    if url.scheme not in ("http", "https"):
        raise ToolError(
            f"only http:// and https:// URLs can be fetched, not {url.scheme or 'a bare'}:// ones"
        )
    if url.userinfo:
        raise ToolError("URLs with a user name or password (user:pw@host) are refused; drop them")
    host = url.host.lower().rstrip(".")
    if not host:
        raise ToolError("the URL has no host name; give a full URL such as https://example.com/")
    return host


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ToolError(f"cannot resolve host {host!r} ({exc}); check the URL") from None
    addresses: list[IPAddress] = []
    for info in infos:
        # The scope id of a link-local IPv6 answer ("fe80::1%eth0") is not part of the address.
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise ToolError(f"host {host!r} has no address; check the URL")
    return addresses


def check_target(url: httpx.URL) -> Target:
    """Return where ``url`` may be fetched from, or raise ``ToolError`` saying why not."""
    host = _check_url(url)
    port = url.port or (443 if url.scheme == "https" else 80)
    addresses = _resolve(host, port)
    if host not in _allowed_hosts():
        blocked = [ip for ip in addresses if not is_public(ip)]
        if blocked:
            raise ToolError(
                f"refusing to fetch {host}: it resolves to {blocked[0]}, a private, loopback "
                "or otherwise non-public address; web_fetch only reaches public hosts (an "
                "operator can allow a host in WEB_FETCH_ALLOWED_HOSTS)"
            )
    return Target(url=url, host=host, ip=addresses[0])


def _pinned_request(client: httpx.Client, target: Target) -> httpx.Request:
    """A GET that connects to the checked address while naming the host in Host and SNI."""
    url = target.url.copy_with(host=str(target.ip))
    port = target.url.port
    headers = {"Host": f"{target.url.host}:{port}" if port else target.url.host}
    extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
    return client.build_request("GET", url, headers=headers, extensions=extensions)


# --- HTML to text ----------------------------------------------------------------------
_SKIP = frozenset({"script", "style", "noscript", "template", "svg", "iframe", "object"})
_WHITESPACE = re.compile(r"\s+")
# Marks lines inside <pre>, whose indentation text() keeps.
_PRE_MARK = "\x00"
_BLOCK = frozenset(
    {
        "p", "div", "section", "article", "header", "footer", "main", "aside", "nav", "ul",
        "ol", "table", "tr", "blockquote", "pre", "form", "figure", "figcaption", "dl", "dt",
        "dd", "hr", "address", "details", "summary",
    }
)  # fmt: skip
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}


class _TextExtractor(HTMLParser):
    """Readable text of an HTML page: blocks on their own lines, scripts and styles dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._skip_depth = 0
        self._in_title = False
        self._pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip_depth += 1
        elif tag == "title":
            self._in_title = True
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in _HEADINGS:
            self.parts.append("\n\n" + "#" * _HEADINGS[tag] + " ")
        elif tag in ("td", "th"):
            self.parts.append(" | ")
        elif tag == "pre":
            self.parts.append("\n\n" + _PRE_MARK)
            self._pre += 1
        elif tag in _BLOCK:
            self.parts.append("\n\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _SKIP:  # <br/>, <hr/>; a self-closed <script/> opens nothing
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag == "title":
            self._in_title = False
        elif tag in _BLOCK or tag in _HEADINGS:
            self.parts.append("\n\n")
            if tag == "pre":
                self._pre = max(0, self._pre - 1)

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skip_depth:
            pre = data.replace("\n", "\n" + _PRE_MARK)
            self.parts.append(pre if self._pre else _WHITESPACE.sub(" ", data))

    def text(self) -> str:
        lines = [
            line[1:].rstrip() if line.startswith(_PRE_MARK) else " ".join(line.split())
            for line in "".join(self.parts).splitlines()
        ]
        out: list[str] = []
        for line in lines:
            if line or (out and out[-1]):
                out.append(line)
        body = "\n".join(out).strip()
        title = " ".join(self.title.split())
        return f"# {title}\n\n{body}" if title else body


def html_to_text(html: str) -> str:
    """Return the readable text of ``html`` (stdlib parser; tolerant of broken markup)."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    return parser.text()


# --- fetching --------------------------------------------------------------------------
@dataclass(frozen=True)
class Fetched:
    status: int
    content_type: str
    charset: str | None
    final_url: str
    body: bytes
    truncated: bool


def _read_capped(response: httpx.Response, deadline: float, ctx: ToolContext) -> tuple[bytes, bool]:
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > MAX_BYTES:
            return bytes(body[:MAX_BYTES]), True
        if time.monotonic() > deadline:
            raise ToolError(f"the page took longer than {TOTAL_TIMEOUT_S:g} s to download")
        if ctx.is_cancelled():
            raise ToolError("the fetch was stopped because the run was cancelled")
    return bytes(body), False


def fetch(url: str, ctx: ToolContext, *, budget: float = TOTAL_TIMEOUT_S) -> Fetched:
    """GET ``url`` through the SSRF guard, following up to 5 checked redirects."""
    try:
        current = httpx.URL(url.strip())
    except httpx.InvalidURL as exc:
        raise ToolError(f"the URL is not valid ({exc}); give a full http(s) URL") from None
    deadline = time.monotonic() + budget
    timeout = httpx.Timeout(budget, connect=min(budget, 10.0))
    # trust_env=False: a proxy from the environment would connect on our behalf and
    # defeat the address pinning.
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            target = check_target(current)
            request = _pinned_request(client, target)
            request.headers["User-Agent"] = USER_AGENT
            request.headers["Accept"] = "text/html, text/plain, application/json;q=0.9, */*;q=0.5"
            try:
                response = client.send(request, stream=True)
                try:
                    location = response.headers.get("location")
                    if response.status_code in _REDIRECTS and location:
                        current = current.join(location)
                        continue
                    body, truncated = _read_capped(response, deadline, ctx)
                finally:
                    response.close()
            except httpx.TimeoutException:
                raise ToolError(f"{target.host} did not answer within {budget:g} s") from None
            except httpx.HTTPError as exc:
                raise ToolError(f"could not fetch {current}: {exc}") from None
            return Fetched(
                status=response.status_code,
                content_type=response.headers.get("content-type", "").split(";")[0].strip().lower(),
                charset=response.charset_encoding,
                final_url=str(current),
                body=body,
                truncated=truncated,
            )
    raise ToolError(f"more than {MAX_REDIRECTS} redirects; stopped at {current}")


def _decode(fetched: Fetched) -> str:
    try:
        return fetched.body.decode(fetched.charset or "utf-8", "replace")
    except LookupError:  # an unknown charset name
        return fetched.body.decode("utf-8", "replace")


def _as_text(fetched: Fetched) -> str:
    kind = fetched.content_type
    if kind in _HTML_TYPES or (not kind and fetched.body.lstrip()[:1] == b"<"):
        return html_to_text(_decode(fetched))
    if not kind or kind.startswith(_TEXT_TYPES) or kind.endswith(_TEXT_SUFFIXES):
        text = _decode(fetched)
        if kind.endswith("json") and not fetched.truncated:
            try:  # re-indent compact JSON so it reads line by line
                return json.dumps(json.loads(text), indent=1, ensure_ascii=False)
            except ValueError:
                return text
        return text
    raise ToolError(
        f"{fetched.final_url} returned {kind}, which web_fetch cannot show as text "
        "(it handles HTML, JSON and plain text)"
    )


def web_fetch_run(ctx: ToolContext, args: WebFetchArgs) -> ToolOutput:
    budget = ctx.seconds_left(TOTAL_TIMEOUT_S)
    if budget < 1:
        raise ToolError("the run has no time left to fetch a page; finish your reply")
    fetched = fetch(args.url, ctx, budget=budget)
    text = _as_text(fetched)
    limit = min(args.max_chars, MAX_RESULT_CHARS - 1_000)
    cut = len(text) > limit
    notes = []
    if cut:
        notes.append(f"[text cut at {limit} characters of {len(text)}]")
    if fetched.truncated:
        notes.append(f"[download stopped at {MAX_BYTES // 1_000_000} MB]")
    header = f"URL: {fetched.final_url}\nStatus: {fetched.status}\n\n"
    content = header + text[:limit] + ("\n\n" + " ".join(notes) if notes else "")
    meta = {
        "status": fetched.status,
        "contentType": fetched.content_type,
        "finalUrl": fetched.final_url,
        "bytes": len(fetched.body),
        "truncated": fetched.truncated or cut,
    }
    return ToolOutput(content, is_error=fetched.status >= 400, meta=meta, untrusted=True)


register_tool(
    Tool(
        name="web_fetch",
        description=(
            "Fetch a public web page (http/https) and return its readable text; HTML is "
            "converted to text, JSON and plain text pass through. Private and local "
            "addresses are refused."
        ),
        group="web",
        args_model=WebFetchArgs,
        run=web_fetch_run,
        side_effects=False,
    )
)
