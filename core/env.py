"""Strict readers for environment settings.

django-environ's ``env.bool`` returns False for ``DJANGO_DEBUG=ture``; a typo in a
security switch must stop start-up instead, so every boolean, integer and choice read
here fails loudly with the variable's name and what it accepts (healthchecks' envbool).
Values may also come from ``<NAME>_FILE`` (Docker/Kubernetes secrets).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import secrets
import zoneinfo
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

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
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: {value!r} is not an IP address or network; use e.g. 10.0.0.5 "
                "or 10.0.0.0/24, comma-separated"
            ) from None
    return list(values)


# --- checks of the settings module (openclaw_site.settings) -----------------------------
REDIS_SCHEMES = frozenset({"redis", "rediss", "unix"})
SECRET_KEY_MIN_LENGTH = 32


def check_directory(name: str, path: Path) -> Path:
    """Return ``path`` unless something that is not a folder is there."""
    if path.exists() and not path.is_dir():
        raise ImproperlyConfigured(f"{name}={path} is not a directory; set {name} to a folder")
    return path


def check_control_ui_dir(name: str, value: str) -> Path | None:
    """Return the built Control UI folder ``value`` names (blank: None); else an error.

    It must be a folder holding ``index.html``: the ``dist/control-ui`` folder of the
    ``openclaw`` npm package.
    """
    if not value:
        return None
    path = Path(value).expanduser()
    hint = "point it at the dist/control-ui folder of the openclaw npm package"
    if not path.exists():
        raise ImproperlyConfigured(f"{name}={value} does not exist; {hint}")
    if not path.is_dir():
        raise ImproperlyConfigured(f"{name}={value} is not a directory; {hint}")
    if not (path / "index.html").is_file():
        raise ImproperlyConfigured(f"{name}={value} has no index.html; {hint}")
    return path.resolve()


def check_redis_url(name: str, value: str) -> str:
    """Return ``value`` if it is blank or a Redis URL."""
    scheme = urlsplit(value).scheme
    if value and scheme not in REDIS_SCHEMES:
        raise ImproperlyConfigured(
            f"{name} has scheme {scheme or '(none)'!r}; "
            "use redis://host:6379/0 (or rediss:// for TLS)"
        )
    return value


def secret_key(
    name: str, value: str, *, key_file: Path, team_mode: bool, debug: bool
) -> tuple[str, bool]:
    """Return (the secret key, whether it was generated now).

    ``value`` is the variable's; blank means the key file in the data dir, or a new key
    when there is none yet (``core.datadir.bootstrap_data_dir()`` persists it, mode 600,
    once start-up checks pass, so the key in memory now is the key on disk afterwards).
    Team mode needs the variable: every host must share one key.
    """
    if value:
        if len(value) < SECRET_KEY_MIN_LENGTH and not debug:
            raise ImproperlyConfigured(
                f"{name} is shorter than {SECRET_KEY_MIN_LENGTH} characters; "
                "use a long random value"
            )
        return value, False
    if team_mode:
        raise ImproperlyConfigured(
            f"{name} is not set; team mode needs the same secret key on every "
            "host: generate one with `python -c 'import secrets; print(secrets.token_urlsafe(50))'`"
        )
    try:
        stored = key_file.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return secrets.token_urlsafe(50), True
    except OSError as exc:
        raise ImproperlyConfigured(
            f"the secret key file {key_file} cannot be read ({exc.strerror}); "
            f"fix its permissions or set {name}"
        ) from exc
    if len(stored) < SECRET_KEY_MIN_LENGTH:
        raise ImproperlyConfigured(
            f"the secret key in {key_file} is shorter than {SECRET_KEY_MIN_LENGTH} characters; "
            "delete the file to have a new one generated"
        )
    return stored, False


def encryption_keys(name: str, *, team_mode: bool) -> list[str]:
    """Return the Fernet keys of ``name`` (comma-separated); team mode needs one at least."""
    keys = check_fernet_keys(name, env_list(name, []))
    if team_mode and not keys:
        raise ImproperlyConfigured(
            f"{name} is not set; team mode needs one Fernet key shared by every "
            "host: generate one with `python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`"
        )
    return keys


def check_token_length(name: str, value: str, *, minimum: int) -> str:
    """Return ``value`` if it is blank or at least ``minimum`` characters long."""
    if value and len(value) < minimum:
        raise ImproperlyConfigured(
            f"{name} is shorter than {minimum} characters; use a long random value "
            "(`openssl rand -hex 24`)"
        )
    return value


def check_password_mode(name: str, mode: str, *, needs: str, value: str) -> str:
    """Return the auth ``mode``; "password" needs the variable ``needs`` (``value``) set."""
    if mode == "password" and not value:
        raise ImproperlyConfigured(f"{name}=password needs {needs} to be set")
    return mode


def check_model_timeout(name: str, timeout_s: int, *, lease_name: str, lease_s: int) -> int:
    """Return ``timeout_s`` if a model call that long still fits in a work lease."""
    if timeout_s >= lease_s:
        raise ImproperlyConfigured(
            f"{name} ({timeout_s}) must be shorter than {lease_name} ({lease_s}): a model "
            "call silent for longer than the lease would let the sweeper hand its run to "
            "another worker"
        )
    return timeout_s
