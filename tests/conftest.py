"""Fixtures: an app per database backend, a rolled-back session per test, clients and roles.

The suite runs on SQLite always and on PostgreSQL as well when TEST_DATABASE_URL points at
one; under CI=true PostgreSQL is required and its absence fails the run. It needs nothing from
outside the repository: its data is in tests/data (see PROVENANCE.md), and it compiles the
translation catalogues itself. Databases that are slow to make (migrated, demo-seeded) are made
once per backend and copied (`prepared_databases`); what reads the wall clock is moved by
`wall_clock`, not by sleeping.
"""

import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import Any

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, request
from flask.testing import FlaskClient
from flask_migrate import upgrade
from flask_sqlalchemy.session import _app_ctx_id
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import scoped_session, sessionmaker

from portal import create_app
from portal.accounts.models import User
from portal.core.extensions import db as _db
from portal.core.extensions import limiter
from portal.core.requests import reads_only
from portal.tickets.taxonomy import ensure_default_taxonomy
from tests.factories import make_user
from tests.support.browser import browser  # noqa: F401  (a fixture, for the browser tests)
from tests.support.databases import (
    ON_CI,
    backends,
    check_postgres_reachable,
    copy_of_database,
    fresh_database,
)
from tests.support.dovecot import (  # noqa: F401  (a fixture and the hook that shows its log)
    dovecot,
    pytest_runtest_makereport,
)
from tests.support.processes import spawn  # noqa: F401  (a fixture, for the process tests)

PROJECT_ROOT = Path(__file__).resolve().parents[1]


# A GET that writes on SQLite would begin deferred and could fail once another process writes;
# such views must be marked `writes_on_read`. Every test checks the requests it made.
_writes_in_reads: list[str] = []


@event.listens_for(Engine, "before_cursor_execute")
def _note_writes_in_reads(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE") and reads_only():
        _writes_in_reads.append(f"{request.method} {request.path}: {statement[:70]}")


@pytest.fixture(autouse=True)
def _reads_do_not_write() -> Iterator[None]:
    _writes_in_reads.clear()
    yield
    assert not _writes_in_reads, f"GET views that write must be @writes_on_read: {_writes_in_reads}"


def compile_translations(root: Path = PROJECT_ROOT / "portal" / "translations") -> list[Path]:
    """Compile each catalogue's .po into the .mo the app reads, where the .mo is missing or
    older, as `scripts/i18n compile` does; returns the .mo files written. A fresh clone can
    then run pytest without scripts/setup."""
    written = []
    for po_path in sorted(root.glob("*/LC_MESSAGES/*.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=po_path.parents[1].name)
        if catalog.fuzzy:  # pybabel compile skips a catalogue marked fuzzy as a whole
            continue
        partial = mo_path.with_name(f".{mo_path.name}.{os.getpid()}")
        with partial.open("wb") as handle:
            write_mo(handle, catalog)
        partial.replace(mo_path)  # another run never reads a half-written file
        written.append(mo_path)
    return written


def pytest_configure(config: pytest.Config) -> None:
    compile_translations()
    if ON_CI:
        problem = check_postgres_reachable()
        if problem:
            raise pytest.UsageError(f"CI=true needs PostgreSQL: {problem}")


def config_for(database_url: str, **overrides: Any) -> dict[str, Any]:
    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": "test-secret-key",
        "RATELIMIT_STORAGE_URI": "memory://",
        "PUBLIC_BASE_URL": "http://localhost",
    }
    config.update(overrides)
    return config


class PortalClient(FlaskClient):
    """A test client that can send forms with a valid CSRF token, as a browser would."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        # A fresh app context per request, as in production: the test's own context (kept
        # for factories) would otherwise share `g`, and so the signed-in user, across requests.
        with self.application.app_context():
            return super().open(*args, **kwargs)

    def csrf_token(self) -> str:
        with self.session_transaction() as session:
            raw = session.setdefault("csrf_token", secrets.token_hex(20))
        serializer = URLSafeTimedSerializer(self.application.secret_key, salt="wtf-csrf-token")
        return serializer.dumps(raw)

    def submit(
        self, url: str, data: dict[str, Any] | None = None, *, htmx: bool = False, **kwargs: Any
    ) -> Any:
        form = dict(data or {})
        form.setdefault("csrf_token", self.csrf_token())
        headers = dict(kwargs.pop("headers", {}))
        if htmx:
            headers["HX-Request"] = "true"
        return self.post(url, data=form, headers=headers, **kwargs)


def _reset_schema(app: Flask) -> None:
    with app.app_context():
        _db.drop_all()
        with _db.engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
        _db.create_all()
        ensure_default_taxonomy()  # the migration seeds it in a real deployment


@pytest.fixture(scope="session", params=backends())
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def app(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    # A database of its own per run, so that two runs on one PostgreSQL server never meet.
    with fresh_database(backend, tmp_path_factory.mktemp("db")) as url:
        application = create_app(config_for(url))
        application.test_client_class = PortalClient
        _reset_schema(application)
        yield application
        with application.app_context():
            _db.engine.dispose()


class PreparedDatabases:
    """Databases that take a while to prepare, made once per backend per run and copied for
    each test or module that needs one of its own: brought to the latest migration by Alembic
    (`migrated`), and that with the small demo seed in it (`demo`). A copy is SQLite's backup
    or PostgreSQL's CREATE DATABASE ... TEMPLATE, far quicker than migrating or seeding again.
    Nothing connects to the originals but the step that makes them."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._originals: dict[tuple[str, str], str] = {}
        self._stack = ExitStack()

    def migrated(self, backend: str, directory: Path) -> AbstractContextManager[str]:
        """A database of its own at the latest migration; yields its URL, dropped after."""
        return copy_of_database(backend, self._original(backend, "migrated"), directory)

    def demo(self, backend: str, directory: Path) -> AbstractContextManager[str]:
        """A migrated database of its own with `flask demo seed` (small) in it."""
        return copy_of_database(backend, self._original(backend, "demo"), directory)

    def close(self) -> None:
        self._stack.close()

    def _original(self, backend: str, kind: str) -> str:
        if (backend, kind) not in self._originals:
            if kind == "migrated":
                url = self._stack.enter_context(fresh_database(backend, self._directory))
            else:
                url = self._stack.enter_context(self.migrated(backend, self._directory))
            app = create_app(config_for(url))
            with app.app_context():
                if kind == "migrated":
                    upgrade()
                else:
                    result = app.test_cli_runner().invoke(args=["demo", "seed", "--quiet"])
                    assert result.exit_code == 0, result.output
                _db.session.remove()
                _db.engine.dispose()
            self._originals[backend, kind] = url
        return self._originals[backend, kind]


@pytest.fixture(scope="session")
def prepared_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PreparedDatabases]:
    databases = PreparedDatabases(tmp_path_factory.mktemp("prepared"))
    yield databases
    databases.close()


@pytest.fixture(scope="module")
def demo_app(
    backend: str, prepared_databases: PreparedDatabases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Flask]:
    """An app on a database of this module's own holding the small demo seed. A module whose
    tests only read the seed overrides `app` with it; `db` still rolls back each test."""
    with prepared_databases.demo(backend, tmp_path_factory.mktemp("demo")) as url:
        application = create_app(config_for(url))
        application.test_client_class = PortalClient
        yield application
        with application.app_context():
            _db.engine.dispose()


@pytest.fixture
def db(app: Flask) -> Iterator[Any]:
    """The schema stays; everything a test writes is rolled back after it."""
    with app.app_context():
        connection = _db.engine.connect()
        transaction = connection.begin()
        original = _db.session
        # One session per app context, as Flask-SQLAlchemy does: the test keeps its own, each
        # request gets another, all inside one outer transaction that is rolled back.
        _db.session = scoped_session(
            sessionmaker(bind=connection, join_transaction_mode="create_savepoint"),
            scopefunc=_app_ctx_id,
        )
        try:
            yield _db
        finally:
            _db.session.remove()
            transaction.rollback()
            connection.close()
            _db.session = original
            limiter.reset()


@pytest.fixture
def client(app: Flask, db: Any) -> PortalClient:
    return app.test_client()  # type: ignore[return-value]


@pytest.fixture
def runner(app: Flask, db: Any) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def login_as(client: PortalClient) -> Callable[..., User]:
    """Sign the client in as a new user of the given role (or as a given user)."""

    def sign_in(role: str = "rm", user: User | None = None, **overrides: Any) -> User:
        user = user or make_user(role=role, **overrides)
        with client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
            session["signed_in_at"] = time.time()
        return user

    return sign_in


class WallClock:
    """`time.time()` moved on at will, for what reads the wall clock rather than taking `now`:
    session ages and signed-cookie timestamps. It keeps running from where it was moved to."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset = 0.0
        real_time = time.time
        monkeypatch.setattr(time, "time", lambda: real_time() + self.offset)

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def wall_clock(monkeypatch: pytest.MonkeyPatch) -> WallClock:
    return WallClock(monkeypatch)


@pytest.fixture
def profile(app: Flask) -> Iterator[Callable[[str], None]]:
    """Switch the deployment's regulatory profile (CN, US, UK) for one test."""
    original = app.config["COMPLAINT_PROFILE"]

    def use(code: str) -> None:
        app.config["COMPLAINT_PROFILE"] = code

    yield use
    app.config["COMPLAINT_PROFILE"] = original
