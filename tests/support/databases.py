"""Which databases the suite runs on, and throwaway databases for tests that need their own."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
    name = f"{base.database}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
