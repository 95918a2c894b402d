"""Security headers, error pages (full and htmx fragments), input hygiene and the health check."""

import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from portal import create_app
from portal.core import routes as core_routes
from portal.core.extensions import db as _db
from tests.conftest import config_for
from tests.factories import make_customer, make_user
from tests.support.databases import fresh_database


def test_every_page_carries_the_security_headers(client) -> None:
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "<script>" not in response.text and " onclick=" not in response.text


def test_not_found_is_a_page_and_an_htmx_fragment(client, login_as) -> None:
    login_as("rm")
    page = client.get("/nowhere")
    assert page.status_code == 404 and "<html" in page.text and "Not found" in page.text
    fragment = client.get("/nowhere", headers={"HX-Request": "true"})
    assert fragment.status_code == 404
    assert "<html" not in fragment.text and "Not found" in fragment.text
    assert fragment.headers["HX-Retarget"] == "#messages"


def test_forbidden_is_a_page_and_an_htmx_fragment(client, login_as) -> None:
    login_as("rm")
    page = client.get("/admin/users")
    assert page.status_code == 403 and "Your role does not give access" in page.text
    fragment = client.get("/admin/users", headers={"HX-Request": "true"})
    assert fragment.status_code == 403 and "<html" not in fragment.text


def test_an_unexpected_error_is_a_friendly_500_without_a_traceback(client, login_as, monkeypatch):
    def explode(*_args, **_kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(core_routes, "render", explode)
    login_as("rm")
    page = client.get("/")
    assert page.status_code == 500
    assert "Something went wrong" in page.text
    assert "secret internals" not in page.text and "Traceback" not in page.text
    fragment = client.get("/", headers={"HX-Request": "true"})
    assert fragment.status_code == 500 and "<html" not in fragment.text


def test_wrong_method_is_405(client) -> None:
    assert client.get("/logout").status_code == 405


def test_health_check_answers_without_login(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_health_check_reports_an_unreachable_database(tmp_path) -> None:
    app = create_app(config_for("postgresql+psycopg://nobody@127.0.0.1:1/none"))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["database"] == "unreachable"


def test_production_refuses_to_start_without_a_secret_key(monkeypatch) -> None:
    from portal.core.config import ConfigError, Settings

    settings = Settings.from_env({"PORTAL_ENV": "production"})
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        settings.to_flask()
    assert Settings.from_env({"PORTAL_ENV": "production", "SECRET_KEY": "s"}).to_flask()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SESSION_HOURS": "eight"}, "SESSION_HOURS must be a number"),
        ({"JOB_HISTORY_DAYS": "-1"}, "JOB_HISTORY_DAYS must not be negative"),
        ({"DEFAULT_TIMEZONE": "Mars/Olympus"}, "not an IANA time zone"),
        ({"DEFAULT_LOCALE": "fr"}, "DEFAULT_LOCALE must be one of"),
    ],
)
def test_bad_settings_are_refused_with_the_variable_named(env, message) -> None:
    from portal.core.config import ConfigError, Settings

    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env).to_flask()


def test_a_nul_character_is_refused_with_400_not_a_database_error(client, login_as) -> None:
    response = client.submit("/login", {"email": "a\x00@bank.example.com", "password": "x" * 12})
    assert response.status_code == 400
    login_as("admin")
    assert client.get("/admin/users?q=%00").status_code == 400


@pytest.mark.parametrize(
    "url",
    [
        "/admin/users/99999999999999999999",
        "/admin/audit?before=%C2%B2",
        "/admin/audit?before=99999999999999999999",
        "/customers/99999999999999999999",
    ],
)
def test_odd_and_oversized_numbers_are_not_found_not_500(client, login_as, url) -> None:
    login_as("admin")
    assert client.get(url).status_code in (200, 404)


def test_translated_messages_with_user_input_are_escaped(client, login_as) -> None:
    from flask_babel import lazy_gettext

    from portal.core.errors import ServiceError, error_response

    with client.application.test_request_context("/"):
        message = lazy_gettext("A user with email %(email)s already exists.", email="<img src=x>")
        body = error_response(409, ServiceError(message).message).get_data(as_text=True)
    assert "<img src=x>" not in body and "&lt;img src=x&gt;" in body


def test_pages_vary_on_htmx_and_plain_http_gets_no_hsts(client) -> None:
    response = client.get("/login")
    assert "HX-Request" in response.headers["Vary"]
    assert "Strict-Transport-Security" not in response.headers


def test_a_connection_dropped_while_idle_in_the_pool_is_replaced(
    backend, tmp_path, monkeypatch
) -> None:
    """A database restart or idle timeout while a connection waits in the pool costs no request:
    after an idle spell the connection is tested and replaced. Without the test, the request
    that draws the dead connection fails (shown below with the idle spell set out of reach)."""
    import portal

    with fresh_database(backend, tmp_path) as url:
        app = create_app(config_for(url))
        client = app.test_client()
        with app.app_context():
            engine = _db.engine
        pooled: list[Any] = []
        event.listen(
            engine, "checkin", lambda dbapi_connection, _record: pooled.append(dbapi_connection)
        )

        def drop_pooled_connection() -> None:
            pooled.clear()
            assert client.get("/healthz").json["database"] == "ok"
            if backend == "sqlite":
                pooled[-1].close()
                return
            with sa.create_engine(url, isolation_level="AUTOCOMMIT").connect() as admin:
                pid = pooled[-1].info.backend_pid
                admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

        try:
            monkeypatch.setattr(portal, "PING_AFTER_IDLE_SECONDS", 0.0)
            drop_pooled_connection()
            assert client.get("/healthz").json == {"status": "ok", "database": "ok"}

            monkeypatch.setattr(portal, "PING_AFTER_IDLE_SECONDS", 3600.0)
            drop_pooled_connection()
            assert client.get("/healthz").status_code == 503
            assert client.get("/healthz").status_code == 200  # the dead one was thrown away
        finally:
            engine.dispose()


def test_pages_read_while_another_process_writes_and_a_recorded_read_waits_its_turn(
    backend, tmp_path
) -> None:
    """An import or a job holding the write lock does not hold up pages that only read (on
    SQLite they used to wait for the lock); a GET that records something (the data-subject
    export) waits for the writer and then succeeds, rather than failing."""
    with fresh_database(backend, tmp_path) as url:
        app = create_app(config_for(url))
        with app.app_context():
            _db.create_all()
            admin, customer = make_user(role="admin"), make_customer(name="并发读者")
            admin_id, customer_id = admin.get_id(), customer.id
            _db.session.remove()
        client = app.test_client()
        with client.session_transaction() as session:
            session.update({"_user_id": admin_id, "_fresh": True, "signed_in_at": time.time()})
        writer = sa.create_engine(url, poolclass=sa.pool.NullPool)
        wants_to_write = threading.Event()

        def note_writes(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if (
                threading.current_thread().name == "export"
                and statement.lstrip().upper().startswith(("BEGIN IMMEDIATE", "INSERT", "UPDATE"))
            ):
                wants_to_write.set()

        with app.app_context():
            app_engine = _db.engine
        event.listen(app_engine, "before_cursor_execute", note_writes)
        try:
            with writer.connect() as connection:
                transaction = connection.begin()
                connection.execute(
                    sa.text("UPDATE customers SET segment = 'private' WHERE id = :id"),
                    {"id": customer_id},
                )
                for page in ("/customers", f"/customers/{customer_id}", "/customers?q=并发"):
                    response = client.get(page)
                    assert response.status_code == 200 and "并发读者" in response.text, page

                exported: list[Any] = []
                reader = threading.Thread(
                    target=lambda: exported.append(
                        client.get(f"/customers/{customer_id}/export.json")
                    ),
                    name="export",
                )
                reader.start()
                # The writer commits once the export asks for the write lock (SQLite) or writes.
                assert wants_to_write.wait(timeout=30), "the export never began to write"
                transaction.commit()
                reader.join(timeout=60)
            assert exported and exported[0].status_code == 200
            assert exported[0].json["customer"]["name"] == "并发读者"
        finally:
            event.remove(app_engine, "before_cursor_execute", note_writes)
            writer.dispose()
            with app.app_context():
                _db.engine.dispose()
