"""Every pinned dependency has a pure-Python or aarch64 wheel, on record for these pins.

``scripts/check_arm64.py`` asks PyPI; this test asks nothing. It compares the pins of
``pyproject.toml`` with the check's last recorded run (``scripts/arm64-wheels.json``),
so a pin added or bumped without running the check again fails here, with the command
to run. A list of "packages known to lack aarch64 wheels" would only catch the few
names someone wrote down; the record covers every pin and its dependencies.
"""

from __future__ import annotations

import importlib.util
import json
import re
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RECORD = ROOT / "scripts" / "arm64-wheels.json"
RERUN = "run `scripts/check_arm64.py --glibc 2.36 --record scripts/arm64-wheels.json`"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_arm64", ROOT / "scripts/check_arm64.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _name(requirement: str) -> tuple[str, str]:
    """``psycopg[binary]==3.3.9`` → ``("psycopg", "3.3.9")``."""
    match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^;\s]+)", requirement.strip())
    assert match, f"{requirement!r} is not an exact pin (the project pins every dependency)"
    return re.sub(r"[-_.]+", "-", match.group(1)).lower(), match.group(2)


def test_every_runtime_pin_is_on_record_with_an_arm64_wheel() -> None:
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    record: dict[str, Any] = json.loads(RECORD.read_text())
    assert record["ok"] is True, f"the recorded check failed: {record['missing']}"
    assert record["python"] == "3.11"
    assert sorted(record["requirements"]) == sorted(pins), f"the pins changed: {RERUN}"
    wheels = {(p["name"], p["version"]): p["kind"] for p in record["packages"]}
    for pin in pins:
        name, version = _name(pin)
        assert (name, version) in wheels, f"{pin} is not in the record: {RERUN}"
        assert wheels[name, version] in ("pure", "aarch64"), pin
    assert set(wheels.values()) <= {"pure", "aarch64"}


def test_the_script_reads_wheel_names_and_platforms() -> None:
    script = _script()
    assert script.wheel_info("PyYAML-6.0.2-cp311-cp311-manylinux_2_17_aarch64.whl") == {
        "name": "pyyaml",
        "version": "6.0.2",
        "wheel": "cp311-cp311-manylinux_2_17_aarch64",
        "kind": "aarch64",
    }
    assert script.wheel_info("django-5.2.19-py3-none-any.whl")["kind"] == "pure"
    assert script.platforms("2.17") == ["manylinux2014_aarch64", "manylinux_2_17_aarch64"]
    assert len(script.platforms("2.36")) == 21
    assert script.failures_of(
        "ERROR: No matching distribution found for psycopg-binary==3.3.9; "
        "implementation_name != 'pypy'"
    ) == ["psycopg-binary==3.3.9"]
