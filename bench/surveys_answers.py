"""Survey answers per second through the answer page, served by gunicorn on PostgreSQL.

Builds its own database (dropped and made again each run), makes invitations in bulk, starts
gunicorn with 4 workers, and drives it with a bounded asyncio client of its own: for each
invitation it GETs /s/<token> as a browser would, takes the session cookie and the CSRF token
from the page, and POSTs an answer (10 % detractors, whose answers open follow-up tickets).
Some answers are posted twice on purpose and must come back "already answered". It reports
answers/s (median over the runs), errors, answers the database holds twice (must be 0),
follow-up tickets, and a floor measured in the same run: GET /healthz (one database ping)
through the same gunicorn at the same concurrency.

    python -m bench.surveys_answers [--database-url postgresql://postgres@127.0.0.1/portal_bench_answers]

See bench/README.md for what the numbers mean.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bench.common import PROJECT_ROOT, RESULTS, code_version, psycopg_url, write_text
from tests.support.live_server import free_port

DEFAULT_URL = "postgresql://postgres@127.0.0.1/portal_bench_answers"
SECRET = "bench-surveys-answers"  # noqa: S105  (signs the links of a throwaway database)
WORKERS = 4
TARGET_PER_SECOND = 300.0
DETRACTOR_SHARE = 0.10
DUPLICATE_SHARE = 0.02
TICKETS = 200  # real tickets the invitations are about, so answers copy real facts
_CSRF = re.compile(rb'name="csrf_token" value="([^"]+)"')


# ---------------------------------------------------------------- the database


def build(url: str, invitations: int) -> list[str]:
    """A fresh database at the latest migration with one NPS programme routed to RMs, customers
    with RMs, TICKETS closed tickets and `invitations` invitations about them; the tokens."""
    from flask_migrate import upgrade

    from portal import create_app
    from portal.core.extensions import db
    from portal.core.transaction import transaction
    from portal.customers.models import Customer
    from portal.surveys.invitations import new_invitation
    from portal.surveys.models import SurveyInvitation, SurveyProgramme
    from portal.tickets import services
    from portal.tickets.models import Ticket
    from tests.factories import make_actor, make_user

    target = make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}"'))
        connection.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET})
    with app.app_context():
        upgrade()
        rms = [make_user(role="rm", name=f"Bench RM {n}") for n in range(10)]
        programme = SurveyProgramme(
            name="Bench NPS",
            metric="nps",
            trigger="ticket_closed",
            active=True,
            question_en="How likely are you to recommend us to a friend?",
            question_zh="您有多大可能向朋友推荐我们？",
            comment_prompt_en="What is the main reason for your score?",
            comment_prompt_zh="您给出这个分数的主要原因是什么？",
            choices=[],
            route="rm",
        )
        db.session.add(programme)
        now = datetime.now(UTC)
        customers = [
            Customer(
                number=f"B{n:08d}",
                name=f"Bench Customer {n}",
                locale="en" if n % 2 else "zh_Hans",
                segment="mass",
                owner_id=rms[n % len(rms)].id,
            )
            for n in range(invitations)
        ]
        db.session.add_all(customers)
        db.session.commit()
        handler = make_actor("handler")
        ticket_ids = []
        with transaction():
            for n in range(TICKETS):
                ticket = services.create_ticket(
                    handler,
                    services.TicketInput(
                        kind="complaint",
                        subject=f"Bench complaint {n}",
                        channel_code="A0303",
                        business_code="B0302",
                        cause_code="C07",
                        customer_id=customers[n].id,
                        product="Gold card",
                    ),
                )
                ticket_ids.append(ticket.id)
        db.session.execute(
            sa.update(Ticket)
            .where(Ticket.id.in_(ticket_ids))
            .values(status="closed", is_open=False, resolved_at=now, closed_at=now)
        )
        rows, tokens = [], []
        for n, customer in enumerate(customers):
            made = new_invitation(
                programme,
                dedupe_key=f"bench:{n}",
                customer_id=customer.id,
                send_at=now - timedelta(hours=1),
                locale=customer.locale,
                ticket_id=ticket_ids[n % TICKETS],
                subject_label=f"CMP-2026-{n:06d}",
            )
            rows.append(made.values)
            tokens.append(made.token)
        db.session.execute(sa.insert(SurveyInvitation), rows)
        db.session.commit()
        db.engine.dispose()
    return tokens


def tally(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        answers = connection.execute(sa.text("SELECT count(*) FROM survey_answers")).scalar_one()
        twice = connection.execute(
            sa.text(
                "SELECT count(*) FROM (SELECT invitation_id FROM survey_answers "
                "GROUP BY invitation_id HAVING count(*) > 1) AS doubled"
            )
        ).scalar_one()
        follow_ups = connection.execute(
            sa.text("SELECT count(*) FROM tickets WHERE source = 'survey'")
        ).scalar_one()
        unhappy = connection.execute(
            sa.text("SELECT count(*) FROM survey_answers WHERE score <= 6")
        ).scalar_one()
    engine.dispose()
    return {"answers": answers, "twice": twice, "follow_ups": follow_ups, "unhappy": unhappy}


# ---------------------------------------------------------------- gunicorn


def start_gunicorn(url: str, port: int, worker_class: str, threads: int) -> subprocess.Popen[bytes]:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("FLASK_", "PORTAL_"))
    }
    env.update(
        {
            "PORTAL_ENV": "production",
            "DATABASE_URL": url,
            "SECRET_KEY": SECRET,
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            # One client address sends every request here: the per-IP limit would stop it.
            "SURVEY_PAGE_LIMIT": "100000000 per minute",
            "RATELIMIT_STORAGE_URI": "memory://",
            "LOG_LEVEL": "WARNING",
        }
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(WORKERS),
            "--worker-class",
            worker_class,
            "--threads",
            str(threads),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "wsgi:app",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return process
        except (urllib.error.URLError, OSError):
            if process.poll() is not None:
                raise SystemExit("gunicorn exited before answering /healthz") from None
            time.sleep(0.3)
    process.terminate()
    raise SystemExit("gunicorn did not answer /healthz within 60 s")


# ---------------------------------------------------------------- where the CPU goes


@dataclass
class Cpu:
    """CPU seconds used so far by the gunicorn processes, the database server's backends for
    the bench database and this process (the load generator); Linux /proc only."""

    gunicorn: float
    database: float
    client: float

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(
            self.gunicorn - other.gunicorn,
            self.database - other.database,
            self.client - other.client,
        )

    @property
    def total(self) -> float:
        return self.gunicorn + self.database + self.client


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of process `pid`, 0 when it is gone."""
    try:
        after_name = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(after_name[11]) + int(after_name[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == pid:
                found.append(int(entry.name))
    return found


def cpu_now(server: subprocess.Popen[bytes], backends: sa.Engine) -> Cpu:
    with backends.connect() as connection:
        pids = connection.execute(
            sa.text(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalars()
        database = sum(_cpu_seconds(pid) for pid in pids)
    gunicorn = sum(_cpu_seconds(pid) for pid in [server.pid, *_children(server.pid)])
    return Cpu(gunicorn, database, time.process_time())


# ---------------------------------------------------------------- the load generator


@dataclass
class Response:
    status: int
    cookies: dict[str, str]
    body: bytes


class Connection:
    """One client connection, kept open between requests while the server keeps it (HTTP/1.1
    keep-alive; gunicorn's sync workers close each, gthread workers keep it)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.opened = 0

    async def request(
        self, method: str, path: str, body: bytes = b"", cookies: dict[str, str] | None = None
    ) -> Response:
        if self.streams is None:
            self.streams = await asyncio.open_connection("127.0.0.1", self.port)
            self.opened += 1
        reader, writer = self.streams
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", "Accept-Language: en"]
        if cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items()))
        if method == "POST":
            lines += [
                "Content-Type: application/x-www-form-urlencoded",
                f"Content-Length: {len(body)}",
            ]
        try:
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            head = await reader.readuntil(b"\r\n\r\n")
            header_lines = head[:-4].decode("latin-1").split("\r\n")
            status = int(header_lines[0].split()[1])
            jar, length, closing = {}, None, False
            for line in header_lines[1:]:
                name, _, value = line.partition(":")
                name = name.lower()
                if name == "set-cookie":
                    key, _, cookie = value.strip().split(";", 1)[0].partition("=")
                    jar[key] = cookie
                elif name == "content-length":
                    length = int(value)
                elif name == "connection":
                    closing = value.strip().lower() == "close"
            content = await (reader.read(-1) if length is None else reader.readexactly(length))
        except BaseException:
            self.close()
            raise
        if closing or length is None:
            self.close()
        return Response(status, jar, content)

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


# What a request that went wrong raises: the connection failed or the answer was not HTTP.
_FAILURES = (OSError, ValueError, IndexError, asyncio.IncompleteReadError)


@dataclass
class Run:
    seconds: float
    answers: int
    errors: list[str] = field(default_factory=list)
    cpu: Cpu | None = None
    connections: int = 0  # opened by the client: one per request unless kept alive
    duplicates_refused: int = 0
    detractors: int = 0

    @property
    def per_second(self) -> float:
        return self.answers / self.seconds


async def answer_one(connection: Connection, token: str, score: int, twice: bool, run: Run) -> None:
    page = await connection.request("GET", f"/s/{token}")
    found = _CSRF.search(page.body)
    if page.status != 200 or not found:
        run.errors.append(f"GET {page.status}")
        return
    form = {
        "csrf_token": found.group(1).decode(),
        "score": str(score),
        "comment": "Nobody called me back" if score <= 6 else "Quick and clear",
    }
    body = urlencode(form).encode()
    sent = await connection.request("POST", f"/s/{token}", body, page.cookies)
    if sent.status != 200 or b'id="thanks"' not in sent.body:
        run.errors.append(f"POST {sent.status}")
        return
    run.answers += 1
    if twice:
        again = await connection.request("POST", f"/s/{token}", body, page.cookies)
        if again.status == 409 and b'id="answered"' in again.body:
            run.duplicates_refused += 1
        else:
            run.errors.append(f"second POST {again.status}")


async def drive(port: int, tokens: list[str], concurrency: int, seed: int) -> Run:
    rng = random.Random(seed)
    jobs: asyncio.Queue[tuple[str, int, bool]] = asyncio.Queue()
    run = Run(0.0, 0)
    for token in tokens:
        detractor = rng.random() < DETRACTOR_SHARE
        run.detractors += detractor
        score = rng.randint(0, 6) if detractor else rng.randint(7, 10)
        jobs.put_nowait((token, score, rng.random() < DUPLICATE_SHARE))

    async def worker(connection: Connection) -> None:
        while not jobs.empty():
            token, score, twice = jobs.get_nowait()
            try:
                await answer_one(connection, token, score, twice, run)
            except _FAILURES as error:
                run.errors.append(f"{type(error).__name__}: {error}")
        connection.close()

    connections = [Connection(port) for _ in range(concurrency)]
    started = time.perf_counter()
    await asyncio.gather(*(worker(connection) for connection in connections))
    run.seconds = time.perf_counter() - started
    run.connections = sum(connection.opened for connection in connections)
    return run


async def floor(port: int, requests: int, concurrency: int) -> tuple[float, int]:
    """GET /healthz `requests` times at `concurrency`: requests/s and errors."""
    remaining = list(range(requests))
    errors = 0

    async def worker(connection: Connection) -> None:
        nonlocal errors
        while remaining:
            remaining.pop()
            try:
                ok = (await connection.request("GET", "/healthz")).status == 200
            except _FAILURES:
                ok = False
            errors += not ok
        connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(Connection(port)) for _ in range(concurrency)))
    return requests / (time.perf_counter() - started), errors


# ---------------------------------------------------------------- main


def _per_answer(run: Run) -> str:
    return _cpu_each(run.cpu, run.answers)


def _cpu_each(cpu: Cpu | None, count: int) -> str:
    """`cpu` per one of `count` (an answer, a request) in ms, by process."""
    if cpu is None or not count:
        return "-"
    gunicorn, database, client = (
        1000 * part / count for part in (cpu.gunicorn, cpu.database, cpu.client)
    )
    return f"{gunicorn:.1f} + {database:.1f} + {client:.1f} = {gunicorn + database + client:.1f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL, help="PostgreSQL; dropped first")
    parser.add_argument("--answers", type=int, default=3000, help="answers per run")
    parser.add_argument("--runs", type=int, default=3, help="timed runs (median reported)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--worker-class", default="sync", help="gunicorn's: sync or gthread")
    parser.add_argument("--threads", type=int, default=1, help="threads per gthread worker")
    parser.add_argument("--out", type=Path, default=RESULTS / "surveys-answers.md")
    args = parser.parse_args(argv)
    url = psycopg_url(args.database_url)
    if not url.startswith("postgresql"):
        parser.error("the answer benchmark runs on PostgreSQL")

    warmup = 200
    total = warmup + args.answers * args.runs
    print(f"building {make_url(url).database}: {total} invitations …", flush=True)
    tokens = build(url, total)
    port = free_port()
    server = start_gunicorn(url, port, args.worker_class, args.threads)
    backends = sa.create_engine(url, poolclass=sa.pool.NullPool)
    runs: list[Run] = []
    floors: list[tuple[float, int]] = []
    floor_cpus: list[Cpu] = []
    try:
        asyncio.run(drive(port, tokens[:warmup], args.concurrency, seed=0))
        for number in range(args.runs):
            chunk = tokens[warmup + number * args.answers : warmup + (number + 1) * args.answers]
            before = cpu_now(server, backends)
            floors.append(asyncio.run(floor(port, 2 * args.answers, args.concurrency)))
            floor_cpus.append(cpu_now(server, backends) - before)
            before = cpu_now(server, backends)
            run = asyncio.run(drive(port, chunk, args.concurrency, seed=number + 1))
            run.cpu = cpu_now(server, backends) - before
            runs.append(run)
            print(
                f"run {number + 1}: {run.per_second:.0f} answers/s ({run.answers} in "
                f"{run.seconds:.1f} s), {len(run.errors)} errors, "
                f"{run.duplicates_refused} second posts refused; floor "
                f"{floors[-1][0]:.0f} GET /healthz/s "
                f"({_cpu_each(floor_cpus[-1], 2 * args.answers)} each); "
                f"CPU per answer {_per_answer(run)}; "
                f"{run.connections} connections",
                flush=True,
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
        backends.dispose()
    counts = tally(url)
    median = statistics.median(r.per_second for r in runs)
    floor_median = statistics.median(f[0] for f in floors)
    floor_cpu_ms = statistics.median(1000 * c.total / (2 * args.answers) for c in floor_cpus)
    errors = sum(len(r.errors) for r in runs)
    # The floor is requests/s; an answer is two requests (the page, then the POST).
    ratio = (floor_median / 2) / median
    sent_twice = sum(r.duplicates_refused for r in runs)
    sent = warmup + sum(r.answers for r in runs)
    cpu_ms = statistics.median(1000 * r.cpu.total / r.answers for r in runs if r.cpu)
    lines = [
        "# Survey answers through the answer page (gunicorn, PostgreSQL)\n",
        f"- run: {datetime.now(UTC):%Y-%m-%d %H:%M UTC}, {WORKERS} gunicorn {args.worker_class} "
        f"workers ({args.threads} thread(s) each), "
        f"{args.concurrency} requests in flight, {os.cpu_count()} CPUs",
        f"- portal code: {code_version()}",
        "",
        "| run | answers | seconds | answers/s | errors | second posts refused "
        "| floor GET /healthz/s | CPU ms per answer: gunicorn + PostgreSQL + client |",
        "|---|---|---|---|---|---|---|---|",
        *(
            f"| {n} | {r.answers} | {r.seconds:.1f} | {r.per_second:.0f} | {len(r.errors)} | "
            f"{r.duplicates_refused} | {f[0]:.0f} | {_per_answer(r)} |"
            for n, (r, f) in enumerate(zip(runs, floors, strict=True), 1)
        ),
        "",
        f"- **median: {median:.0f} answers/s** (target ≥ {TARGET_PER_SECOND:.0f}), errors {errors}",
        f"- floor: {floor_median:.0f} GET /healthz/s; ratio (floor/2 ÷ answers/s) {ratio:.2f}; "
        f"a GET /healthz costs {floor_cpu_ms:.2f} ms of CPU, an answer "
        f"{cpu_ms / floor_cpu_ms:.1f} times that",
        f"- CPU per answer (median): {cpu_ms:.1f} ms, so {os.cpu_count()} CPUs given to this "
        f"alone would carry at most {1000 * (os.cpu_count() or 1) / cpu_ms:.0f} answers/s",
        f"- in the database: {counts['answers']} answers for {sent} sent, "
        f"**{counts['twice']} invitations answered twice**, {sent_twice} second posts refused, "
        f"{counts['unhappy']} detractors, {counts['follow_ups']} follow-up tickets",
    ]
    if errors:
        lines += ["", "Errors (first 20):", *(f"- {e}" for r in runs for e in r.errors[:20])]
    report = "\n".join(lines) + "\n"
    write_text(args.out, report)
    print(report)
    ok = (
        errors == 0
        and counts["twice"] == 0
        and counts["follow_ups"] == counts["unhappy"]
        and counts["answers"] == sent
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
