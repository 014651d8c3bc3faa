"""Serve OpenClaw's built Control UI the way OpenClaw's gateway does (no Django imports).

Mirrors ``src/gateway/control-ui.ts`` for an empty base path: a path under ``/assets/``
(also a deep link such as ``/settings/assets/x.js``) is that asset; the root public files
(favicons, manifest, service worker) also answer under ``/__openclaw__/``; a missing file
with a static-asset extension is a 404; any other path a browser navigates to gets
``index.html`` (client-side routes), with its ``./assets/`` links made absolute so deep
links load. Precompressed ``.br``/``.gz`` siblings are served when the client accepts
them, never asked for directly.

Safety: a path with ``..``, a dot segment, a backslash or a NUL is refused before the
file system is touched, and the resolved file (symlinks followed) must lie inside the
root's real path and be a regular file.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "application/javascript; charset=utf-8",
    ".mjs": "application/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".map": "application/json; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".wasm": "application/wasm",
    ".webmanifest": "application/manifest+json; charset=utf-8",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
}
COMPRESSIBLE = frozenset({".css", ".html", ".js", ".mjs", ".json", ".svg", ".txt", ".webmanifest"})
PRECOMPRESSED = frozenset({".br", ".gz"})
ROOT_PUBLIC_ASSETS = frozenset(
    {
        "apple-touch-icon.png",
        "favicon-32.png",
        "favicon.ico",
        "favicon.svg",
        "manifest.webmanifest",
        "sw.js",
    }
)
NAMESPACE_PREFIX = "__openclaw__/"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.I)


@dataclass(frozen=True)
class Asset:
    """A file to send: its bytes come from ``path``; ``encoding`` is br/gzip or ""."""

    path: Path
    content_type: str
    cache_control: str
    encoding: str = ""


@dataclass(frozen=True)
class IndexPage:
    """``index.html`` rewritten for the root mount, and the CSP hashes of its inline scripts."""

    body: bytes
    script_hashes: tuple[str, ...]


def safe_relative(rel: str) -> bool:
    """Whether ``rel`` is a plain relative path: no ``..``, dot segments, ``\\`` or NUL."""
    if not rel or "\x00" in rel or "\\" in rel or rel.startswith("/"):
        return False
    return all(part and not part.startswith(".") for part in rel.split("/"))


def safe_file(root: Path, rel: str) -> Path | None:
    """The regular file ``rel`` names inside ``root`` (its real path), or None."""
    if not safe_relative(rel):
        return None
    try:
        real = (root / rel).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not real.is_relative_to(root) or not real.is_file():
        return None
    return real


def relative_path(url_path: str) -> str:
    """The file a request path names, as OpenClaw maps it ("" means the index)."""
    path = url_path.lstrip("/")
    if path.startswith(NAMESPACE_PREFIX) and path[len(NAMESPACE_PREFIX) :] in ROOT_PUBLIC_ASSETS:
        return path[len(NAMESPACE_PREFIX) :]
    index = f"/{path}".find("/assets/")
    if index >= 0:
        return path[index:]
    return path


def _encoding(accept_encoding: str) -> list[tuple[str, str]]:
    """(Content-Encoding, file suffix) pairs the client accepts, best first."""
    accepted = set()
    for part in accept_encoding.split(","):
        name, _, params = part.partition(";")
        if params.replace(" ", "").lower() in ("q=0", "q=0.0", "q=0.00", "q=0.000"):
            continue
        accepted.add(name.strip().lower())
    return [(name, suffix) for name, suffix in (("br", ".br"), ("gzip", ".gz")) if name in accepted]


def _asset(root: Path, rel: str, found: Path, accept_encoding: str) -> Asset:
    suffix = PurePosixPath(rel).suffix.lower()
    cache = IMMUTABLE if rel.startswith("assets/") else REVALIDATE
    content_type = CONTENT_TYPES.get(suffix, "application/octet-stream")
    if suffix in COMPRESSIBLE:
        for encoding, ext in _encoding(accept_encoding):
            compressed = safe_file(root, rel + ext)
            if compressed is not None:
                return Asset(compressed, content_type, cache, encoding)
    return Asset(found, content_type, cache)


def resolve(
    root: Path, url_path: str, *, wants_html: bool, accept_encoding: str = ""
) -> Asset | IndexPage | None:
    """What to answer for ``url_path``: an asset, the index page, or None (404).

    ``root`` must be a real path (``settings.CONTROL_UI_DIR`` is resolved at start-up).
    """
    rel = relative_path(url_path)
    if rel == "" or rel.endswith("/"):
        return index_page(root)
    suffix = PurePosixPath(rel).suffix.lower()
    if not safe_relative(rel) or suffix in PRECOMPRESSED:
        return None
    found = safe_file(root, rel)
    if found is not None and found.name != "index.html":
        return _asset(root, rel, found, accept_encoding)
    # A missing asset is a 404; any other path a browser navigates to is a client route.
    missing_asset = found is None and suffix in CONTENT_TYPES and suffix != ".html"
    if missing_asset or not (wants_html or found is not None):
        return None
    return index_page(root)


_index_cache: dict[Path, tuple[float, IndexPage]] = {}


def index_page(root: Path) -> IndexPage | None:
    """``index.html`` with absolute asset links (cached until the file changes)."""
    path = safe_file(root, "index.html")
    if path is None:
        return None
    mtime = path.stat().st_mtime
    cached = _index_cache.get(root)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    html = path.read_text(encoding="utf-8")
    for attr in ("src", "href"):
        html = html.replace(f'{attr}="./assets/', f'{attr}="/assets/')
        for asset in ROOT_PUBLIC_ASSETS:
            html = html.replace(f'{attr}="./{asset}"', f'{attr}="/{asset}"')
    hashes = tuple(
        "sha256-" + base64.b64encode(hashlib.sha256(m.group(1).encode()).digest()).decode()
        for m in _INLINE_SCRIPT.finditer(html)
    )
    page = IndexPage(html.encode(), hashes)
    _index_cache[root] = (mtime, page)
    return page


def csp(script_hashes: tuple[str, ...]) -> str:
    """The Content-Security-Policy OpenClaw sends with the Control UI's document."""
    scripts = " ".join(["'self'", *(f"'{h}'" for h in script_hashes)])
    return "; ".join(
        [
            "default-src 'self'",
            "base-uri 'none'",
            "object-src 'none'",
            "frame-ancestors 'none'",
            "frame-src 'self' http: https:",
            f"script-src {scripts}",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob: https:",
            "media-src 'self' data: blob:",
            "font-src 'self'",
            "worker-src 'self'",
            "connect-src 'self' ws: wss: data:",
        ]
    )
