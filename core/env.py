"""Strict readers for environment settings.

django-environ's ``env.bool`` returns False for ``DJANGO_DEBUG=ture``; a typo in a
security switch must stop start-up instead, so every boolean, integer and choice read
here fails loudly with the variable's name and what it accepts (healthchecks' envbool).
Values may also come from ``<NAME>_FILE`` (Docker/Kubernetes secrets).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

TRUE_SPELLINGS = frozenset({"1", "true", "yes", "on", "t", "y"})
FALSE_SPELLINGS = frozenset({"0", "false", "no", "off", "f", "n"})


def env_str(name: str, default: str = "", *, environ: Mapping[str, str] | None = None) -> str:
    """Return the variable, or the contents of the file named by ``<name>_FILE``."""
    source = os.environ if environ is None else environ
    if name in source:
        return source[name]
    file_name = source.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"{name}_FILE={file_name} cannot be read ({exc.strerror}); "
                f"point it at a readable file or set {name} directly"
            ) from exc
    return default


def env_bool(name: str, default: bool, *, environ: Mapping[str, str] | None = None) -> bool:
    """Return a boolean; anything but a known true/false spelling is an error."""
    raw = env_str(name, "", environ=environ).strip()
    if raw == "":
        return default
    lowered = raw.lower()
    if lowered in TRUE_SPELLINGS:
        return True
    if lowered in FALSE_SPELLINGS:
        return False
    raise ImproperlyConfigured(
        f"{name}={raw!r} is not a boolean; use one of true/false, yes/no, on/off, 1/0"
    )


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Return an integer within bounds; a non-number or out-of-range value is an error."""
    raw = env_str(name, "", environ=environ).strip()
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is too small; the minimum is {minimum}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name}={value} is too large; the maximum is {maximum}")
    return value


def env_choice(
    name: str,
    default: str,
    choices: Sequence[str],
    *,
    environ: Mapping[str, str] | None = None,
) -> str:
    """Return one of ``choices`` (case-insensitive); anything else is an error."""
    raw = env_str(name, "", environ=environ).strip().lower()
    if raw == "":
        return default
    if raw not in choices:
        raise ImproperlyConfigured(f"{name}={raw!r} is not valid; use one of {', '.join(choices)}")
    return raw


def env_list(
    name: str, default: Sequence[str], *, environ: Mapping[str, str] | None = None
) -> list[str]:
    """Return a comma-separated list with blanks dropped."""
    raw = env_str(name, "", environ=environ)
    if raw.strip() == "":
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def check_time_zone(name: str, value: str) -> str:
    """Return ``value`` if it is an IANA time zone (blank passes); else an error."""
    if not value:
        return value
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a time zone; use an IANA name such as UTC or "
            "Europe/Berlin (see /usr/share/zoneinfo)"
        ) from None
    return value


def check_url(name: str, value: str, *, schemes: Sequence[str] = ("http", "https")) -> str:
    """Return ``value`` if it is an absolute URL with one of ``schemes`` (blank passes)."""
    if not value:
        return value
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={value!r} is not a valid URL ({exc})") from None
    if parts.scheme.lower() not in schemes or not parts.hostname:
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a valid URL; use {schemes[0]}://host:port/path"
        )
    return value


def check_fernet_keys(name: str, keys: Sequence[str]) -> list[str]:
    """Return ``keys`` if each is a Fernet key (32 url-safe base64 bytes); else an error.

    The same check as ``cryptography.fernet.Fernet(key)``, without importing it here.
    """
    import base64
    import binascii

    for index, key in enumerate(keys, start=1):
        try:
            raw = base64.urlsafe_b64decode(key.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raw = b""
        if len(raw) != 32:
            raise ImproperlyConfigured(
                f"{name}: key {index} is not a valid Fernet key (32 url-safe base64 bytes); "
                "generate one with `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`"
            )
    return list(keys)


def check_networks(name: str, values: Sequence[str]) -> list[str]:
    """Return ``values`` if each is an IP address or network (CIDR); else an error."""
    import ipaddress

    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: {value!r} is not an IP address or network; use e.g. 10.0.0.5 "
                "or 10.0.0.0/24, comma-separated"
            ) from None
    return list(values)
