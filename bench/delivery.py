"""Outbox delivery to a local SMTP sink: one worker against plain smtplib, and three workers.

    python -m bench.delivery                    # SQLite, and PostgreSQL when reachable
    python -m bench.delivery --database postgresql --sizes 2000,10000 --repeat 5

Each backend gets a scratch database (a file under a temporary directory, or a database created
on the PostgreSQL server and dropped afterwards) filled with N queued birthday greetings to as
many customers, as the outbox holds them: template and values, which the worker renders. The
sink is aiosmtpd in a process of its own that counts what it accepts by Message-ID. For every
size it alternates, `--repeat` times:

- **portal**: one in-process worker (`deliver_due`, batches of 100, one SMTP connection)
  delivering all N: claim, render, build, send, record the outcomes;
- **floor**: plain `smtplib` sending the same `EmailMessage`s, rendered and built beforehand,
  over one connection; and, for reference, the same with the rendering and building timed too.

It reports messages per second (median) and the floor-to-portal ratio. Then, on PostgreSQL,
three `flask messaging deliver --until-empty` processes deliver the largest size together, and
the sink's count proves zero duplicates and zero losses. See bench/README.md.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import platform
import re
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import make_msgid, parseaddr
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bench.common import PROJECT_ROOT, RESULTS, git, psycopg_url, write_text
from tests.support.databases import scratch_postgres

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_RATE = 300.0  # messages per second, one worker
TARGET_RATIO = 2.0  # floor rate / portal rate
WORKERS = 3
BATCH = 100


# ---------------------------------------------------------------- the sink (its own process)

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


class _CountingHandler:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.ids: Counter[bytes] = Counter()
        self.first: float | None = None
        self.last: float | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        found = _MESSAGE_ID.search(envelope.content)
        self.ids[found.group(1) if found else b"?"] += 1
        self.last = time.time()
        if self.first is None:
            self.first = self.last
        return "250 OK"


def _sink_main(port: int, connection: Any) -> None:
    from aiosmtpd.controller import Controller

    handler = _CountingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    connection.send("ready")
    while True:
        command = connection.recv()
        if command == "reset":
            handler.reset()
            connection.send("ok")
        elif command == "report":
            connection.send(
                ({k.decode(): v for k, v in handler.ids.items()}, handler.first, handler.last)
            )
        else:
            break
    controller.stop()


class Sink:
    def __init__(self) -> None:
        from tests.support.live_server import free_port

        self.port = free_port()
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_sink_main, args=(self.port, child), daemon=True)
        self._process.start()
        if not self._pipe.poll(30) or self._pipe.recv() != "ready":
            raise SystemExit("bench: the SMTP sink did not start")

    def reset(self) -> None:
        self._pipe.send("reset")
        self._pipe.recv()

    def report(self) -> tuple[Counter[str], float | None, float | None]:
        self._pipe.send("report")
        ids, first, last = self._pipe.recv()
        return Counter(ids), first, last

    def close(self) -> None:
        self._pipe.send("stop")
        self._process.join(10)


# ---------------------------------------------------------------- scratch databases


@contextmanager
def scratch_database(backend: str, postgres: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-delivery-") as directory:
            yield f"sqlite:///{directory}/outbox.sqlite3"
        return
    name = f"portal_bench_delivery_{uuid.uuid4().hex[:8]}"
    with scratch_postgres(psycopg_url(postgres), name) as url:
        yield url


def postgres_reachable(url: str) -> str | None:
    try:
        engine = sa.create_engine(psycopg_url(url))
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        engine.dispose()
    except sa.exc.SQLAlchemyError as error:
        return f"{error.__class__.__name__}: {str(error).splitlines()[0]}"
    return None


def fill_outbox(app: Any, count: int) -> None:
    """`count` queued, due birthday greetings to as many Chinese-writing customers, as
    `services.queue` writes them: template key, language and values, rendered by the worker."""
    from portal.core.extensions import db
    from portal.customers.models import Customer
    from portal.messaging.models import Message

    with app.app_context():
        db.session.execute(sa.delete(Message))
        db.session.execute(sa.delete(Customer))
        now = datetime.now(UTC)
        customers = [
            {
                "id": number + 1,
                "number": f"B{number:08d}",
                "name": f"王小明{number}",
                "email": f"customer{number}@mail.example.com",
                "locale": "zh_Hans",
                "timezone": "Asia/Shanghai",
                "segment": "mass",
                "consent_care": True,
                "consent_survey": True,
                "consent_service": True,
                "in_arrears": False,
                "hardship": False,
                "vulnerable": False,
                "deceased": False,
                "do_not_contact": False,
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
            for number in range(count)
        ]
        rows = [
            {
                "dedupe_key": f"bench:{number}",
                "purpose": "care",
                "kind": "birthday",
                "transactional": False,
                "customer_id": number + 1,
                "to_address": f"customer{number}@mail.example.com",
                "locale": "zh_Hans",
                "template_key": "birthday",
                "context": {},
                "subject": "",
                "body_text": "",
                "body_html": "",
                "headers": {},
                "message_id": make_msgid(domain="portal.example.com"),
                "status": "queued",
                "attempts": 0,
                "next_attempt_at": now - timedelta(minutes=1),
                "created_at": now - timedelta(minutes=2),
            }
            for number in range(count)
        ]
        for start in range(0, count, 1000):
            db.session.execute(sa.insert(Customer), customers[start : start + 1000])
            db.session.execute(sa.insert(Message), rows[start : start + 1000])
        db.session.commit()
    vacuum(app)


def requeue(app: Any) -> None:
    from portal.core.extensions import db
    from portal.messaging.models import Message

    with app.app_context():
        db.session.execute(
            sa.update(Message).values(
                status="queued",
                attempts=0,
                sent_at=None,
                claimed_by=None,
                claimed_until=None,
                last_error=None,
                next_attempt_at=datetime.now(UTC) - timedelta(minutes=1),
                subject="",  # as queued: the text is rendered and stored when sent
                body_text="",
                body_html="",
                headers={},
            )
        )
        db.session.commit()
    vacuum(app)


def vacuum(app: Any) -> None:
    """PostgreSQL: clear the dead rows the previous run left, so runs start alike."""
    from portal.core.extensions import db

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            return
        with db.engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.exec_driver_sql("VACUUM ANALYZE messages")


def statuses(app: Any) -> dict[str, int]:
    from portal.core.extensions import db
    from portal.messaging.models import Message

    with app.app_context():
        found = dict(
            db.session.execute(
                sa.select(Message.status, sa.func.count()).group_by(Message.status)
            ).all()
        )
        db.session.rollback()
        return found


def expected_ids(app: Any) -> set[str]:
    from portal.core.extensions import db
    from portal.messaging.models import Message

    with app.app_context():
        ids = set(db.session.scalars(sa.select(Message.message_id)))
        db.session.rollback()
        return ids


# ---------------------------------------------------------------- what is measured


@dataclass
class Check:
    """What the sink saw against the outbox: duplicates and losses."""

    expected: int
    received: int = 0
    duplicates: int = 0  # extra copies of a message received more than once
    lost: int = 0  # messages of the outbox never received
    unknown: int = 0
    not_sent: int = 0  # rows not marked sent

    @property
    def clean(self) -> bool:
        return not (self.duplicates or self.lost or self.unknown or self.not_sent)

    def describe(self) -> str:
        return (
            f"received {self.received:,} of {self.expected:,}; duplicates {self.duplicates}, "
            f"lost {self.lost}, unknown {self.unknown}, rows not sent {self.not_sent}"
        )


def check(app: Any, sink: Sink) -> tuple[Check, float | None]:
    ids, first, last = sink.report()
    wanted = expected_ids(app)
    result = Check(expected=len(wanted))
    result.received = sum(ids.values())
    result.duplicates = sum(n - 1 for n in ids.values() if n > 1)
    result.lost = len(wanted - set(ids))
    result.unknown = len(set(ids) - wanted)
    result.not_sent = sum(n for status, n in statuses(app).items() if status != "sent")
    span = (last - first) if first is not None and last is not None else None
    return result, span


@dataclass
class SizeResult:
    backend: str
    size: int
    portal: list[float] = field(default_factory=list)  # messages per second
    floor: list[float] = field(default_factory=list)
    floor_with_build: list[float] = field(default_factory=list)
    connections: list[int] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        if not self.portal or not self.floor:
            return math.nan
        return statistics.median(self.floor) / statistics.median(self.portal)


def portal_run(app: Any, sink: Sink) -> tuple[float, int, Check]:
    from portal.messaging.delivery import deliver_due
    from portal.messaging.transports import SmtpTransport

    requeue(app)
    sink.reset()
    transport = SmtpTransport("127.0.0.1", sink.port, timeout=30)
    with app.app_context():
        count = len(expected_ids(app))
        started = time.perf_counter()
        report = deliver_due(datetime.now(UTC), transport=transport, batch_size=BATCH)
        elapsed = time.perf_counter() - started
    outcome, _ = check(app, sink)
    if report.sent != count:
        outcome.not_sent = max(outcome.not_sent, count - report.sent)
    return count / elapsed, transport.connections, outcome


def floor_runs(app: Any, sink: Sink) -> tuple[float, float]:
    """(send only, render, build and send): plain smtplib, one connection, the same messages,
    rendered by the portal's composer as the worker renders them."""
    from portal.core.extensions import db
    from portal.messaging.compose import Composer, names_of
    from portal.messaging.delivery import _COLUMNS
    from portal.messaging.mime import Outgoing, build_email
    from portal.messaging.models import Message

    with app.app_context():
        sender = app.config["MAIL_FROM"]
        rows = db.session.execute(sa.select(*_COLUMNS).order_by(Message.id)).all()
        names = names_of(row.customer_id for row in rows)
        composer = Composer()
        composer.load({(row.template_key, row.locale) for row in rows if row.template_key})
        db.session.rollback()

        def outgoing_of(row: Any) -> Outgoing:
            content = composer.compose(row, names.get(row.customer_id))
            return Outgoing(
                row.id,
                row.to_address,
                content.subject,
                content.body_text,
                content.body_html,
                content.headers,
                row.message_id,
                row.attempts,
            )

        envelope_from = parseaddr(sender)[1]

        def send_all(build_too: bool, prebuilt: list[Any]) -> float:
            sink.reset()
            smtp = smtplib.SMTP("127.0.0.1", sink.port, timeout=30)
            started = time.perf_counter()
            for index, row in enumerate(rows):
                message = (
                    build_email(outgoing_of(row), sender, datetime.now(UTC))
                    if build_too
                    else prebuilt[index]
                )
                smtp.send_message(message, from_addr=envelope_from, to_addrs=[row.to_address])
            elapsed = time.perf_counter() - started
            smtp.quit()
            return len(rows) / elapsed

        now = datetime.now(UTC)
        prebuilt = [build_email(outgoing_of(row), sender, now) for row in rows]
        send_only = send_all(False, prebuilt)
        with_build = send_all(True, prebuilt)
    return send_only, with_build


@dataclass
class WorkersResult:
    backend: str
    size: int
    wall: float
    sink_span: float | None
    per_worker: list[int]
    codes: list[int]
    outcome: Check
    errors: list[str]


def workers_run(app: Any, url: str, sink: Sink, size: int) -> WorkersResult:
    requeue(app)
    sink.reset()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "PORTAL_"))}
    env.update(
        {
            "DATABASE_URL": url,
            "FLASK_APP": "wsgi",
            "SECRET_KEY": "bench",
            "MAIL_TRANSPORT": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(sink.port),
            "SMTP_TIMEOUT": "30",
            "LOG_LEVEL": "WARNING",
        }
    )
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flask",
                "messaging",
                "deliver",
                "--until-empty",
                "--batch",
                str(BATCH),
                "--worker",
                f"bench-{number}",
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for number in range(1, WORKERS + 1)
    ]
    outputs = [process.communicate(timeout=600) for process in processes]
    wall = time.perf_counter() - started
    per_worker = []
    errors = []
    for (stdout, stderr), process in zip(outputs, processes, strict=True):
        found = re.search(r": (\d+) sent,", stdout)
        per_worker.append(int(found.group(1)) if found else -1)
        if process.returncode != 0 or "Traceback" in stderr:
            errors.append(stderr[-2000:])
    outcome, span = check(app, sink)
    return WorkersResult(
        backend=make_url(url).get_backend_name(),
        size=size,
        wall=wall,
        sink_span=span,
        per_worker=per_worker,
        codes=[process.returncode for process in processes],
        outcome=outcome,
        errors=errors,
    )


# ---------------------------------------------------------------- running and reporting


def make_app(url: str, sink: Sink) -> Any:
    from portal import create_app
    from portal.core.extensions import db

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": psycopg_url(url),
            "SECRET_KEY": "bench",
            "MAIL_TRANSPORT": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": sink.port,
            "LOG_LEVEL": "WARNING",
        }
    )
    with app.app_context():
        db.create_all()
    return app


def run_backend(
    backend: str, args: argparse.Namespace, sink: Sink
) -> tuple[list[SizeResult], list[WorkersResult]]:
    sizes: list[SizeResult] = []
    workers: list[WorkersResult] = []
    with scratch_database(backend, args.postgres) as url:
        app = make_app(url, sink)
        for size in args.sizes:
            fill_outbox(app, size)
            result = SizeResult(backend, size)
            for _ in range(args.repeat):
                rate, connections, outcome = portal_run(app, sink)
                result.portal.append(rate)
                result.connections.append(connections)
                result.checks.append(outcome)
                send_only, with_build = floor_runs(app, sink)
                result.floor.append(send_only)
                result.floor_with_build.append(with_build)
            sizes.append(result)
            print(format_size(result), flush=True)
        if backend == "postgresql" or args.workers_on_sqlite:
            fill_outbox(app, args.workers_size)
            for _ in range(args.workers_repeat):
                outcome = workers_run(app, url, sink, args.workers_size)
                workers.append(outcome)
                print(format_workers(outcome), flush=True)
        with app.app_context():
            from portal.core.extensions import db

            db.engine.dispose()
    return sizes, workers


def format_size(result: SizeResult) -> str:
    portal = statistics.median(result.portal)
    floor = statistics.median(result.floor)
    with_build = statistics.median(result.floor_with_build)
    clean = all(c.clean for c in result.checks)
    return (
        f"{result.backend:<10} one worker, {result.size:>6,} msgs: portal {portal:7.0f} msg/s "
        f"(runs {', '.join(f'{r:.0f}' for r in result.portal)}), floor {floor:7.0f} msg/s "
        f"(with building {with_build:.0f}), ratio {result.ratio:.2f}×, connections "
        f"{max(result.connections)}, {'every message once' if clean else 'NOT CLEAN'}"
    )


def format_workers(result: WorkersResult) -> str:
    rate = result.size / result.sink_span if result.sink_span else math.nan
    return (
        f"{result.backend:<10} {WORKERS} workers, {result.size:,} msgs: wall {result.wall:.1f} s "
        f"incl. start-up, sink first→last {result.sink_span or math.nan:.1f} s ({rate:.0f} msg/s); "
        f"per worker {result.per_worker}; {result.outcome.describe()}"
        + (f"; exit codes {result.codes}" if any(result.codes) else "")
    )


def machine() -> str:
    commit = git("rev-parse", "--short", "HEAD")
    commit = "?" if commit is None else commit.strip()
    return (
        f"{datetime.now(UTC):%Y-%m-%d}, commit {commit} (plus working tree), "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.platform()}"
    )


def write_report(
    path: Path, sizes: list[SizeResult], workers: list[WorkersResult], args: argparse.Namespace
) -> None:
    lines = [
        "# Outbox delivery to a local aiosmtpd sink",
        "",
        f"{machine()}; batches of {BATCH}; {args.repeat} alternating runs per size.",
        "",
        "| database | messages | portal msg/s (median) | floor msg/s | ratio | "
        "floor incl. building | runs (portal) | all delivered once |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in sizes:
        lines.append(
            f"| {r.backend} | {r.size:,} | {statistics.median(r.portal):.0f} | "
            f"{statistics.median(r.floor):.0f} | {r.ratio:.2f}× | "
            f"{statistics.median(r.floor_with_build):.0f} | "
            f"{', '.join(f'{x:.0f}' for x in r.portal)} | "
            f"{'yes' if all(c.clean for c in r.checks) else 'NO'} |"
        )
    if workers:
        lines += [
            "",
            f"| database | {WORKERS} workers, messages | wall incl. start-up | sink span | "
            "msg/s | per worker | duplicates | lost | rows not sent |",
            "|---|---:|---:|---:|---:|---|---:|---:|---:|",
        ]
        for w in workers:
            rate = w.size / w.sink_span if w.sink_span else math.nan
            lines.append(
                f"| {w.backend} | {w.size:,} | {w.wall:.1f} s | {w.sink_span or math.nan:.1f} s | "
                f"{rate:.0f} | {w.per_worker} | {w.outcome.duplicates} | {w.outcome.lost} | "
                f"{w.outcome.not_sent} |"
            )
    write_text(path, "\n".join(lines) + "\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database", choices=("sqlite", "postgresql", "both"), default="both", help="backend(s)"
    )
    parser.add_argument(
        "--postgres", default=DEFAULT_POSTGRES, help="a PostgreSQL server to make scratch DBs on"
    )
    parser.add_argument("--sizes", default="2000,10000", help="outbox sizes, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs per size")
    parser.add_argument("--workers-size", type=int, default=10_000)
    parser.add_argument("--workers-repeat", type=int, default=1)
    parser.add_argument(
        "--workers-on-sqlite", action="store_true", help="also run the three workers on SQLite"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "delivery.md")
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(PROJECT_ROOT))
    backends = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    if "postgresql" in backends:
        problem = postgres_reachable(args.postgres)
        if problem:
            if args.database == "postgresql":
                raise SystemExit(f"bench: PostgreSQL at {args.postgres} is unreachable: {problem}")
            print(f"PostgreSQL unreachable ({problem}); SQLite only", file=sys.stderr)
            backends.remove("postgresql")
    print(machine(), flush=True)
    sink = Sink()
    sizes: list[SizeResult] = []
    workers: list[WorkersResult] = []
    try:
        for backend in backends:
            found_sizes, found_workers = run_backend(backend, args, sink)
            sizes += found_sizes
            workers += found_workers
    finally:
        sink.close()
    write_report(args.out, sizes, workers, args)
    print(f"report: {args.out}")
    ok = all(all(c.clean for c in r.checks) for r in sizes) and all(
        w.outcome.clean and not w.errors for w in workers
    )
    for w in workers:
        for error in w.errors:
            print(error, file=sys.stderr)
    for r in sizes:
        misses = []
        if statistics.median(r.portal) < TARGET_RATE:
            misses.append(f"under {TARGET_RATE:.0f} msg/s")
        if r.ratio > TARGET_RATIO:
            misses.append(f"over {TARGET_RATIO:g}× the floor")
        if misses:
            print(f"target missed: {r.backend} {r.size:,}: {', '.join(misses)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
