#!/usr/bin/env python3
"""Check that every pinned dependency installs on ARM64 (Raspberry Pi OS) from wheels.

The project's rule: "no dependency without a pure-Python or aarch64 wheel", so that a
Pi with 1 GB never compiles anything. This resolves the pins of ``pyproject.toml``
(and their dependencies) for Linux aarch64 with ``pip download --only-binary=:all:``
against PyPI, and reports each package with no usable wheel, or the wheel each one
gets. Standard library only: run it with any Python 3.11+, no .venv needed.

    scripts/check_arm64.py                      # the runtime pins, CPython 3.11, glibc 2.17
    scripts/check_arm64.py --glibc 2.36         # also wheels for newer glibc (Pi OS 12: 2.36)
    scripts/check_arm64.py --extras dev         # the dev tools too
    scripts/check_arm64.py --json               # one JSON object
    scripts/check_arm64.py --record scripts/arm64-wheels.json   # what tests/test_arm64_record.py reads

Exit 0 when every package has a wheel, 1 when one does not, 2 when pip cannot run or
PyPI cannot be reached. The machine's own pip configuration (local indexes, constraints)
is ignored (``--isolated``): the answer is about PyPI.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPI = "https://pypi.org/simple"
# pip's words when nothing fits (the requirement follows them).
_NO_MATCH = re.compile(r"No matching distribution found for ([^\s]+)")
_NO_VERSION = re.compile(r"Could not find a version that satisfies the requirement ([^\s]+)")
_NETWORK = ("Failed to establish a new connection", "Max retries exceeded", "NewConnectionError")


def pinned_requirements(pyproject: Path, extras: Sequence[str] = ()) -> list[str]:
    """The requirement strings of ``[project].dependencies`` (and the named extras)."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    requirements = list(project.get("dependencies", []))
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        if extra not in optional:
            raise SystemExit(
                f"error: pyproject.toml has no extra {extra!r}; it has {sorted(optional)}"
            )
        requirements.extend(optional[extra])
    return requirements


def platforms(glibc: str) -> list[str]:
    """The manylinux tags pip may pick for aarch64, up to glibc ``major.minor``.

    2.17 gives the two tags the project's rule names (manylinux2014 = manylinux_2_17);
    a higher value adds the newer manylinux_2_x tags a system with that glibc accepts.
    """
    major, minor = (int(part) for part in glibc.split("."))
    if (major, minor) < (2, 17):
        raise SystemExit("error: --glibc must be 2.17 or newer")
    tags = ["manylinux2014_aarch64"]
    tags.extend(f"manylinux_{major}_{m}_aarch64" for m in range(minor, 16, -1))
    return tags


def wheel_info(filename: str) -> dict[str, str]:
    """``name-version(-build)?-python-abi-platform.whl`` → name, version, tag."""
    parts = filename[: -len(".whl")].split("-")
    name, version = parts[0], parts[1]
    tag = "-".join(parts[-3:])
    platform_tag = parts[-1]
    kind = (
        "pure" if platform_tag == "any" else ("aarch64" if "aarch64" in platform_tag else "other")
    )
    return {
        "name": re.sub(r"[-_.]+", "-", name).lower(),
        "version": version,
        "wheel": tag,
        "kind": kind,
    }


def pip_download(
    requirements: Sequence[str], *, dest: Path, python_version: str, glibc: str, index_url: str
) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--isolated",
        "--disable-pip-version-check",
        "--no-input",
        "--index-url",
        index_url,
        "--only-binary=:all:",
        *(arg for tag in platforms(glibc) for arg in ("--platform", tag)),
        "--python-version",
        python_version,
        "--implementation",
        "cp",
        "-d",
        str(dest),
        *requirements,
    ]
    return subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603  (our argv)


def failures_of(stderr: str) -> list[str]:
    found = _NO_MATCH.findall(stderr) + _NO_VERSION.findall(stderr)
    # "psycopg-binary==3.3.9; implementation_name != 'pypy'": the marker is not the name.
    return list(dict.fromkeys(item.split(";")[0] for item in found))


def check(
    requirements: Sequence[str], *, python_version: str, glibc: str, index_url: str
) -> dict[str, object]:
    """Resolve ``requirements`` for aarch64; return the report (see ``main``)."""
    with tempfile.TemporaryDirectory(prefix="arm64-") as tmp:
        dest = Path(tmp)
        result = pip_download(
            requirements, dest=dest, python_version=python_version, glibc=glibc, index_url=index_url
        )
        missing: dict[str, list[str]] = {}
        if result.returncode != 0:
            if any(marker in result.stderr for marker in _NETWORK):
                raise ConnectionError(result.stderr.strip().splitlines()[-1])
            # pip stops at the first package it cannot place: try each pin on its own
            # (with its dependencies) to name every one, and which pin pulls it in.
            for requirement in requirements:
                one = pip_download(
                    [requirement],
                    dest=dest,
                    python_version=python_version,
                    glibc=glibc,
                    index_url=index_url,
                )
                if one.returncode != 0:
                    for failed in failures_of(one.stderr) or [f"{requirement} (pip: see below)"]:
                        missing.setdefault(failed, []).append(requirement)
                    if not failures_of(one.stderr):
                        sys.stderr.write(one.stderr)
        wheels = sorted(
            (wheel_info(path.name) for path in dest.glob("*.whl")), key=lambda w: w["name"]
        )
        sdists = sorted(path.name for path in dest.iterdir() if not path.name.endswith(".whl"))
    return {
        "checked": datetime.now(UTC).strftime("%Y-%m-%d"),
        "python": python_version,
        "implementation": "cp",
        "platforms": platforms(glibc),
        "requirements": list(requirements),
        "ok": not missing and not sdists,
        "missing": [{"requirement": k, "pulledInBy": v} for k, v in missing.items()],
        "notWheels": sdists,
        "packages": wheels,
    }


def render(report: dict[str, object]) -> str:
    packages = report["packages"]
    assert isinstance(packages, list)
    tags = [str(p) for p in report["platforms"]]  # type: ignore[attr-defined]
    span = tags[0] if len(tags) <= 2 else f"{tags[0]} … {tags[1]}"
    lines = [
        f"aarch64 wheels for CPython {report['python']} ({span}; checked {report['checked']}):"
    ]
    width = max((len(f"{p['name']}=={p['version']}") for p in packages), default=10)
    for package in packages:
        pin = f"{package['name']}=={package['version']}"
        lines.append(f"  {pin:<{width}}  {package['kind']:<8} {package['wheel']}")
    missing = report["missing"]
    assert isinstance(missing, list)
    lines.extend(
        f"  NO WHEEL: {item['requirement']} (needed by {', '.join(item['pulledInBy'])})"
        for item in missing
    )
    not_wheels = report["notWheels"]
    assert isinstance(not_wheels, list)
    lines.extend(f"  NOT A WHEEL: {name}" for name in not_wheels)
    pure = sum(1 for p in packages if p["kind"] == "pure")
    arm = sum(1 for p in packages if p["kind"] == "aarch64")
    verdict = (
        "OK: every package has a pure-Python or aarch64 wheel"
        if report["ok"]
        else f"FAILED: {len(missing)} package(s) without a usable wheel"
    )
    lines.append(f"{len(packages)} wheels ({pure} pure Python, {arm} aarch64). {verdict}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python-version", default="3.11", help="target CPython (default 3.11)")
    parser.add_argument(
        "--glibc",
        default="2.17",
        help="newest glibc of the target (default 2.17: manylinux2014 only; Pi OS 12 has 2.36)",
    )
    parser.add_argument("--extras", action="append", default=[], help="also an extra, e.g. dev")
    parser.add_argument("--index-url", default=PYPI)
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--record", type=Path, help="also write the report (JSON) to this file")
    args = parser.parse_args(argv)
    requirements = pinned_requirements(args.pyproject, args.extras)
    try:
        report = check(
            requirements,
            python_version=args.python_version,
            glibc=args.glibc,
            index_url=args.index_url,
        )
    except ConnectionError as exc:
        sys.stderr.write(f"error: cannot reach {args.index_url}: {exc}\n")
        return 2
    if args.record:
        args.record.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    sys.stdout.write((json.dumps(report, indent=2) if args.json else render(report)) + "\n")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
