"""The job runner in one process: leases, run records, failures and the scheduler's wiring."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.core.extensions import db as portal_db
from portal.core.timeutil import utc_now
from portal.jobs import runner as job_runner
from portal.jobs.models import JobLease, JobRun
from portal.jobs.registry import JobDefinition, register_jobs, registered_jobs


def test_a_lease_has_one_holder_until_it_expires(db) -> None:
    assert job_runner.acquire_lease("j", "first", 60)
    assert not job_runner.acquire_lease("j", "second", 60)
    lease = db.session.get(JobLease, "j")
    lease.expires_at = utc_now() - timedelta(seconds=1)
    db.session.commit()
    assert job_runner.acquire_lease("j", "second", 60)
    job_runner.release_lease("j", "first")  # a stale holder cannot release another's lease
    assert db.session.get(JobLease, "j").holder == "second"
    job_runner.release_lease("j", "second")
    assert db.session.get(JobLease, "j") is None


def failing_job(as_of):
    # What a failed step wrote outside the transaction helper must not be kept with the record.
    portal_db.session.add(
        JobLease(job_id="left-behind", holder="failed job", acquired_at=as_of, expires_at=as_of)
    )
    portal_db.session.flush()
    raise RuntimeError(f"boom at {as_of:%Y}")


def counting_job(as_of):
    return {"as_of": as_of.isoformat()}


def stoppable_job(as_of, stop):
    """Five batches, checking the stop between them; the stop comes during the second."""
    done = 0
    while done < 5 and not stop.is_set():
        done += 1
        if done == 2:
            stop.set()
    return {"batches": done}


TEST_JOBS = [
    JobDefinition("test.fail", f"{__name__}:failing_job", {"type": "interval", "seconds": 5}, "f"),
    JobDefinition("test.count", f"{__name__}:counting_job", {"type": "cron", "minute": "*/5"}, "c"),
    JobDefinition("test.stop", f"{__name__}:stoppable_job", {"type": "interval", "hours": 1}, "s"),
]


@pytest.fixture
def test_registry(app):
    original = app.config["JOB_REGISTRY"]
    app.config["JOB_REGISTRY"] = f"{__name__}:TEST_JOBS"
    yield
    app.config["JOB_REGISTRY"] = original


def test_a_failing_job_is_recorded_and_releases_its_lease(db, test_registry, caplog) -> None:
    outcome = job_runner.run_job("test.fail", as_of=datetime(2030, 5, 1, tzinfo=UTC))
    assert outcome.outcome == "failed"
    assert "RuntimeError: boom at 2030" in outcome.error
    run = db.session.get(JobRun, outcome.run_id)
    assert run.outcome == "failed" and run.finished_at is not None
    assert db.session.get(JobLease, "test.fail") is None
    assert db.session.get(JobLease, "left-behind") is None
    assert any(
        '"event": "job.end"' in r.message and '"failed"' in r.message for r in caplog.records
    )


def test_a_job_told_to_stop_is_recorded_as_stopped_with_what_it_did(
    db, test_registry, caplog
) -> None:
    outcome = job_runner.run_job("test.stop", stop=threading.Event())
    assert (outcome.outcome, outcome.summary) == ("stopped", {"batches": 2})
    run = db.session.get(JobRun, outcome.run_id)
    assert (run.outcome, run.summary) == ("stopped", {"batches": 2})
    assert run.finished_at is not None
    assert db.session.get(JobLease, "test.stop") is None
    (end,) = [r.message for r in caplog.records if '"event": "job.end"' in r.message]
    assert '"outcome": "stopped"' in end and '"batches": 2' in end


def test_a_job_without_a_stop_parameter_runs_to_its_end(db, test_registry) -> None:
    stop = threading.Event()
    stop.set()
    outcome = job_runner.run_job("test.count", as_of=datetime(2030, 5, 1, tzinfo=UTC), stop=stop)
    assert outcome.outcome == "succeeded"
    assert outcome.summary == {"as_of": "2030-05-01T00:00:00+00:00"}
    assert job_runner.takes_stop(stoppable_job) and not job_runner.takes_stop(counting_job)


def test_a_held_job_is_skipped_without_a_run_record(db, test_registry) -> None:
    assert job_runner.acquire_lease("test.count", "someone-else", 60)
    outcome = job_runner.run_job("test.count")
    assert (outcome.outcome, outcome.held_by) == ("skipped", "someone-else")
    assert db.session.scalars(select(JobRun).where(JobRun.job_id == "test.count")).all() == []


def test_the_scheduler_holds_every_registered_job(app, test_registry) -> None:
    scheduler = job_runner.build_scheduler(app)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"test.fail", "test.count", "test.stop"}
    assert jobs["test.count"].max_instances == 1 and jobs["test.count"].coalesce


def test_every_room_lists_its_jobs_once_with_importable_functions(app) -> None:
    jobs = registered_jobs(app)
    assert set(jobs) == {
        "jobs.prune_runs",
        "messaging.deliver",
        "tickets.clock_watch",
        "tickets.fetch_mail",
        "care.plan",
        "surveys.plan",
        "surveys.rollup",
    }
    with pytest.raises(ValueError, match="listed twice"):
        register_jobs(app, [jobs["care.plan"]])
    for job in jobs.values():
        assert callable(job_runner._resolve(job.func))
        job_runner.build_trigger(job, "UTC")
