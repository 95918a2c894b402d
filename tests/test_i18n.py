"""The UI speaks English and Simplified Chinese: per user, else by Accept-Language."""

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po
from sqlalchemy import select

from portal.accounts.models import User
from portal.core.extensions import db

ROOT = Path(__file__).resolve().parents[1]


def test_every_string_in_the_code_has_a_chinese_translation(tmp_path) -> None:
    pot = tmp_path / "current.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "-k",
            "lazy_pgettext:1c,2",
            "-k",
            "lazy_ngettext:1,2",
            "--no-location",
            "-o",
            str(pot),
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as handle:
        wanted = {m.id for m in read_po(handle) if m.id}
    po_path = ROOT / "portal/translations/zh_Hans/LC_MESSAGES/messages.po"
    with po_path.open("rb") as handle:
        catalogue = {m.id: m for m in read_po(handle) if m.id}
    missing = sorted(str(i) for i in wanted if i not in catalogue)
    empty = sorted(str(i) for i in wanted if i in catalogue and not catalogue[i].string)
    fuzzy = sorted(str(i) for i in wanted if i in catalogue and catalogue[i].fuzzy)
    assert missing == [], f"run scripts/i18n update and translate: {missing}"
    assert empty == [], f"untranslated: {empty}"
    assert fuzzy == [], f"fuzzy: {fuzzy}"


def test_accept_language_chooses_chinese_for_anonymous_visitors(client) -> None:
    page = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert '<html lang="zh-Hans">' in page.text
    assert "登录" in page.text
    english = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert '<html lang="en">' in english.text


def test_a_signed_in_users_choice_is_kept_on_their_account(client, login_as) -> None:
    user = login_as("handler")
    response = client.submit("/language", {"locale": "zh_Hans", "next": "/admin/users"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/users"
    db.session.expire_all()
    assert db.session.scalar(select(User.locale).where(User.id == user.id)) == "zh_Hans"
    home = client.get("/", headers={"Accept-Language": "en"})
    assert "欢迎" in home.text


def test_an_unknown_language_or_an_offsite_next_is_refused(client) -> None:
    response = client.submit("/language", {"locale": "klingon", "next": "https://evil.example"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert "Unknown language." in client.get("/login").text


def test_errors_speak_the_users_language(client) -> None:
    client.submit("/language", {"locale": "zh_Hans", "next": "/login"})
    response = client.submit("/login", {"email": "nobody@bank.example.com", "password": "x" * 12})
    assert response.status_code == 401
    assert "邮箱或密码不正确。" in response.text
    not_found = client.get("/no/such/page")
    assert not_found.status_code == 404 and "未找到" in not_found.text


def test_a_language_switched_within_a_request_is_spoken_until_switched_back(app) -> None:
    """The request keeps its translations, yet an email in the customer's language (sent from
    a page in the staff member's) and a `refresh` after a change of language take effect."""
    from flask import render_template_string, session
    from flask_babel import force_locale, gettext, refresh

    page = "{{ _('Sign in') }}"
    with app.test_request_context("/", headers={"Accept-Language": "zh-CN"}):
        assert (gettext("Sign in"), render_template_string(page)) == ("登录", "登录")
        with force_locale("en"):
            assert (gettext("Sign in"), render_template_string(page)) == ("Sign in", "Sign in")
        assert (gettext("Sign in"), render_template_string(page)) == ("登录", "登录")
        session["locale"] = "en"
        assert gettext("Sign in") == "登录"  # the request's language holds until refreshed
        refresh()
        assert (gettext("Sign in"), render_template_string(page)) == ("Sign in", "Sign in")
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert render_template_string(page) == "Sign in"  # nothing carried over between requests
