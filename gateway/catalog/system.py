"""``system.info`` for the Control UI's about panel, and the process figures ``status``
shares with it. No database."""

from __future__ import annotations

import os
import platform
import shutil
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings

from gateway import state
from gateway.catalog.wire import INSTANCE_ID


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def process_memory() -> dict[str, Any]:
    return {"rssBytes": _rss_bytes()}


def event_loop() -> dict[str, Any]:
    # The loop's lag is not measured here; this is OpenClaw's form for a healthy loop.
    return {"degraded": False, "degradedSinceMs": None, "reasons": []}


@cache
def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith(("model name", "hardware")):
                    return line.split(":", 1)[1].strip() or None
    except OSError:
        pass
    return platform.processor() or None


def _memory_bytes(pages: str) -> int | None:
    try:
        return os.sysconf(pages) * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _disk(path: Path) -> dict[str, Any]:
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("/"))
    try:
        usage = shutil.disk_usage(existing)
    except OSError:
        return {"path": str(existing), "totalBytes": None, "availableBytes": None}
    return {"path": str(existing), "totalBytes": usage.total, "availableBytes": usage.free}


def system_info(*, include_host: bool) -> dict[str, Any]:
    """Return ``system.info`` for the Control UI's about panel (no database).

    Host name, OS release, pid and the data dir path only with ``include_host`` (admin).
    ``nodeVersion`` is null: this gateway is not a Node process.
    """
    load = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else []
    disk = _disk(Path(settings.DATA_DIR))
    info: dict[str, Any] = {
        "platform": platform.system().lower(),
        "arch": platform.machine(),
        "port": settings.GATEWAY_PORT,
        "nodeVersion": None,
        "uptimeMs": state.uptime_ms(),
        "cpuCount": os.cpu_count(),
        "cpuModel": _cpu_model(),
        "loadAverage": load,
        "memoryTotalBytes": _memory_bytes("SC_PHYS_PAGES"),
        "memoryFreeBytes": _memory_bytes("SC_AVPHYS_PAGES"),
        "eventLoop": event_loop(),
        "processMemory": process_memory(),
        "disks": [disk] if include_host else [],
        "diskTotalBytes": disk["totalBytes"],
        "diskAvailableBytes": disk["availableBytes"],
        "defaultAgentUtilityModel": {"status": "unavailable"},
    }
    if include_host:
        info.update(
            {
                "machineName": platform.node(),
                "hostname": platform.node(),
                "release": platform.release(),
                "osLabel": f"{platform.system()} {platform.release()}",
                "pid": os.getpid(),
                "processInstanceId": INSTANCE_ID,
                "diskPath": disk["path"],
            }
        )
    return info
