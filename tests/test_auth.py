"""Sign-in, sign-out, password change and their refusals, as a staff member meets them."""

import pytest
from flask import Flask
from sqlalchemy import select

from portal import create_app
from portal.accounts import services
from portal.accounts.models import User
from portal.core.audit import Actor, AuditEvent
from portal.core.errors import NotFound
from portal.core.extensions import db as _db
from tests.conftest import PortalClient, WallClock, config_for
from tests.factories import PASSWORD, PASSWORD_HASH, make_user
from tests.support.databases import ON_CI


@pytest.fixture(autouse=True)
def _cheap_dummy_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown email is checked against a dummy hash, so that it takes as long as a known
    one; here that hash is as cheap to check as the factories' users' hashes."""
    from portal.accounts import services

    monkeypatch.setattr(services, "_DUMMY_HASH", PASSWORD_HASH)


def sign_in(client: PortalClient, email: str, password: str = PASSWORD, **kwargs):
    return client.submit("/login", {"email": email, "password": password}, **kwargs)


def test_sign_in_lands_on_home_and_sign_out_returns_to_login(client) -> None:
    user = make_user(name="Wang Min", role="handler")
    response = sign_in(client, user.email)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "Welcome, Wang Min" in home.text
    out = client.submit("/logout")
    assert out.status_code == 303 and out.headers["Location"] == "/login"
    assert client.get("/").status_code == 303


def test_email_is_matched_whatever_its_case_and_spaces(client) -> None:
    user = make_user(email="mixed@bank.example.com")
    assert sign_in(client, "  Mixed@Bank.Example.com ").status_code == 303
    assert client.get("/").status_code == 200
    _db.session.refresh(user)
    assert user.last_login_at is not None


def test_sign_in_returns_to_the_page_asked_for_but_never_to_another_site(client) -> None:
    user = make_user()
    asked = client.get("/account/password")
    assert asked.headers["Location"] == "/login?next=/account/password"
    response = client.submit(
        "/login", {"email": user.email, "password": PASSWORD, "next": "/account/password"}
    )
    assert response.headers["Location"] == "/account/password"
    client.submit("/logout")
    for hostile in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = client.submit(
            "/login", {"email": user.email, "password": PASSWORD, "next": hostile}
        )
        assert response.headers["Location"] == "/", hostile
        client.submit("/logout")


@pytest.mark.parametrize("email", ["user-known", "nobody@bank.example.com"])
def test_wrong_password_and_unknown_email_get_the_same_clear_401(client, email) -> None:
    user = make_user()
    response = sign_in(client, user.email if email == "user-known" else email, "wrong-password-1")
    assert response.status_code == 401
    assert "The email or password is wrong." in response.text
    assert client.get("/").status_code == 303


def test_deactivated_account_is_told_so_only_with_the_right_password(client) -> None:
    user = make_user(active=False)
    assert sign_in(client, user.email, "wrong-password-1").status_code == 401
    response = sign_in(client, user.email)
    assert response.status_code == 403
    assert "This account is deactivated" in response.text


def test_missing_fields_are_named_with_400(client) -> None:
    response = client.submit("/login", {"email": "", "password": ""})
    assert response.status_code == 400
    assert "Enter your email." in response.text
    assert "Enter your password." in response.text


def test_oversized_fields_are_refused_with_400_not_500(client) -> None:
    response = client.submit("/login", {"email": "a" * 5000 + "@x.com", "password": "p" * 5000})
    assert response.status_code == 400
    assert "That email is too long." in response.text
    long_password = client.submit("/login", {"email": "x@y.com", "password": "p" * 2_000_000})
    assert long_password.status_code == 400
    assert "That password is too long." in long_password.text
    huge = client.submit("/login", {"email": "x@y.com", "password": "p" * 17_000_000})
    assert huge.status_code == 413
    assert "larger than the portal accepts" in huge.text


def test_form_without_csrf_token_is_refused_with_400(client) -> None:
    user = make_user()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert "security token" in response.text
    assert client.get("/").status_code == 303


def test_htmx_request_without_csrf_header_is_refused(client, login_as) -> None:
    login_as("admin")
    response = client.post("/logout", headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert response.headers["HX-Retarget"] == "#messages"
    token = client.csrf_token()
    ok = client.post("/logout", headers={"HX-Request": "true", "X-CSRFToken": token})
    assert ok.status_code == 204
    assert ok.headers["HX-Redirect"] == "/login"


def test_failed_attempts_are_limited_per_account_with_a_clear_429(client) -> None:
    user = make_user()
    for _ in range(5):
        assert sign_in(client, user.email, "wrong-password-1").status_code == 401
    blocked = sign_in(client, user.email, "wrong-password-1")
    assert blocked.status_code == 429
    assert "Too many sign-in attempts" in blocked.text
    assert int(blocked.headers["Retry-After"]) > 0
    # the right password does not get through while the account is locked
    assert sign_in(client, user.email).status_code == 429
    other = make_user()
    assert sign_in(client, other.email).status_code == 303


def test_successful_sign_ins_do_not_use_up_the_limit(client) -> None:
    user = make_user()
    for _ in range(8):
        assert sign_in(client, user.email).status_code == 303
        client.submit("/logout")


def test_failed_attempts_are_limited_per_ip_across_accounts(client) -> None:
    for number in range(30):
        response = sign_in(client, f"guess{number}@bank.example.com", "wrong-password-1")
        assert response.status_code == 401
    assert sign_in(client, "guess-last@bank.example.com", "wrong").status_code == 429
    another_ip = client.submit(
        "/login",
        {"email": "x@bank.example.com", "password": "wrong-password-1"},
        environ_base={"REMOTE_ADDR": "10.9.8.7"},
    )
    assert another_ip.status_code == 401


def test_rate_limit_also_works_with_redis_storage(backend, tmp_path) -> None:
    import redis

    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        if ON_CI:
            pytest.fail("CI=true needs Redis on 127.0.0.1:6379 (.ci/run starts it)")
        pytest.skip("no Redis on 127.0.0.1:6379")
    app = create_app(
        config_for(
            f"sqlite:///{tmp_path / 'redis-limit.sqlite3'}",
            RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/15",
            LOGIN_LIMIT_PER_ACCOUNT="2 per 15 minutes",
        )
    )
    app.test_client_class = PortalClient
    from portal.core.extensions import limiter

    with app.app_context():
        _db.create_all()
        limiter.reset()
        email = make_user().email
        _db.session.remove()  # SQLite: this context's open transaction would hold the write lock
        client = app.test_client()
        statuses = [sign_in(client, email, "wrong-password-1").status_code for _ in range(3)]
        limiter.reset()
    assert statuses == [401, 401, 429]


def test_session_cookie_is_httponly_and_lax(client) -> None:
    user = make_user()
    response = sign_in(client, user.email)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_session_cookie_is_secure_when_served_over_https(backend, tmp_path) -> None:
    app = create_app(
        config_for(
            f"sqlite:///{tmp_path / 'https.sqlite3'}", PUBLIC_BASE_URL="https://portal.bank.example"
        )
    )
    assert app.config["SESSION_COOKIE_SECURE"] is True
    app.test_client_class = PortalClient
    with app.app_context():
        _db.create_all()
        email = make_user().email
        _db.session.remove()
        client = app.test_client()
        response = client.submit(
            "/login", {"email": email, "password": PASSWORD}, base_url="https://localhost"
        )
    assert "Secure" in response.headers["Set-Cookie"]
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_expired_session_sends_the_user_back_to_sign_in(
    app: Flask, client, wall_clock: WallClock
) -> None:
    user = make_user()
    lifetime = app.permanent_session_lifetime
    app.permanent_session_lifetime = 1  # type: ignore[assignment]
    try:
        sign_in(client, user.email)
        assert client.get("/").status_code == 200
        wall_clock.advance(2.1)
        response = client.get("/")
    finally:
        app.permanent_session_lifetime = lifetime
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login")
    assert "Please sign in to continue." in client.get(response.headers["Location"]).text


def test_htmx_request_with_expired_session_gets_401_and_a_redirect(client) -> None:
    response = client.get("/admin/users", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login")


def test_password_change_keeps_this_session_and_ends_the_others(app, client) -> None:
    user = make_user()
    other_device = app.test_client()
    sign_in(client, user.email)
    sign_in(other_device, user.email)
    response = client.submit(
        "/account/password",
        {
            "current_password": PASSWORD,
            "new_password": "a-brand-new-password",
            "confirm": "a-brand-new-password",
        },
    )
    assert response.status_code == 303
    assert client.get("/").status_code == 200
    assert other_device.get("/").status_code == 303
    client.submit("/logout")
    assert sign_in(client, user.email).status_code == 401
    assert sign_in(client, user.email, "a-brand-new-password").status_code == 303


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (
            {"current_password": "wrong-one-123", "new_password": "x" * 12, "confirm": "x" * 12},
            "The current password is wrong.",
        ),
        (
            {"current_password": PASSWORD, "new_password": "short", "confirm": "short"},
            "Use 10 to 128 characters.",
        ),
        (
            {"current_password": PASSWORD, "new_password": "x" * 12, "confirm": "y" * 12},
            "The two new passwords differ.",
        ),
        (
            {"current_password": PASSWORD, "new_password": PASSWORD, "confirm": PASSWORD},
            "The new password must differ from the current one.",
        ),
    ],
)
def test_password_change_refusals_are_explained(client, login_as, form, message) -> None:
    login_as("rm")
    response = client.submit("/account/password", form)
    assert response.status_code == 400
    assert message in response.text


def test_deactivating_a_user_ends_their_session(app, client, login_as) -> None:
    user = login_as("rm")
    assert client.get("/").status_code == 200
    services.set_active(Actor.system("test"), user.id, False)
    assert client.get("/").status_code == 303


def test_a_session_ends_after_its_lifetime_however_active(app, client, wall_clock) -> None:
    user = make_user()
    lifetime = app.permanent_session_lifetime
    app.permanent_session_lifetime = 2  # type: ignore[assignment]
    try:
        sign_in(client, user.email)
        for _ in range(3):
            assert client.get("/").status_code == 200
            wall_clock.advance(0.5)
        wall_clock.advance(1.2)
        response = client.get("/")
    finally:
        app.permanent_session_lifetime = lifetime
    assert response.status_code == 303


def test_every_attempt_counts_before_the_password_is_checked(client) -> None:
    """Each attempt is counted up front: even a correct password is refused once the
    account has used up its attempts, and a success clears the count."""
    user = make_user()
    for _ in range(4):
        sign_in(client, user.email, "wrong-password-1")
    assert sign_in(client, user.email).status_code == 303  # 5th attempt: allowed, clears
    client.submit("/logout")
    for _ in range(5):
        assert sign_in(client, user.email, "wrong-password-1").status_code == 401
    assert sign_in(client, user.email).status_code == 429


def test_a_sign_in_is_recorded_and_a_refused_one_changes_nothing(client) -> None:
    user = make_user()
    assert sign_in(client, user.email, "wrong-password-1").status_code == 401
    assert sign_in(client, user.email).status_code == 303
    events = _db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.subject_type == "user", AuditEvent.subject_id == str(user.id)
        )
    ).all()
    assert [(e.action, e.actor_id) for e in events] == [("user.signed_in", user.id)]


def test_own_password_and_language_are_changed_by_the_actor_themselves(db) -> None:
    user = make_user(locale="zh_Hans")
    actor = services.actor_for(user)
    services.change_own_password(actor, PASSWORD, "a-brand-new-password")
    services.set_preferences(actor, locale="en")
    _db.session.expire_all()
    assert services.authenticate(user.email, "a-brand-new-password").outcome is services.SignIn.OK
    assert _db.session.get(User, user.id).locale == "en"
    with pytest.raises(NotFound):
        services.change_own_password(Actor.system("cli"), PASSWORD, "a-brand-new-password")
