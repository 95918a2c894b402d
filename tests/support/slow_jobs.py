"""A job registry for process tests: one slow job that logs when it starts and ends.

Select it with JOB_REGISTRY=tests.support.slow_jobs:JOBS. The job appends
"start <pid> <time.time()>" and "end <pid> <time.time()>" to the file named by SLOW_JOB_LOG,
running SLOW_JOB_SECONDS (default 1.5) in between; or, when SLOW_JOB_RELEASE names a file, until
that file exists (SLOW_JOB_SECONDS at most), so that a test holds it exactly as long as it needs
to. Each line is one short O_APPEND write, flushed and fsynced, so lines from concurrent
processes never interleave.
"""

import os
import time
from datetime import datetime
from typing import Any

from portal.jobs.registry import JobDefinition


def _record(event: str) -> None:
    path = os.environ["SLOW_JOB_LOG"]
    with open(path, "a", encoding="utf-8") as log:
        log.write(f"{event} {os.getpid()} {time.time():.6f}\n")
        log.flush()
        os.fsync(log.fileno())


def slow(as_of: datetime) -> dict[str, Any]:
    """Hold the job for SLOW_JOB_SECONDS or until released, recording the interval it ran in."""
    _record("start")
    seconds = float(os.environ.get("SLOW_JOB_SECONDS", "1.5"))
    release = os.environ.get("SLOW_JOB_RELEASE")
    if release:
        deadline = time.monotonic() + seconds
        while not os.path.exists(release) and time.monotonic() < deadline:
            time.sleep(0.05)
    else:
        time.sleep(seconds)
    _record("end")
    return {"pid": os.getpid()}


JOBS: list[JobDefinition] = [
    JobDefinition(
        id="test.slow",
        func="tests.support.slow_jobs:slow",
        trigger={"type": "interval", "seconds": 1},
        description="Sleeps a while, logging its start and end (process tests only).",
        lease_seconds=30,
    ),
    JobDefinition(
        id="test.short_lease",
        func="tests.support.slow_jobs:slow",
        trigger={"type": "interval", "seconds": 3600},
        description="The slow job with a 2 s lease, which only renewal keeps alive.",
        lease_seconds=2,
    ),
]
