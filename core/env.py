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
