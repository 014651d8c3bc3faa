"""The data dir of embedded mode: checked before start-up, created after the checks pass."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from core.crypto import write_private_file
from core.env import check_fernet_keys


class DataDirError(Exception):
    """The data dir cannot be used; the message says why and what to do."""


def check_data_dir() -> None:
    """Raise DataDirError if the data dir (or the folder that would hold it) is unusable.

    Writes nothing: a failed start must leave the data dir as it was.
    """
    data_dir = Path(settings.DATA_DIR)
    if data_dir.exists():
        if not data_dir.is_dir():
            raise DataDirError(f"{data_dir} is not a directory; set OPENCLAW_DATA_DIR to a folder")
        if not os.access(data_dir, os.R_OK | os.W_OK | os.X_OK):
            raise DataDirError(
                f"the data dir {data_dir} is not readable and writable by this user; "
                "fix its permissions (chmod 700) or set OPENCLAW_DATA_DIR"
            )
        for name in ("secret_key", "encryption.key", "gateway.sqlite3"):
            path = data_dir / name
            if path.exists() and not os.access(path, os.R_OK):
                raise DataDirError(f"{path} is not readable by this user; fix its permissions")
        _check_key_file(Path(settings.ENCRYPTION_KEY_FILE))
        return
    parent = data_dir.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DataDirError(
            f"cannot create the data dir {data_dir}: {parent} is not writable; "
            "set OPENCLAW_DATA_DIR to a writable folder"
        )


def _check_key_file(path: Path) -> None:
    """A broken key file would fail only when the first secret is read: fail at start."""
    if settings.ENCRYPTION_KEYS or not path.exists():
        return
    keys = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    try:
        check_fernet_keys(str(path), keys or [""])
    except ImproperlyConfigured as exc:
        raise DataDirError(
            f"{exc}; restore the key file from a backup (stored secrets need the old key)"
        ) from None


def bootstrap_data_dir() -> bool:
    """Create the data dir (mode 700) and persist the secret key; return True if new.

    In team mode nothing is written: every secret comes from the environment.
    """
    if settings.TEAM_MODE:
        return False
    check_data_dir()
    data_dir = Path(settings.DATA_DIR)
    created = not data_dir.exists()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if settings.SECRET_KEY_GENERATED and not Path(settings.SECRET_KEY_FILE).exists():
        # If another process wins the race, its key is the one read on the next start.
        with contextlib.suppress(FileExistsError):
            write_private_file(Path(settings.SECRET_KEY_FILE), settings.SECRET_KEY + "\n")
    return created
