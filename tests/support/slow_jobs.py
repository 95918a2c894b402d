"""A job registry for process tests: one slow job that logs when it starts and ends.

Select it with JOB_REGISTRY=tests.support.slow_jobs:JOBS. The job appends
"start <pid> <time.time()>" and "end <pid> <time.time()>" to the file named by SLOW_JOB_LOG,
running SLOW_JOB_SECONDS (default 1.5) in between; or, when SLOW_JOB_RELEASE names a file, until
that file exists (SLOW_JOB_SECONDS at most), so that a test holds it exactly as long as it needs
to. Each line is one short O_APPEND write, flushed and fsynced, so lines from concurrent
processes never interleave.

`LOGGED` is a registry for reading the scheduler's log: a job that succeeds, one that fails and
one that runs until it is asked to stop. `DELIVERY` holds the real `messaging.deliver` job,
fired as the scheduler starts instead of 30 s later.
"""

import os
import threading
import time
from dataclasses import replace
from datetime import datetime
from typing import Any

from portal.jobs.registry import JobDefinition
from portal.messaging import JOBS as MESSAGING_JOBS


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


def fail(as_of: datetime) -> dict[str, Any]:
    raise RuntimeError(f"boom as of {as_of:%Y}")


def until_stopped(as_of: datetime, stop: threading.Event) -> dict[str, Any]:
    """Wait for the stop (a minute at most), as a long job's batches would."""
    return {"heard_stop": stop.wait(60)}


def _every_second(job_id: str, func: str, description: str) -> JobDefinition:
    return JobDefinition(
        id=job_id,
        func=func,
        trigger={"type": "interval", "seconds": 1},
        description=description,
        lease_seconds=30,
        options={"run_at_start": True},
    )


LOGGED: list[JobDefinition] = [
    _every_second("test.quick", "tests.support.slow_jobs:slow", "Succeeds (SLOW_JOB_SECONDS)."),
    _every_second("test.fail", "tests.support.slow_jobs:fail", "Raises."),
    _every_second("test.until_stopped", "tests.support.slow_jobs:until_stopped", "Waits."),
]

# The room's own definition, fired at once rather than one 30 s interval after the start.
DELIVERY: list[JobDefinition] = [
    replace(job, options={**job.options, "run_at_start": True}) for job in MESSAGING_JOBS
]
