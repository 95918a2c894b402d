"""Pages read while another process writes: customer search alone, then during an import.

    python -m bench.reads_under_writes --database-url sqlite:////tmp/large.sqlite3 [--rows 30000]

Works on a copy of the given seeded database (a copied file for SQLite, `CREATE DATABASE …
TEMPLATE` for PostgreSQL), which it drops afterwards, so the source is never changed. First it
times the search alone for `--seconds` (the floor), then again for as long as a separate
`flask import customers` process loads `--rows` generated customers and accounts. It prints the
median, p90, p99 and maximum of both, and their ratios. On SQLite this shows whether pages that
only read wait for the writer's lock (see docs/operations.md, "SQLite").
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from bench.common import (
    ADMIN_EMAIL,
    demo_user,
    portal_app,
    signed_in_client,
)
from portal.core.config import PROJECT_ROOT
from portal.customers.imports import COLUMNS
from tests.support.databases import scratch_postgres

URL = "/customers?q=smi"


@contextmanager
def database_copy(url: str, workdir: Path) -> Iterator[str]:
    """A throwaway copy of the database at `url`; yields the copy's URL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        source = Path(parsed.database or "")
        if not source.is_file():
            raise SystemExit(f"bench: no SQLite database at {source}")
        copy = workdir / "copy.sqlite3"
        shutil.copyfile(source, copy)
        yield f"sqlite:///{copy}"
        return
    server = parsed.set(drivername="postgresql+psycopg", database="postgres")
    name = f"{parsed.database}_rw_{uuid.uuid4().hex[:8]}"
    with scratch_postgres(server, name, template=parsed.database) as copy:
        yield copy


def write_import_file(path: Path, rows: int) -> None:
    """`rows` new customers (numbers W0000000…), each with one personal loan."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[column.name for column in COLUMNS])
        writer.writeheader()
        for n in range(rows):
            writer.writerow(
                {
                    "customer_number": f"W{n:07d}",
                    "name": f"并发测试{n}",
                    "email": f"w{n}@mail.example.com",
                    "phone": f"+86 139 {n:08d}",
                    "birthday": "1990-03-07",
                    "language": "zh_Hans",
                    "timezone": "Asia/Shanghai",
                    "segment": "mass",
                    "account_number": f"WL-{n}",
                    "product": "personal_loan",
                    "currency": "CNY",
                    "principal": "1000",
                    "balance": "500",
                    "next_due_date": "2026-12-15",
                    "next_due_amount": "100",
                    "account_status": "active",
                }
            )


def timed(get: Callable[[], int], keep_going: Callable[[], bool]) -> list[float]:
    times: list[float] = []
    while keep_going():
        start = time.perf_counter()
        status = get()
        times.append((time.perf_counter() - start) * 1000)
        if status != 200:
            raise SystemExit(f"bench: {URL} answered {status}")
    return times


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "median": statistics.median(ordered),
        "p90": ordered[int(len(ordered) * 0.9)],
        "p99": ordered[int(len(ordered) * 0.99)],
        "max": ordered[-1],
        "n": len(ordered),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reads_under_writes")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--rows", type=int, default=30_000, help="customers the import loads")
    parser.add_argument("--seconds", type=float, default=8.0, help="how long to time reads alone")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("give --database-url (or set DATABASE_URL)")
    with tempfile.TemporaryDirectory() as tmp, database_copy(args.database_url, Path(tmp)) as url:
        import_file = Path(tmp) / "import.csv"
        write_import_file(import_file, args.rows)
        app = portal_app(url)
        with app.app_context():
            client = signed_in_client(app, demo_user(ADMIN_EMAIL).get_id())
        for _ in range(10):
            client.get(URL)
        get = lambda: client.get(URL).status_code  # noqa: E731
        until = time.monotonic() + args.seconds
        alone = summary(timed(get, lambda: time.monotonic() < until))

        environment = {**os.environ, "DATABASE_URL": url, "FLASK_APP": "wsgi.py"}
        flask = str(Path(sys.executable).with_name("flask"))
        started = time.monotonic()
        writer = subprocess.Popen(
            [flask, "import", "customers", str(import_file)],
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        during = summary(timed(get, lambda: writer.poll() is None))
        import_seconds = time.monotonic() - started
        _, errors = writer.communicate()
        if writer.returncode != 0:
            raise SystemExit(f"bench: the import failed: {errors.decode()[-500:]}")
        with app.app_context():
            from portal.core.extensions import db

            dialect = db.engine.dialect.name
            db.engine.dispose()

    print(f"bench: {dialect}, {URL}, import of {args.rows:,} customers in {import_seconds:.1f} s")
    print(f"{'':20} {'n':>6} {'median':>8} {'p90':>8} {'p99':>8} {'max':>8}")
    for label, row in (("reads alone", alone), ("during the import", during)):
        print(
            f"{label:20} {row['n']:>6} {row['median']:>8.1f} {row['p90']:>8.1f} "
            f"{row['p99']:>8.1f} {row['max']:>8.1f}"
        )
    print(
        f"ratio during/alone: median {during['median'] / alone['median']:.2f}, "
        f"p99 {during['p99'] / alone['p99']:.2f} (milliseconds per request)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
