"""Admins list, create, deactivate and re-role users; every change is an audit event."""

import time

import pytest
from sqlalchemy import select

from portal.accounts.models import User
from portal.core.audit import AuditEvent
from portal.core.extensions import db
from tests.factories import make_user


def events_for(user: User) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.subject_type == "user", AuditEvent.subject_id == str(user.id))
            .order_by(AuditEvent.id)
        )
    )


def test_admin_creates_a_user_and_the_creation_is_audited(client, login_as) -> None:
    admin = login_as("admin")
    response = client.submit(
        "/admin/users/new",
        {
            "email": "New.Handler@Bank.Example.com",
            "name": "  Zhou   Wei ",
            "role": "handler",
            "password": "initial-password-1",
        },
    )
    assert response.status_code == 303
    user = db.session.scalar(select(User).where(User.email == "new.handler@bank.example.com"))
    assert user is not None and user.name == "Zhou Wei" and user.role == "handler"
    [event] = events_for(user)
    assert event.action == "user.created"
    assert event.actor_id == admin.id
    assert event.after == {
        "email": user.email,
        "name": "Zhou Wei",
        "role": "handler",
        "active": True,
    }
    page = client.get(response.headers["Location"])
    assert "Zhou Wei" in page.text and "user.created" in page.text


def test_create_refuses_duplicates_and_bad_input_with_messages(client, login_as) -> None:
    login_as("admin")
    existing = make_user(email="taken@bank.example.com")
    duplicate = client.submit(
        "/admin/users/new",
        {
            "email": "TAKEN@bank.example.com",
            "name": "X",
            "role": "rm",
            "password": "initial-password-1",
        },
    )
    assert duplicate.status_code == 409
    assert "already exists" in duplicate.text
    bad = client.submit(
        "/admin/users/new",
        {"email": "not-an-email", "name": "", "role": "boss", "password": "short"},
    )
    assert bad.status_code == 400
    for message in ("Enter a name.", "Not a valid choice", "Use 10 to 128 characters."):
        assert message in bad.text
    invalid_email = client.submit(
        "/admin/users/new",
        {"email": "no at sign", "name": "N", "role": "rm", "password": "initial-password-1"},
    )
    assert invalid_email.status_code == 400
    assert "Enter a valid email address." in invalid_email.text
    assert db.session.scalar(select(User).where(User.email == "no at sign")) is None
    assert len(events_for(existing)) == 0


def test_role_change_records_before_and_after(client, login_as) -> None:
    admin = login_as("admin")
    user = make_user(role="rm")
    response = client.submit(f"/admin/users/{user.id}/role", {"role": "lead"})
    assert response.status_code == 303
    db.session.refresh(user)
    assert user.role == "lead"
    [event] = events_for(user)
    assert (event.action, event.actor_id) == ("user.role_changed", admin.id)
    assert event.before["role"] == "rm" and event.after["role"] == "lead"
    audit_page = client.get("/admin/audit?action=user.role")
    assert "user.role_changed" in audit_page.text
    assert "Relationship manager → Quality / improvement lead" in audit_page.text


def test_deactivate_and_reactivate_are_audited_and_end_sessions(app, client, login_as) -> None:
    login_as("admin")
    user = make_user(role="handler")
    victim = app.test_client()
    with victim.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["signed_in_at"] = time.time()
    assert victim.get("/").status_code == 200
    assert client.submit(f"/admin/users/{user.id}/active", {"active": "0"}).status_code == 303
    assert victim.get("/").status_code == 303
    assert client.submit(f"/admin/users/{user.id}/active", {"active": "1"}).status_code == 303
    assert [e.action for e in events_for(user)] == ["user.deactivated", "user.reactivated"]


def test_the_last_active_admin_can_neither_be_demoted_nor_deactivated(client, login_as) -> None:
    admin = login_as("admin")
    other = make_user(role="admin", active=False)
    response = client.submit(f"/admin/users/{admin.id}/role", {"role": "rm"}, follow_redirects=True)
    assert "The last active admin cannot lose the admin role." in response.text
    response = client.submit(
        f"/admin/users/{admin.id}/active", {"active": "0"}, follow_redirects=True
    )
    assert "You cannot deactivate your own account." in response.text
    db.session.refresh(admin)
    assert admin.role == "admin" and admin.active
    assert events_for(admin) == [] and events_for(other) == []


def test_unknown_user_gives_404_page(client, login_as) -> None:
    login_as("admin")
    assert client.get("/admin/users/424242").status_code == 404
    assert client.submit("/admin/users/424242/role", {"role": "rm"}).status_code == 404


def test_bad_role_or_active_value_is_explained_not_500(client, login_as) -> None:
    login_as("admin")
    user = make_user()
    response = client.submit(
        f"/admin/users/{user.id}/role", {"role": "boss"}, follow_redirects=True
    )
    assert "Not a valid choice" in response.text
    response = client.submit(
        f"/admin/users/{user.id}/active", {"active": "maybe"}, follow_redirects=True
    )
    assert "Choose whether to activate or deactivate." in response.text


def test_user_list_filters_and_htmx_returns_only_rows(client, login_as) -> None:
    login_as("admin")
    make_user(name="Alpha Handler", role="handler")
    make_user(name="Beta Lead", role="lead", active=False)
    page = client.get("/admin/users?role=handler")
    assert "Alpha Handler" in page.text and "Beta Lead" not in page.text
    assert "<html" in page.text
    rows = client.get("/admin/users?status=inactive", headers={"HX-Request": "true"})
    assert "Beta Lead" in rows.text and "Alpha Handler" not in rows.text
    assert "<html" not in rows.text
    searched = client.get("/admin/users?q=alpha").text
    assert "Alpha Handler" in searched and "Beta Lead" not in searched
    assert "Alpha Handler" not in client.get("/admin/users?q=50%25_off").text


def test_user_list_pages_by_keyset(client, login_as) -> None:
    login_as("admin")
    for number in range(55):
        make_user(email=f"page{number:03d}@bank.example.com", name=f"Pager {number}")
    first = client.get("/admin/users?q=page")
    assert "page049@bank.example.com" in first.text
    assert "page050@bank.example.com" not in first.text
    assert "after=page049" in first.text
    second = client.get("/admin/users?q=page&after=page049@bank.example.com")
    assert "page050@bank.example.com</a>" in second.text
    assert "page049@bank.example.com</a>" not in second.text


def test_audit_log_pages_back_in_time(client, login_as) -> None:
    from portal.core.audit import Actor, record_event

    login_as("admin")
    for number in range(60):
        record_event(Actor.system("test"), "test.tick", "test", number)
    db.session.commit()
    first = client.get("/admin/audit?action=test.")
    assert first.text.count("test.tick") == 50
    assert "before=" in first.text
    before = first.text.split("before=")[1].split('"')[0].split("&")[0]
    second = client.get(f"/admin/audit?action=test.&before={before}")
    assert second.text.count("test.tick") == 10


def test_the_last_active_admin_cannot_be_deactivated_even_by_the_cli(db) -> None:
    from portal.accounts import services
    from portal.core.audit import Actor
    from portal.core.errors import PermissionDenied

    admin = make_user(role="admin")
    with pytest.raises(PermissionDenied, match="last active admin"):
        services.set_active(Actor.system("cli"), admin.id, False)
    second = make_user(role="admin")
    services.set_active(Actor.system("cli"), admin.id, False)
    with pytest.raises(PermissionDenied, match="last active admin"):
        services.change_role(Actor.system("cli"), second.id, "rm")


def test_only_admins_and_system_actors_manage_accounts(db) -> None:
    from portal.accounts import services
    from portal.accounts.services import actor_for
    from portal.core.audit import Actor
    from portal.core.errors import PermissionDenied

    target = make_user(role="rm")
    uses = [
        lambda actor: services.get_user(actor, target.id),
        lambda actor: services.list_users(actor),
        lambda actor: services.change_role(actor, target.id, "lead"),
        lambda actor: services.set_active(actor, target.id, False),
        lambda actor: services.set_password(actor, target.id, "another-password-1"),
        lambda actor: services.create_user(
            actor, f"new-{actor.user_id}@bank.example.com", "New", "rm", "initial-password-1"
        ),
    ]
    for role in ("rm", "handler", "lead"):
        actor = actor_for(make_user(role=role))
        for use in uses:
            with pytest.raises(PermissionDenied, match="Only admins manage staff accounts"):
                use(actor)
    assert events_for(target) == []
    for actor in (actor_for(make_user(role="admin")), Actor.system("cli")):
        services.set_active(actor, target.id, True)
        for use in uses:
            use(actor)
    actions = [e.action for e in events_for(target)]
    assert actions.count("user.password_set") == 2 and actions.count("user.deactivated") == 2


def test_deactivating_asks_for_confirmation_first(client, login_as) -> None:
    login_as("admin")
    user = make_user(role="rm")
    page = client.get(f"/admin/users/{user.id}").text
    start = page.index('<details id="confirm-deactivate">')
    step = page[start : page.index("</details>", start)]
    assert "<summary" in step and "Deactivate</summary>" in step
    assert "cannot sign in" in step and "Deactivate this user</button>" in step
