"""Real `flask jobs` processes sharing one database never run the same job at the same time."""

import json
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from portal.core.timeutil import as_utc, utc_now
from portal.jobs.models import JobLease, JobRun
from tests.conftest import PreparedDatabases
from tests.support.outbox import fill_outbox, outbox_rows
from tests.support.processes import (
    STARTUP_TIMEOUT,
    FlaskProcess,
    report,
    wait_for,
)
from tests.support.smtp_sink import SmtpSink

pytestmark = pytest.mark.slow

JOB = "test.slow"
EXIT_SKIPPED = 75
STOP_TIMEOUT = 20.0  # seconds for a process to finish its current run and exit


def portal_env(database_url: str, log: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("PORTAL_ENV", "LOG_LEVEL", "SCHEDULER_TIMEZONE"):
        env.pop(name, None)
    env.update(
        DATABASE_URL=database_url,
        FLASK_APP="wsgi",
        SECRET_KEY="test",
        JOB_REGISTRY="tests.support.slow_jobs:JOBS",
        SLOW_JOB_LOG=str(log),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@pytest.fixture
def database_url(
    backend: str, prepared_databases: PreparedDatabases, tmp_path: Path
) -> Iterator[str]:
    """A database of the test's own at the latest migration."""
    with prepared_databases.migrated(backend, tmp_path) as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def run_log(tmp_path: Path) -> Path:
    return tmp_path / "slow-job.log"


@pytest.fixture
def release(tmp_path: Path) -> Path:
    """Touch this file to end a run started with SLOW_JOB_RELEASE set to it."""
    return tmp_path / "release"


def job_runs(engine: sa.Engine, job_id: str = JOB) -> list[Any]:
    runs = JobRun.__table__
    with engine.connect() as connection:
        return list(
            connection.execute(sa.select(runs).where(runs.c.job_id == job_id).order_by(runs.c.id))
        )


def live_leases(engine: sa.Engine) -> list[Any]:
    """Lease rows not yet expired; a stopped process may leave only expired ones."""
    with engine.connect() as connection:
        rows = list(connection.execute(sa.select(JobLease.__table__)))
    now = utc_now()
    return [row for row in rows if as_utc(row.expires_at) > now]


def read_runs(log: Path) -> list[tuple[int, float, float]]:
    """(pid, start, end) per run recorded in the slow job's log, in order of start."""
    open_runs: dict[int, float] = {}
    runs: list[tuple[int, float, float]] = []
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    for line in lines:
        event, pid_text, at_text = line.split()
        pid, at = int(pid_text), float(at_text)
        if event == "start":
            assert pid not in open_runs, f"pid {pid} started twice without ending:\n{lines}"
            open_runs[pid] = at
        else:
            assert event == "end", line
            runs.append((pid, open_runs.pop(pid), at))
    assert not open_runs, f"runs that never ended: {open_runs}"
    return sorted(runs, key=lambda run: run[1])


def log_lines(stderr: str) -> list[dict[str, Any]]:
    """The scheduler's log: every line one JSON object, or the test fails naming the line."""
    records = []
    for line in stderr.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            pytest.fail(f"a log line that is not JSON: {line!r}")
        assert isinstance(record, dict), line
        assert {"at", "level", "logger"} <= set(record), line
        records.append(record)
    return records


def events(stderr: str, name: str) -> list[dict[str, Any]]:
    """The log records of `portal.jobs` with the given event name."""
    return [
        record
        for record in log_lines(stderr)
        if record["logger"] == "portal.jobs" and record.get("event") == name
    ]


def holder_pid(holder: str) -> int:
    return int(holder.rsplit(":", 2)[1])


def test_two_schedulers_never_run_the_job_at_once(
    database_url: str, engine: sa.Engine, run_log: Path, spawn: Any
) -> None:
    # 1.5 s runs fired every second by each scheduler: whichever process is not running the
    # job fires at least once during every run of the other and must be refused the lease.
    env = portal_env(database_url, run_log, SLOW_JOB_SECONDS="1.5")
    schedulers = [spawn(name, ["jobs", "run"], env) for name in ("first", "second")]
    started = wait_for(
        lambda: all("Scheduler started" in child.stdout for child in schedulers), STARTUP_TIMEOUT
    )
    if started:
        # About 6 s of contention, longer if needed to see three runs through (bounded).
        observed_from = time.monotonic()
        wait_for(
            lambda: (
                time.monotonic() - observed_from >= 6
                and run_log.exists()
                and run_log.read_text(encoding="utf-8").count("end ") >= 3
            ),
            20,
        )
    codes = [child.stop(STOP_TIMEOUT) for child in schedulers]

    assert started, f"the schedulers did not start:\n{report(schedulers, codes)}"
    raised = any("Traceback" in child.stderr for child in schedulers)
    assert not raised, f"a job raised:\n{report(schedulers, codes)}"
    assert codes == [0, 0], report(schedulers, codes)
    assert all("Scheduler stopped." in child.stdout for child in schedulers)

    runs = read_runs(run_log)
    assert len(runs) >= 3, runs
    for previous, current in pairwise(runs):
        assert current[1] >= previous[2], f"runs overlap: {previous} and {current}"
    pids = {child.pid for child in schedulers}
    assert {pid for pid, _, _ in runs} <= pids

    rows = job_runs(engine)
    assert [row.outcome for row in rows] == ["succeeded"] * len(runs), rows
    assert Counter(row.summary["pid"] for row in rows) == Counter(pid for pid, _, _ in runs)
    assert live_leases(engine) == []

    skipped = [
        (child.pid, record)
        for child in schedulers
        for record in events(child.stderr, "job.skipped")
    ]
    assert skipped, "no scheduler was ever refused the lease"
    for pid, record in skipped:
        assert record["job"] == JOB
        assert holder_pid(record["holder"]) == pid
        assert holder_pid(record["held_by"]) in pids - {pid}, record


def test_two_simultaneous_once_commands_run_the_job_once(
    database_url: str, engine: sa.Engine, run_log: Path, release: Path, spawn: Any
) -> None:
    # The run lasts until released, however far apart the two processes start: once one of
    # them has exited (refused), the other's run is let go.
    env = portal_env(database_url, run_log, SLOW_JOB_SECONDS="60", SLOW_JOB_RELEASE=str(release))
    commands = [spawn(name, ["jobs", "once", JOB], env) for name in ("first", "second")]
    wait_for(
        lambda: any(child.process.poll() is not None for child in commands), 2 * STARTUP_TIMEOUT
    )
    release.touch()
    codes = [child.wait(STARTUP_TIMEOUT + STOP_TIMEOUT) for child in commands]

    assert sorted(codes) == [0, EXIT_SKIPPED], report(commands, codes)
    winner, loser = commands if codes[0] == 0 else reversed(commands)
    assert f"Succeeded: {JOB}" in winner.stdout
    assert f"Skipped: {JOB} is running in" in loser.stderr
    assert f":{winner.pid}:" in loser.stderr

    runs = read_runs(run_log)
    assert [pid for pid, _, _ in runs] == [winner.pid]
    rows = job_runs(engine)
    assert [row.outcome for row in rows] == ["succeeded"]
    assert holder_pid(rows[0].holder) == winner.pid
    assert live_leases(engine) == []


def test_once_runs_as_of_the_given_instant(
    database_url: str, engine: sa.Engine, run_log: Path, spawn: Any
) -> None:
    # A zone far from UTC for the process and its PostgreSQL session: the instant must not move.
    env = portal_env(
        database_url, run_log, SLOW_JOB_SECONDS="0", TZ="Asia/Shanghai", PGTZ="Asia/Shanghai"
    )
    command = spawn("at", ["jobs", "once", JOB, "--at", "2026-01-31T23:00:00+08:00"], env)
    code = command.wait(STARTUP_TIMEOUT)
    assert code == 0, report([command], [code])
    assert f"Succeeded: {JOB}" in command.stdout

    rows = job_runs(engine)
    assert len(rows) == 1
    assert rows[0].outcome == "succeeded"
    assert as_utc(rows[0].as_of) == datetime(2026, 1, 31, 15, 0, tzinfo=UTC)

    bad = spawn("bad", ["jobs", "once", JOB, "--at", "not-a-date"], env)
    assert bad.wait(STARTUP_TIMEOUT) == 2
    assert "Invalid value for '--at'" in bad.stderr
    assert "not an ISO-8601 instant: 'not-a-date'" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert len(job_runs(engine)) == 1


def _wait_for_start(run_log: Path, child: FlaskProcess) -> None:
    started = wait_for(lambda: run_log.exists() and "start" in run_log.read_text(), 30)
    assert started, f"the job never started:\n{child.stderr[-3000:]}"


def test_a_running_job_renews_its_lease_past_the_lease_length(
    database_url: str, engine: sa.Engine, run_log: Path, release: Path, spawn: Any
) -> None:
    env = portal_env(database_url, run_log, SLOW_JOB_SECONDS="60", SLOW_JOB_RELEASE=str(release))
    first = spawn("first", ["jobs", "once", "test.short_lease"], env)
    _wait_for_start(run_log, first)
    (taken,) = live_leases(engine)
    # Past the 2 s lease it took: only the keeper's renewals still hold it.
    renewed = wait_for(
        lambda: utc_now() > as_utc(taken.expires_at) and len(live_leases(engine)) == 1, 10
    )
    assert renewed, report([first], [first.process.poll() or -1])
    second = spawn("second", ["jobs", "once", "test.short_lease"], env)
    second_code = second.wait(STARTUP_TIMEOUT)  # the first still runs until released
    release.touch()
    codes = [first.wait(STOP_TIMEOUT), second_code]
    assert codes == [0, EXIT_SKIPPED], report([first, second], codes)


def test_a_crashed_holder_loses_the_job_once_its_lease_expires(
    database_url: str, engine: sa.Engine, run_log: Path, spawn: Any
) -> None:
    crashed = spawn(
        "crashed",
        ["jobs", "once", "test.short_lease"],
        portal_env(database_url, run_log, SLOW_JOB_SECONDS="60"),
    )
    _wait_for_start(run_log, crashed)
    crashed.process.send_signal(signal.SIGKILL)
    crashed.wait(STOP_TIMEOUT)
    assert wait_for(lambda: live_leases(engine) == [], 10)  # the lease it cannot renew expires
    successor = spawn(
        "successor",
        ["jobs", "once", "test.short_lease"],
        portal_env(database_url, run_log, SLOW_JOB_SECONDS="0"),
    )
    code = successor.wait(STARTUP_TIMEOUT)
    assert code == 0, report([successor], [code])
    outcomes = sorted(row.outcome for row in job_runs(engine, "test.short_lease"))
    assert outcomes == ["running", "succeeded"]  # the dead run is left as it was
    assert live_leases(engine) == []


def test_a_second_stop_signal_while_a_run_finishes_exits_cleanly(
    database_url: str, engine: sa.Engine, run_log: Path, release: Path, spawn: Any
) -> None:
    """Ctrl-C twice, or a supervisor's SIGTERM after ./scripts/run's own: the scheduler lets the
    running job finish and exits 0, with no traceback from the second signal."""
    env = portal_env(database_url, run_log, SLOW_JOB_SECONDS="60", SLOW_JOB_RELEASE=str(release))
    scheduler = spawn("scheduler", ["jobs", "run"], env)
    running = wait_for(lambda: run_log.exists() and "start " in run_log.read_text(), 20)
    assert running, report([scheduler], [])
    scheduler.process.send_signal(signal.SIGTERM)
    assert wait_for(lambda: "Scheduler stopped." in scheduler.stdout, STOP_TIMEOUT)
    scheduler.process.send_signal(signal.SIGTERM)  # while the job's thread is being joined
    release.touch()
    code = scheduler.wait(STOP_TIMEOUT)
    assert code == 0 and "Traceback" not in scheduler.stderr, report([scheduler], [code])
    assert [row.outcome for row in job_runs(engine)] == ["succeeded"]


STOPS_WITHIN = 10.0  # seconds from SIGTERM to exit: well inside a service manager's stop timeout


def test_the_scheduler_logs_one_json_object_per_line_and_stops_a_running_job(
    backend: str, database_url: str, engine: sa.Engine, run_log: Path, spawn: Any
) -> None:
    if backend != "sqlite":
        pytest.skip("the log does not depend on the database; stopping is proven on both below")
    env = portal_env(
        database_url, run_log, JOB_REGISTRY="tests.support.slow_jobs:LOGGED", SLOW_JOB_SECONDS="0"
    )
    scheduler = spawn("scheduler", ["jobs", "run"], env)
    ran = wait_for(
        lambda: all(
            part in scheduler.stderr
            for part in ('"outcome": "succeeded"', '"outcome": "failed"', "test.until_stopped")
        ),
        STARTUP_TIMEOUT,
    )
    assert ran, report([scheduler], [scheduler.process.poll() or -1])
    scheduler.process.send_signal(signal.SIGTERM)
    code = scheduler.wait(STOPS_WITHIN)  # the job waiting for the stop hears it at once
    assert code == 0, report([scheduler], [code])
    assert "Scheduler stopped." in scheduler.stdout

    records = log_lines(scheduler.stderr)
    ends = {record["job"]: record for record in events(scheduler.stderr, "job.end")}
    assert ends["test.quick"]["outcome"] == "succeeded"
    assert ends["test.quick"]["summary"] == {"pid": scheduler.pid}
    assert ends["test.fail"]["outcome"] == "failed"
    assert ends["test.fail"]["error"].startswith("RuntimeError: boom as of 20")
    assert ends["test.until_stopped"]["outcome"] == "stopped"
    assert ends["test.until_stopped"]["summary"] == {"heard_stop": True}
    assert {r["job"] for r in events(scheduler.stderr, "job.start")} == set(ends)
    assert events(scheduler.stderr, "scheduler.start")[0]["jobs"] == [
        "test.quick",
        "test.fail",
        "test.until_stopped",
    ]
    assert [r["signal"] for r in events(scheduler.stderr, "scheduler.stop")] == ["SIGTERM"]
    # APScheduler's two lines per run are gone; its warnings (a run skipped while the last
    # one still runs) come through, as JSON too.
    chatter = [r for r in records if r["logger"].startswith("apscheduler")]
    assert all(r["level"] != "INFO" for r in chatter), chatter
    assert not any("executed successfully" in r.get("message", "") for r in records)

    (stopped,) = job_runs(engine, "test.until_stopped")
    assert (stopped.outcome, stopped.summary) == ("stopped", {"heard_stop": True})
    assert stopped.finished_at is not None
    assert live_leases(engine) == []


def test_sigterm_stops_a_large_delivery_in_seconds_and_the_next_run_sends_the_rest(
    database_url: str, engine: sa.Engine, run_log: Path, spawn: Any
) -> None:
    # 800 messages to a relay that takes 25 ms over each: 20 s to send them all, so a
    # scheduler that let the running delivery finish would outlast STOPS_WITHIN by far.
    expected = fill_outbox(engine, 800)
    sink = SmtpSink().start()
    sink.handler.delay = 0.025
    try:
        env = portal_env(
            database_url,
            run_log,
            JOB_REGISTRY="tests.support.slow_jobs:DELIVERY",
            MAIL_TRANSPORT="smtp",
            SMTP_HOST=sink.host,
            SMTP_PORT=str(sink.port),
        )
        scheduler = spawn("scheduler", ["jobs", "run"], env)
        sending = wait_for(lambda: len(sink.handler.received) >= 40, STARTUP_TIMEOUT)
        assert sending, report([scheduler], [scheduler.process.poll() or -1])
        scheduler.process.send_signal(signal.SIGTERM)
        code = scheduler.wait(STOPS_WITHIN)
        assert code == 0, report([scheduler], [code])
        assert "Scheduler stopped." in scheduler.stdout

        # What went out is recorded sent; the rest is back in the queue, claimed by nobody.
        first = sink.handler.message_ids()
        outbox = outbox_rows(engine)
        assert {row.message_id for row in outbox if row.status == "sent"} == set(first)
        assert {row.status for row in outbox} == {"sent", "queued"}
        assert {(row.claimed_by, row.claimed_until) for row in outbox} == {(None, None)}
        (run,) = job_runs(engine, "messaging.deliver")
        assert run.outcome == "stopped"
        assert run.summary["sent"] == len(first)
        assert run.summary["released"] > 0
        assert live_leases(engine) == []
        (end,) = events(scheduler.stderr, "job.end")
        assert (end["outcome"], end["summary"]["sent"]) == ("stopped", len(first))

        # The next run sends the rest; the relay gets every message exactly once.
        sink.handler.delay = 0
        rest = spawn("rest", ["jobs", "once", "messaging.deliver"], env)
        code = rest.wait(120)  # a hang guard, long enough for a loaded machine
        assert code == 0, report([rest], [code])
        received = sink.handler.message_ids()
        assert {mid: n for mid, n in received.items() if n > 1} == {}
        assert set(received) == expected
        assert {row.status for row in outbox_rows(engine)} == {"sent"}
    finally:
        sink.stop()
