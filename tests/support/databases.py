"""Which databases the suite runs on, and throwaway databases for tests that need their own."""

import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

ON_CI = os.environ.get("CI", "").lower() == "true"


def postgres_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL", "").strip()
    if not url:
        return None
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def backends() -> list[str]:
    return ["sqlite", "postgresql"] if postgres_url() else ["sqlite"]


def check_postgres_reachable() -> str | None:
    """None when TEST_DATABASE_URL answers, else why not."""
    url = postgres_url()
    if url is None:
        return "TEST_DATABASE_URL is not set"
    try:
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        engine.dispose()
    except sa.exc.SQLAlchemyError as error:
        return (
            f"PostgreSQL at TEST_DATABASE_URL is unreachable: {error.__class__.__name__}: {error}"
        )
    return None


@contextmanager
def fresh_database(backend: str, directory: Path) -> Iterator[str]:
    """An empty database of the given kind, dropped afterwards; yields its URL."""
    if backend == "sqlite":
        path = directory / f"fresh-{uuid.uuid4().hex[:8]}.sqlite3"
        yield f"sqlite:///{path}"
        path.unlink(missing_ok=True)
        return
    base = make_url(postgres_url())
    with scratch_postgres(base, f"{base.database}_{uuid.uuid4().hex[:10]}") as url:
        yield url


@contextmanager
def copy_of_database(backend: str, source_url: str, directory: Path) -> Iterator[str]:
    """A copy of the database at `source_url`, dropped afterwards; yields its URL. On
    PostgreSQL the copy is CREATE DATABASE ... TEMPLATE, so nothing may be connected to the
    source; on SQLite it is SQLite's online backup, which includes what is still in the WAL."""
    if backend == "sqlite":
        path = directory / f"copy-{uuid.uuid4().hex[:8]}.sqlite3"
        source = sqlite3.connect(make_url(source_url).database)
        target = sqlite3.connect(path)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        yield f"sqlite:///{path}"
        for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            leftover.unlink(missing_ok=True)
        return
    base = make_url(postgres_url())
    template = make_url(source_url).database
    with scratch_postgres(base, f"{base.database}_{uuid.uuid4().hex[:10]}", template) as url:
        yield url


@contextmanager
def scratch_postgres(server_url: Any, name: str, template: str | None = None) -> Iterator[str]:
    """A PostgreSQL database `name` on the server of `server_url` — empty, or a copy of the
    database `template` — dropped afterwards; yields its URL. The benchmarks use it too."""
    base = make_url(server_url)
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"{copy}'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
