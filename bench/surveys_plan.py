"""`surveys.plan` for a relationship-NPS wave to 100,000 customers: time, a floor, peak memory.

    python -m bench.surveys_plan --database sqlite        # /tmp/surveys<N>.sqlite3
    python -m bench.surveys_plan --database postgresql    # portal_surveys<N> on 127.0.0.1
    python -m bench.surveys_plan --database sqlite --sizes 25000 100000 --runs 3

Each size has its own dataset, built once and kept like bench.care's (the same customers:
languages, zones, consents, flags and email rates of the demo seed's mix; built by bench.care's
builder in a child process) and measured in a child process of its own, so that each size's
peak RSS (`ru_maxrss`) is its own: memory flat means the 100,000-customer wave peaks where
the 25,000 one does.

A run, repeated `--runs` times with fresh state: empty the invitations, the outbox and the job
leases (on PostgreSQL vacuum them), make one active quarterly wave programme to every segment,
then measure the floor — the planner's own candidate query for the wave streamed page by page
into candidates, nothing decided or written — and then time `surveys.plan` at the same
instant, which invites every customer once: new invitations inserted in bulk, each message
decided by the contact policy and written to the outbox, the held ones marked with their
reason. A second, untimed plan at the same instant checks that a re-run adds nothing. The
report goes to `bench/results/surveys-plan-<dialect>.md`; see bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from bench.care import dataset_ready, peak_rss_mb, rss_now_mb
from bench.common import PROJECT_ROOT, RESULTS, psycopg_url, write_text

DATABASES = {
    "sqlite": "sqlite:////tmp/surveys{size}.sqlite3",
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/portal_surveys{size}",
}
SIZES = (25_000, 100_000)
TARGET_SECONDS = 30.0
# 10:00 in Shanghai on 2 March 2027 (02:00 in London): the wave's send hour (10:00 local)
# is still to come for most customers, as on a real wave's first morning.
PLAN_AT = datetime(2027, 3, 2, 2, 0, tzinfo=UTC)


def fresh_state() -> int:
    """No invitations, messages or leases; one wave programme, active for a month. Its id."""
    from sqlalchemy import delete

    from portal.core.extensions import db
    from portal.jobs.models import JobLease
    from portal.messaging.models import Message
    from portal.surveys.models import SurveyAnswer, SurveyInvitation, SurveyProgramme

    for table in (SurveyAnswer, SurveyInvitation, Message, JobLease, SurveyProgramme):
        db.session.execute(delete(table))
    programme = SurveyProgramme(
        name="Relationship NPS",
        metric="nps",
        trigger="wave",
        active=True,
        active_since=PLAN_AT - timedelta(days=30),
        question_en="How likely are you to recommend us to a friend or colleague?",
        question_zh="您有多大可能向朋友或同事推荐我们？",
        choices=[],
        send_delay_hours=0,
        expiry_days=14,
        sample_rate=1.0,
        wave_months=3,
        wave_send_hour=10,
        route="queue",
    )
    db.session.add(programme)
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as connection:
            vacuum = connection.execution_options(isolation_level="AUTOCOMMIT")
            vacuum.exec_driver_sql("VACUUM ANALYZE survey_invitations")
            vacuum.exec_driver_sql("VACUUM ANALYZE messages")
    return programme.id


def floor(now: datetime) -> tuple[float, int]:
    """The wave's candidate query streamed into candidates: nothing decided or written."""
    from portal.core.extensions import db
    from portal.surveys import planner

    started = time.perf_counter()
    count = 0
    for programme in planner.active_programmes():
        for candidates in planner.CANDIDATES[programme.trigger](programme, now):
            count += len(candidates)
            db.session.rollback()
    return time.perf_counter() - started, count


def measure(url: str, runs: int) -> dict[str, Any]:
    """In this process: `runs` fresh plans of the wave; the numbers as JSON-able values."""
    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from portal import create_app
    from portal.core.extensions import db
    from portal.surveys.models import SurveyInvitation
    from portal.surveys.planner import plan

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-surveys"})
    results = []
    with app.app_context():
        upgrade()
        start_rss = rss_now_mb()
        for _ in range(runs):
            fresh_state()
            floor_seconds, candidates = floor(PLAN_AT)
            started = time.perf_counter()
            summary = plan(PLAN_AT)
            seconds = time.perf_counter() - started
            again = plan(PLAN_AT)
            invitations = db.session.scalar(select(func.count()).select_from(SurveyInvitation))
            results.append(
                {
                    "seconds": seconds,
                    "floor": floor_seconds,
                    "candidates": candidates,
                    "invitations": invitations,
                    "summary": summary,
                    "rerun_added": sum(again["invited"].values()) + sum(again["not_sent"].values()),
                    "rss_after": rss_now_mb(),
                }
            )
            print(
                f"    plan {seconds:5.1f}s  floor {floor_seconds:4.1f}s  "
                f"ratio {seconds / max(floor_seconds, 1e-9):4.1f}  invitations {invitations:,}  "
                f"RSS {rss_now_mb():.0f} MB",
                file=sys.stderr,
                flush=True,
            )
        dialect = db.engine.dialect.name
    return {
        "dialect": dialect,
        "results": results,
        "start_rss": start_rss,
        "peak_rss": peak_rss_mb(),
    }


def url_for_size(database: str, size: int, override: str | None) -> str:
    return psycopg_url(override or DATABASES[database].format(size=size))


def ensure_dataset(url: str, size: int, rebuild: bool) -> None:
    if rebuild or not dataset_ready(url, size):
        print(f"  building {size:,} customers at {make_url(url).render_as_string()} …")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.care",
                "--build-only",
                "--database-url",
                url,
                "--customers",
                str(size),
            ],
            cwd=PROJECT_ROOT,
            check=True,
        )


def report(measured: dict[int, dict[str, Any]], runs: int, out: Path) -> str:
    dialect = next(iter(measured.values()))["dialect"]
    lines = [
        f"# surveys.plan: a wave on {dialect}",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M}Z, {platform.node()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; {runs} runs per size, each from fresh state.",
        "",
        "| customers | plan s (runs) | median s | floor s | ratio | invitations | not sent | "
        "re-run adds | RSS start / peak MB |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for size, numbers in sorted(measured.items()):
        results = numbers["results"]
        median = statistics.median(r["seconds"] for r in results)
        median_floor = statistics.median(r["floor"] for r in results)
        not_sent = sum(results[0]["summary"]["not_sent"].values())
        each = " / ".join(f"{r['seconds']:.1f}" for r in results)
        lines.append(
            f"| {size:,} | {each} | "
            f"**{median:.1f}** | {median_floor:.2f} | {median / max(median_floor, 1e-9):.1f} | "
            f"{results[0]['invitations']:,} | {not_sent:,} | "
            f"{max(r['rerun_added'] for r in results)} | "
            f"{numbers['start_rss']:.0f} / **{numbers['peak_rss']:.0f}** |"
        )
    largest = measured[max(measured)]
    median = statistics.median(r["seconds"] for r in largest["results"])
    verdict = "met" if median < TARGET_SECONDS else "NOT met"
    reasons = largest["results"][0]["summary"]["reasons"]
    lines += [
        "",
        f"{max(measured):,} customers: median **{median:.1f} s** (target under "
        f"{TARGET_SECONDS:.0f} s: {verdict}).",
        "",
        "Invitations not sent, by the policy's reason (largest size, first run): "
        + (", ".join(f"{reason} {n:,}" for reason, n in reasons.items()) or "none"),
    ]
    text = "\n".join(lines) + "\n"
    write_text(out, text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=sorted(DATABASES), default="sqlite")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rebuild", action="store_true", help="build the datasets again")
    parser.add_argument("--database-url", help="one size only: its database")
    parser.add_argument("--measure-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.database_url and len(args.sizes) != 1:
        parser.error("--database-url goes with one size")
    if args.measure_only:
        url = url_for_size(args.database, args.sizes[0], args.database_url)
        print(json.dumps(measure(url, args.runs)))
        return
    measured = {}
    for size in args.sizes:
        url = url_for_size(args.database, size, args.database_url)
        ensure_dataset(url, size, args.rebuild)
        print(f"Planning a wave to {size:,} customers ({args.database}), {args.runs} runs:")
        child = subprocess.run(  # its own process: its peak RSS is this size's alone
            [
                sys.executable,
                "-m",
                "bench.surveys_plan",
                "--measure-only",
                "--database",
                args.database,
                "--sizes",
                str(size),
                "--runs",
                str(args.runs),
                *(["--database-url", args.database_url] if args.database_url else []),
            ],
            cwd=PROJECT_ROOT,
            check=True,
            capture_output=False,
            stdout=subprocess.PIPE,
            text=True,
        )
        measured[size] = json.loads(child.stdout.strip().splitlines()[-1])
    out = args.out or RESULTS / f"surveys-plan-{next(iter(measured.values()))['dialect']}.md"
    print(report(measured, args.runs, out))
    print(f"Report: {out}")


if __name__ == "__main__":
    main()
