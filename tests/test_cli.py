"""The `flask users`, `flask demo` and `flask jobs` commands, including their refusals."""

from datetime import UTC, datetime

from sqlalchemy import func, select

from portal.accounts.models import User
from portal.core.audit import AuditEvent
from portal.core.extensions import db
from portal.demo.seed import DEMO_ACCOUNTS, STAFF
from portal.jobs.models import JobLease, JobRun
from portal.jobs.registry import registered_jobs
from portal.tickets.models import Ticket
from tests.factories import make_user


def test_users_create_reads_the_password_from_stdin(runner) -> None:
    result = runner.invoke(
        args=[
            "users",
            "create",
            "Ops@Bank.Example.com",
            "--name",
            "Ops Admin",
            "--role",
            "admin",
            "--password-stdin",
        ],
        input="a-long-enough-password\n",
    )
    assert result.exit_code == 0, result.output
    assert "Created admin ops@bank.example.com" in result.output
    user = db.session.scalar(select(User).where(User.email == "ops@bank.example.com"))
    assert user is not None and user.role == "admin"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.subject_id == str(user.id)))
    assert event.actor_label == "cli" and event.action == "user.created"


def test_users_create_refuses_unknown_role_in_one_line(runner) -> None:
    result = runner.invoke(
        args=[
            "users",
            "create",
            "x@bank.example.com",
            "--name",
            "X",
            "--role",
            "boss",
            "--password-stdin",
        ],
        input="a-long-enough-password\n",
    )
    assert result.exit_code == 1
    assert result.output.strip() == "Error: Unknown role 'boss' (choose admin, handler, lead, rm)."


def test_users_create_refuses_duplicate_email_in_one_line(runner) -> None:
    make_user(email="dup@bank.example.com")
    result = runner.invoke(
        args=[
            "users",
            "create",
            "DUP@bank.example.com",
            "--name",
            "X",
            "--role",
            "rm",
            "--password-stdin",
        ],
        input="a-long-enough-password\n",
    )
    assert result.exit_code == 1
    assert result.output.strip() == "Error: A user with email dup@bank.example.com already exists."


def test_users_create_refuses_a_weak_password(runner) -> None:
    result = runner.invoke(
        args=[
            "users",
            "create",
            "w@bank.example.com",
            "--name",
            "W",
            "--role",
            "rm",
            "--password-stdin",
        ],
        input="short\n",
    )
    assert result.exit_code == 1
    assert "at least 10 characters" in result.output


def test_users_set_password_and_list(runner) -> None:
    user = make_user(email="forgot@bank.example.com")
    result = runner.invoke(
        args=["users", "set-password", "forgot@bank.example.com", "--password-stdin"],
        input="another-long-password\n",
    )
    assert result.exit_code == 0, result.output
    listing = runner.invoke(args=["users", "list"])
    assert f"{user.id}\tforgot@bank.example.com\trm\tactive" in listing.output
    missing = runner.invoke(
        args=["users", "set-password", "nobody@x.com", "--password-stdin"],
        input="another-long-password\n",
    )
    assert missing.exit_code == 1


def test_demo_seed_small_then_refuses_a_second_time(runner) -> None:
    result = runner.invoke(args=["demo", "seed", "--quiet"])
    assert result.exit_code == 0, result.output
    for account in DEMO_ACCOUNTS:
        assert account.email in result.output and account.password in result.output
    count = db.session.scalar(select(func.count()).select_from(User))
    assert count == len(DEMO_ACCOUNTS) + sum(STAFF["small"].values())
    again = runner.invoke(args=["demo", "seed", "--quiet"])
    assert again.exit_code == 1 and "already holds data" in again.output
    quietly = runner.invoke(args=["demo", "seed", "--quiet", "--if-empty"])
    assert quietly.exit_code == 0
    assert db.session.scalar(select(func.count()).select_from(User)) == count


def test_tickets_can_be_added_to_a_seeded_database(runner) -> None:
    first = runner.invoke(
        args=["demo", "seed", "--quiet", "--only", "users", "--only", "customers"]
    )
    assert first.exit_code == 0, first.output
    assert db.session.scalar(select(func.count()).select_from(Ticket)) == 0
    added = runner.invoke(args=["demo", "seed", "--quiet", "--only", "tickets"])
    assert added.exit_code == 0, added.output
    assert db.session.scalar(select(func.count()).select_from(Ticket)) > 0
    again = runner.invoke(args=["demo", "seed", "--quiet", "--only", "tickets"])
    assert again.exit_code == 1 and "tickets already holds data" in again.output


def test_demo_seed_large_has_staff_for_the_benchmarks(runner) -> None:
    result = runner.invoke(args=["demo", "seed", "--scale", "large", "--quiet", "--only", "users"])
    assert result.exit_code == 0, result.output
    rms = db.session.scalar(select(func.count()).select_from(User).where(User.role == "rm"))
    assert rms == 1 + STAFF["large"]["rm"]


def test_jobs_list_shows_every_registered_job(runner) -> None:
    result = runner.invoke(args=["jobs", "list"])
    assert result.exit_code == 0
    assert "jobs.prune_runs" in result.output
    assert "next: " in result.output and "last: never run" in result.output


def test_jobs_once_runs_as_of_the_given_instant(runner) -> None:
    old = datetime(2026, 1, 1, tzinfo=UTC)
    db.session.add(JobRun(job_id="x", holder="h", as_of=old, started_at=old, outcome="succeeded"))
    db.session.commit()
    kept = runner.invoke(args=["jobs", "once", "jobs.prune_runs", "--at", "2026-02-01T00:00:00Z"])
    assert kept.exit_code == 0, kept.output
    assert "'deleted': 0" in kept.output
    pruned = runner.invoke(
        args=["jobs", "once", "jobs.prune_runs", "--at", "2026-06-01T08:00+08:00"]
    )
    assert "'deleted': 1" in pruned.output
    runs = list(db.session.scalars(select(JobRun).where(JobRun.job_id == "jobs.prune_runs")))
    assert sorted(r.as_of for r in runs) == [
        datetime(2026, 2, 1, tzinfo=UTC),
        datetime(2026, 6, 1, tzinfo=UTC),
    ]
    assert db.session.scalar(select(func.count()).select_from(JobLease)) == 0


def test_jobs_once_refuses_unknown_job_and_bad_instant(app, runner) -> None:
    unknown = runner.invoke(args=["jobs", "once", "nope"])
    assert unknown.exit_code == 1
    registered = ", ".join(sorted(registered_jobs(app)))
    assert f"unknown job 'nope' (registered: {registered})" in unknown.output
    bad = runner.invoke(args=["jobs", "once", "jobs.prune_runs", "--at", "yesterday"])
    assert bad.exit_code == 2
    assert "not an ISO-8601 instant" in bad.output
