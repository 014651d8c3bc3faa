"""Start-up time, idle memory and idle CPU of ``manage.py gateway`` (embedded mode).

Spawns the gateway in a fresh data dir (first run: migrations, agent, token), measures
seconds from spawn to ``/health`` answering, RSS of the whole process tree after 10 s
idle, and CPU % of one core over 30 s idle; then a warm start of the same data dir.
A bare daphne + Django + Channels process is measured in the same run as the baseline.
Prints one JSON line. Usage: .venv/bin/python bench/startup_memory.py [--idle 30]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._proc import REPO, cpu_seconds, free_port, rss_mb, wait_http
from bench._servers import base_env, daphne_cmd

OPENCLAW: dict[str, list[float] | float] = {
    "listen_s": [9.2, 10.6],
    "idle_rss_tree_mb": [765, 985],
    "idle_rss_gateway_mb": 600,
}
# The best (lowest) OpenClaw figures, so our ratios are the least flattering.
OPENCLAW_LISTEN_S = 9.2
OPENCLAW_RSS_TREE_MB = 765.0
TARGETS = {"start_to_health_s": 2.0, "idle_rss_mb": 120, "idle_cpu_pct": 1.0}


def _env(data_dir: Path) -> dict[str, str]:
    env = base_env()
    env["OPENCLAW_DATA_DIR"] = str(data_dir)
    return env


def measure_gateway(data_dir: Path, idle_s: float) -> dict[str, float]:
    port = free_port()
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "gateway", "--port", str(port)],
        cwd=REPO,
        env=_env(data_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ready = wait_http(f"http://127.0.0.1:{port}/health", proc)
        result = {"start_to_health_s": round(ready - started, 3)}
        if idle_s:
            time.sleep(10)
            result["idle_rss_mb"] = round(rss_mb(proc.pid), 1)
            cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
            time.sleep(idle_s)
            cpu1, t1 = cpu_seconds(proc.pid), time.monotonic()
            result["idle_cpu_pct"] = round(100 * (cpu1 - cpu0) / (t1 - t0), 2)
            result["idle_rss_after_cpu_window_mb"] = round(rss_mb(proc.pid), 1)
        stop0 = time.monotonic()
        proc.terminate()
        proc.wait(timeout=15)
        result["sigterm_to_exit_s"] = round(time.monotonic() - stop0, 3)
        return result
    finally:
        if proc.poll() is None:
            proc.kill()


def measure_bare_daphne() -> dict[str, float]:
    port = free_port()
    env = base_env()
    env["DJANGO_SETTINGS_MODULE"] = "bench.bare_channels.settings"
    started = time.monotonic()
    proc = subprocess.Popen(
        daphne_cmd(port),
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ready = wait_http(f"http://127.0.0.1:{port}/health", proc)
        time.sleep(10)
        return {
            "start_to_health_s": round(ready - started, 3),
            "idle_rss_mb": round(rss_mb(proc.pid), 1),
        }
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle", type=float, default=30.0, help="idle CPU window in seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="openclaw-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        first = measure_gateway(data_dir, args.idle)
        warm = measure_gateway(data_dir, 0)
    bare = measure_bare_daphne()
    out = {
        "bench": "startup_memory",
        "first_start_to_health_s": first["start_to_health_s"],
        "warm_start_to_health_s": warm["start_to_health_s"],
        "idle_rss_mb": first["idle_rss_mb"],
        "idle_rss_after_cpu_window_mb": first["idle_rss_after_cpu_window_mb"],
        "idle_cpu_pct": first["idle_cpu_pct"],
        "idle_window_s": args.idle,
        "sigterm_to_exit_s": first["sigterm_to_exit_s"],
        "bare_daphne_start_to_health_s": bare["start_to_health_s"],
        "bare_daphne_idle_rss_mb": bare["idle_rss_mb"],
        "ratio_start_vs_bare_daphne": round(
            first["start_to_health_s"] / bare["start_to_health_s"], 2
        ),
        "ratio_warm_start_vs_bare_daphne": round(
            warm["start_to_health_s"] / bare["start_to_health_s"], 2
        ),
        "ratio_rss_vs_bare_daphne": round(first["idle_rss_mb"] / bare["idle_rss_mb"], 2),
        "ratio_start_vs_openclaw": round(first["start_to_health_s"] / OPENCLAW_LISTEN_S, 3),
        "ratio_rss_vs_openclaw_tree": round(first["idle_rss_mb"] / OPENCLAW_RSS_TREE_MB, 3),
        "openclaw_2026_9_6": OPENCLAW,
        "targets": TARGETS,
        "meets_targets": {
            "start": first["start_to_health_s"] <= TARGETS["start_to_health_s"],
            "rss": first["idle_rss_mb"] <= TARGETS["idle_rss_mb"],
            "cpu": first["idle_cpu_pct"] <= TARGETS["idle_cpu_pct"],
        },
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
