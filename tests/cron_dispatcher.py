"""One cron dispatcher process for tests/test_cron_processes.py (two run at once).

``--setup N``: replace the ``cas-*`` jobs with N jobs due every second (system events for
the next turn, which end as soon as they start). Otherwise: for ``--seconds``, claim due
jobs (``cron_dispatch_due``) and start each claimed run, as a gateway's tick and worker
do, then write one JSON line with the CronRun ids this process claimed. Task messages
go nowhere: this process starts its own claims.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import timedelta

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "openclaw_site.settings")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--setup", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import close_old_connections
    from django.utils import timezone

    from agents.models import CronJob, CronRun
    from agents.runtime import enqueue
    from agents.services.cron import cron_add, cron_dispatch_due, cron_run_execute

    enqueue.send = lambda *a, **k: None
    if args.setup:
        CronRun.objects.filter(job_name__startswith="cas-").delete()
        CronJob.objects.filter(name__startswith="cas-").delete()
        anchor = timezone.now() + timedelta(seconds=2)
        for n in range(args.setup):
            cron_add(
                job={
                    "name": f"cas-{n}",
                    "schedule": {
                        "kind": "every",
                        "everyMs": 1000,
                        "anchorMs": int(anchor.timestamp() * 1000),
                    },
                    "payload": {"kind": "systemEvent", "text": f"tick {n}"},
                    "wakeMode": "next-heartbeat",
                }
            )
        return
    claims: list[int] = []
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        for pk in cron_dispatch_due(now=timezone.now()):
            claims.append(pk)
            cron_run_execute(cron_run_pk=pk)
        close_old_connections()
        time.sleep(0.002)
    sys.stdout.write(json.dumps({"claims": claims}) + "\n")


if __name__ == "__main__":
    main()
