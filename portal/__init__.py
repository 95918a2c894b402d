"""Credit Care Portal: the application factory."""

import logging
import time
from typing import Any

from flask import Flask, request
from flask_babel import get_locale
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from werkzeug.middleware.proxy_fix import ProxyFix

from portal.core import logs
from portal.core.config import PROJECT_ROOT, Settings, derive_https_settings
from portal.core.extensions import babel, csrf, db, limiter, login_manager, migrate
from portal.core.requests import reads_only


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build an app from the environment, with `config` overriding any setting."""
    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
        instance_path=str(PROJECT_ROOT / "instance"),
    )
    app.config.update(Settings.from_env().to_flask())
    app.config.update(config or {})
    derive_https_settings(app.config, config or {})
    _configure_logging(app)
    if app.config.get("TRUSTED_PROXIES"):
        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    _check_contact_policy(app)
    _init_extensions(app)
    _init_rooms(app)
    return app


def _configure_logging(app: Flask) -> None:
    level = getattr(logging, str(app.config.get("LOG_LEVEL", "INFO")).upper(), logging.INFO)
    logging.getLogger("portal").setLevel(level)
    # APScheduler writes two INFO lines per job run ("Running job", "executed successfully")
    # and more as it starts; the runner's own JSON lines say all of it. Its warnings (a missed
    # run) and errors still pass, and LOG_LEVEL=DEBUG lets everything through.
    logging.getLogger("apscheduler").setLevel(
        logging.DEBUG if level <= logging.DEBUG else logging.WARNING
    )
    logs.configure(level)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """SQLite: enforce foreign keys, wait for locks, and let SQLAlchemy own transactions.

    pysqlite's own BEGIN handling breaks SAVEPOINT and transactional DDL, so it is turned
    off here and `_sqlite_begin` emits BEGIN instead, as SQLAlchemy's documentation advises.
    """
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
    # In WAL mode NORMAL cannot corrupt the file; a power cut may lose the last commits (a
    # delivered message then goes again: at least once), and each commit skips a disk flush.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front: two transactions that read and then write would
    # otherwise deadlock ("database is locked") instead of waiting their turn. A page that only
    # reads begins deferred: it reads its snapshot of the WAL without waiting for a writer (an
    # import, a job) and never holds one up; the test suite fails a GET view that writes
    # without being marked `writes_on_read`.
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN" if reads_only() else "BEGIN IMMEDIATE")


# A pooled connection idle this long is tested before use; one used moments ago is not. Testing
# every checkout (`pool_pre_ping`) costs each request a round trip to the database server.
PING_AFTER_IDLE_SECONDS = 10.0
_IDLE_SINCE = "portal_idle_since"


def _ping_idle_connections(engine: Engine) -> None:
    """Hand out no connection the server dropped while it sat in the pool (a restart, a
    failover, an idle timeout): it is tested after an idle spell and replaced when dead."""

    @event.listens_for(engine, "checkin")
    def _idle_from_now(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_after_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop(_IDLE_SINCE, None)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # any failure: the pool discards it and connects afresh
            raise DisconnectionError(f"pooled connection is gone: {error}") from error


MODEL_MODULES = (
    "portal.core.audit",
    "portal.accounts.models",
    "portal.jobs.models",
    "portal.customers.models",
    "portal.messaging.models",
    "portal.tickets.models",
    "portal.care.models",
    "portal.surveys.models",
    "portal.surveys.rollup_models",
)


def _import_models() -> None:
    """Every table must be in the metadata before migrations compare or create it."""
    import importlib

    for module in MODEL_MODULES:
        importlib.import_module(module)


def _init_extensions(app: Flask) -> None:
    from portal.accounts.services import load_session_user
    from portal.core.access import init_access
    from portal.core.errors import register_error_handlers
    from portal.core.i18n import html_lang, init_dates, select_locale, select_timezone
    from portal.core.requests import init_requests
    from portal.core.security import init_security

    _import_models()
    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            _ping_idle_connections(engine)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    limiter.init_app(app)

    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.session_protection = "basic"
    login_manager.user_loader(load_session_user)
    login_manager.unauthorized_handler(_unauthorized)

    init_requests(app)
    init_access(app)
    init_dates(app)
    init_security(app)
    register_error_handlers(app)

    @app.context_processor
    def layout_context() -> dict[str, Any]:
        # Plain values only: this runs for every page and fragment rendered, and building a
        # form object here cost every request a measurable share of its time.
        locale = str(get_locale() or app.config["BABEL_DEFAULT_LOCALE"])
        return {
            "current_locale": locale,
            "html_lang": html_lang(locale),
            "languages": app.config["LANGUAGES"],
        }


def _unauthorized() -> Any:
    from flask import flash, url_for
    from flask_babel import gettext as _

    from portal.core.errors import error_response
    from portal.core.htmx import is_htmx, see_other

    if is_htmx():
        response = error_response(401)
        response.headers["HX-Redirect"] = url_for("accounts.login", next=request.full_path)
        return response
    if request.method != "GET":
        return error_response(401)
    flash(_("Please sign in to continue."), "info")
    return see_other(url_for("accounts.login", next=request.full_path.rstrip("?")))


def _check_contact_policy(app: Flask) -> None:
    """A mistyped cap or quiet-hours setting stops the app at start, not a job at 3 a.m."""
    from portal.core.config import ConfigError
    from portal.messaging.policy import PolicySettings

    try:
        PolicySettings.from_config(app.config)
    except ValueError as error:
        raise ConfigError(f"CONTACT_CAPS / QUIET_HOURS / SUPPRESS_*_WHEN: {error}") from error


# The rooms, from the bottom up: each wires itself (blueprints, CLI, jobs, the extension points
# of the rooms below it) in its `init_app`, so a new room is one line here.
ROOMS = (
    "portal.core",
    "portal.jobs",
    "portal.accounts",
    "portal.customers",
    "portal.messaging",
    "portal.tickets",
    "portal.care",
    "portal.surveys",
    "portal.demo",
)


def _init_rooms(app: Flask) -> None:
    import importlib

    for room in ROOMS:
        importlib.import_module(room).init_app(app)
