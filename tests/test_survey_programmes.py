"""Leads and admins create, edit, switch on and preview survey programmes; form errors name
their field in both languages; the metric locks once answered; a stale edit names who changed
it; HTML typed into a question comes out escaped; RMs and handlers are refused."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.core.audit import Actor, AuditEvent
from portal.core.errors import Conflict, PermissionDenied, ValidationFailed
from portal.core.extensions import db as _db
from portal.core.timeutil import utc_now
from portal.surveys import programmes
from portal.surveys.models import SurveyAnswer, SurveyProgramme
from tests.factories import make_actor, make_customer, make_invitation, make_programme

SYSTEM = Actor.system("test")


def form_data(**overrides):
    data = {
        "name": "After closing",
        "metric": "csat",
        "trigger": "ticket_closed",
        "question_en": "How satisfied are you with how we handled your complaint?",
        "question_zh": "您对我们处理投诉的方式满意吗？",
        "comment_prompt_en": "What could we do better?",
        "comment_prompt_zh": "我们哪里可以做得更好？",
        "choices-0-text_en": "Which part mattered most?",
        "choices-0-text_zh": "哪一部分最重要？",
        "choices-0-options_en": "Speed\nFriendliness\nOutcome",
        "choices-0-options_zh": "速度\n态度\n结果",
        "send_delay_hours": "24",
        "expiry_days": "14",
        "sample_percent": "100",
        "segment": "",
        "wave_months": "",
        "wave_send_hour": "10",
        "remind_after_days": "3",
        "route": "rm",
    }
    data.update(overrides)
    return data


def answer(programme, score=9):
    _db.session.add(
        SurveyAnswer(programme_id=programme.id, score=score, score_group=1, answered_at=utc_now())
    )
    _db.session.commit()


def test_a_lead_creates_a_programme_switched_off_with_its_choice_question(client, login_as, db):
    login_as("lead")
    page = client.get("/surveys/programmes/new")
    assert page.status_code == 200 and "Choice question 3 (optional)" in page.text
    response = client.submit("/surveys/programmes/new", form_data())
    assert response.status_code == 303
    created = _db.session.scalar(
        select(SurveyProgramme).where(SurveyProgramme.name == "After closing")
    )
    assert not created.active and created.active_since is None
    assert created.choices == [
        {
            "key": "q1",
            "en": "Which part mattered most?",
            "zh": "哪一部分最重要？",
            "options": [
                {"en": "Speed", "zh": "速度"},
                {"en": "Friendliness", "zh": "态度"},
                {"en": "Outcome", "zh": "结果"},
            ],
        }
    ]
    assert (created.remind_after_days, created.route, created.sample_rate) == (3, "rm", 1.0)
    event = _db.session.scalar(
        select(AuditEvent).where(AuditEvent.subject_type == "survey_programme")
    )
    assert event.action == "survey.programme_created" and event.after["name"] == "After closing"
    listing = client.get("/surveys/programmes")
    assert "After closing" in listing.text and "Off" in listing.text
    edit = client.get(response.headers["Location"])
    assert "Speed\nFriendliness\nOutcome" in edit.text


@pytest.mark.parametrize(
    ("language", "required", "options", "mismatch"),
    [
        ("en", "This is required.", "Give from 2 to 6 options, one per line.", "as many Chinese"),
        ("zh_Hans", "此项为必填项。", "请给出 2 到 6 个选项，每行一个。", "中文选项"),
    ],
)
def test_form_errors_stand_beside_their_field_in_the_users_language(
    client, login_as, db, language, required, options, mismatch
):
    login_as("admin", locale=language)
    missing = client.submit("/surveys/programmes/new", form_data(question_zh=" "))
    assert missing.status_code == 400 and required in missing.text
    assert 'id="question_zh-errors"' in missing.text
    one_option = client.submit(
        "/surveys/programmes/new", form_data(**{"choices-0-options_en": "Only one"})
    )
    assert one_option.status_code == 400 and options in one_option.text
    assert 'id="choices-0-options_en-errors"' in one_option.text
    uneven = client.submit(
        "/surveys/programmes/new", form_data(**{"choices-0-options_zh": "速度\n态度"})
    )
    assert uneven.status_code == 400 and mismatch in uneven.text
    assert 'id="choices-0-options_zh-errors"' in uneven.text
    too_much = client.submit("/surveys/programmes/new", form_data(sample_percent="120"))
    assert too_much.status_code == 400 and 'id="sample_percent-errors"' in too_much.text
    wave = client.submit("/surveys/programmes/new", form_data(trigger="wave"))
    assert wave.status_code == 400 and 'id="wave_months-errors"' in wave.text
    assert _db.session.scalar(select(SurveyProgramme.id)) is None  # nothing half-saved


def test_a_second_programme_of_the_same_name_is_refused_beside_the_name(client, login_as, db):
    make_programme(name="Quarterly NPS")
    login_as("lead")
    response = client.submit("/surveys/programmes/new", form_data(name="quarterly nps"))
    assert response.status_code == 400 and "Another programme has this name." in response.text
    assert 'id="name-errors"' in response.text


@pytest.mark.parametrize("role", ["rm", "handler"])
def test_rms_and_handlers_are_refused_every_programme_page(client, login_as, db, role):
    programme = make_programme()
    login_as(role)
    for url in (
        "/surveys/programmes",
        "/surveys/programmes/new",
        f"/surveys/programmes/{programme.id}/edit",
        f"/surveys/programmes/{programme.id}/preview/email?lang=en",
        f"/surveys/programmes/{programme.id}/invitations",
    ):
        assert client.get(url).status_code == 403, url
    toggled = client.submit(
        f"/surveys/programmes/{programme.id}/toggle", {"active": "0", "version": "1"}
    )
    assert toggled.status_code == 403
    with pytest.raises(PermissionDenied):
        programmes.programmes(make_actor(role))


def test_the_navigation_shows_surveys_to_leads_and_admins_only(client, login_as, db):
    login_as("lead")
    assert 'href="/surveys/programmes"' in client.get("/surveys/programmes").text
    client.post("/logout")
    login_as("handler")
    assert 'href="/surveys/programmes"' not in client.get("/tickets").text


def test_a_programme_name_opens_its_results_and_every_page_links_the_others(client, login_as, db):
    programme = make_programme(name="After complaints")
    login_as("lead")
    listing = client.get("/surveys/programmes").text
    assert f'href="/surveys/programmes/{programme.id}/results">After complaints</a>' in listing
    pages = ("results", "drivers", "phrases", "comments", "invitations", "edit")
    for page in pages:
        text = client.get(f"/surveys/programmes/{programme.id}/{page}").text
        for other in pages:
            assert f'href="/surveys/programmes/{programme.id}/{other}' in text, (page, other)
        assert text.count('aria-current="page"') >= 1
    login_as("handler")  # handlers read results but neither set up nor see who was invited
    text = client.get(f"/surveys/programmes/{programme.id}/results").text
    assert f"/surveys/programmes/{programme.id}/comments" in text
    assert f"/surveys/programmes/{programme.id}/edit" not in text
    assert f"/surveys/programmes/{programme.id}/invitations" not in text


def test_the_metric_is_locked_once_the_programme_has_answers(client, login_as, db):
    programme = make_programme(metric="nps", name="Locked")
    answer(programme)
    login_as("lead")
    page = client.get(f"/surveys/programmes/{programme.id}/edit")
    assert "Locked: this programme has answers on this scale." in page.text
    refused = client.submit(
        f"/surveys/programmes/{programme.id}/edit",
        form_data(name="Locked", metric="csat", version=str(programme.version)),
    )
    assert refused.status_code == 400 and "The metric cannot change" in refused.text
    assert 'id="metric-errors"' in refused.text
    _db.session.expire_all()
    assert programme.metric == "nps" and programme.question_en.startswith("How likely")
    kept = client.submit(
        f"/surveys/programmes/{programme.id}/edit",
        form_data(name="Locked", metric="nps", version=str(programme.version)),
    )
    assert kept.status_code == 303
    _db.session.expire_all()
    assert programme.question_en.startswith("How satisfied") and programme.version == 2


def test_a_stale_edit_names_who_changed_the_programme_and_saves_nothing(client, login_as, db):
    programme = make_programme(name="Stale")
    other = make_actor("admin", name="Ada Admin")
    programmes.update_programme(
        other, programme.id, programmes.ProgrammeInput(**_input(name="Stale", metric="nps")), 1
    )
    login_as("lead")
    response = client.submit(
        f"/surveys/programmes/{programme.id}/edit",
        form_data(name="Stale", metric="nps", question_en="Mine", version="1"),
    )
    assert response.status_code == 409
    assert "Ada Admin changed this programme at" in response.text
    _db.session.expire_all()
    assert programme.question_en != "Mine"
    with pytest.raises(Conflict):
        programmes.set_active(SYSTEM, programme.id, False, 1)


def _input(**overrides):
    values = {
        "name": "Programme",
        "metric": "csat",
        "trigger": "ticket_closed",
        "question_en": "How satisfied are you?",
        "question_zh": "您满意吗？",
    }
    values.update(overrides)
    return values


def test_the_use_cases_check_every_value_again(db):
    make = programmes.ProgrammeInput
    with pytest.raises(ValidationFailed) as error:
        programmes.create_programme(SYSTEM, make(**_input(metric="stars")))
    assert error.value.field == "metric"
    with pytest.raises(ValidationFailed) as error:
        programmes.create_programme(SYSTEM, make(**_input(expiry_days=3, remind_after_days=3)))
    assert error.value.field == "remind_after_days"
    with pytest.raises(ValidationFailed) as error:
        programmes.create_programme(SYSTEM, make(**_input(comment_prompt_en="Why?")))
    assert error.value.field == "comment_prompt_zh"
    with pytest.raises(ValidationFailed) as error:
        programmes.create_programme(SYSTEM, make(**_input(segment="vip")))
    assert error.value.field == "segment"
    created = programmes.create_programme(SYSTEM, make(**_input(sample_percent=20)))
    assert created.sample_rate == 0.2 and created.wave_months is None


def test_switching_on_stamps_the_moment_and_switching_off_keeps_it(db):
    programme = make_programme(active=False, active_since=None)
    moment = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)
    programmes.set_active(SYSTEM, programme.id, True, 1, now=moment)
    assert programme.active and programme.active_since == moment
    programmes.set_active(SYSTEM, programme.id, False, 2)
    assert not programme.active and programme.active_since == moment
    again = moment + timedelta(days=3)
    programmes.set_active(SYSTEM, programme.id, True, 3, now=again)
    assert programme.active_since == again
    actions = list(
        _db.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.subject_type == "survey_programme")
            .order_by(AuditEvent.id)
        )
    )
    assert actions == [
        "survey.programme_switched_on",
        "survey.programme_switched_off",
        "survey.programme_switched_on",
    ]


def test_editing_while_invitations_are_out_says_the_answer_page_changes(client, login_as, db):
    programme = make_programme()
    make_invitation(programme, make_customer())
    login_as("lead")
    page = client.get(f"/surveys/programmes/{programme.id}/edit")
    assert "Invitations of this programme are out" in page.text


@pytest.mark.parametrize(
    ("language", "greeting", "question"),
    [
        ("en", "Dear Mei", "Tell us <script>alert(1)</script>"),
        ("zh_Hans", "尊敬的Mei", "请告诉我们"),
    ],
)
def test_the_email_preview_in_each_language_escapes_what_was_typed(
    client, login_as, db, language, greeting, question
):
    programme = make_programme(
        metric="csat",
        question_en="Tell us <script>alert(1)</script>",
        question_zh="请告诉我们<img src=x onerror=alert(1)>",
    )
    login_as("lead")
    page = client.get(f"/surveys/programmes/{programme.id}/preview/email?lang={language}")
    assert page.status_code == 200
    assert greeting in page.text and "CMP-2026-000123" in page.text
    assert "<script>alert(1)</script>" not in page.text
    assert "<img src=x" not in page.text
    # The text part shows what was typed, escaped once; the HTML part sits in a sandboxed frame.
    assert 'sandbox=""' in page.text and "srcdoc=" in page.text
    policy = page.headers["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in policy and "script-src 'self'" in policy
    preview = programmes.email_preview(SYSTEM, programme.id, language)
    assert question in preview.rendered.body_text
    assert "&lt;" in preview.rendered.body_html and "<script>" not in preview.rendered.body_html
    assert [score for score, _ in preview.score_links] == [1, 2, 3, 4, 5]
    assert "sample-link?score=5" in preview.rendered.body_html
    assert (
        client.get(f"/surveys/programmes/{programme.id}/preview/email?lang=fr").status_code == 404
    )


def test_an_unknown_programme_is_a_clear_404(client, login_as, db):
    login_as("admin")
    assert client.get("/surveys/programmes/999999/edit").status_code == 404
    assert client.get("/surveys/programmes/999999/invitations").status_code == 404


def test_the_invitations_page_goes_fifty_at_a_time_and_counts_by_status(client, login_as, db):
    programme = make_programme()
    customer = make_customer(name="Zhao Lei")
    made = [make_invitation(programme, customer)[0] for _ in range(53)]
    made[0].status, made[0].reason = "not_sent", "no email address"
    _db.session.commit()
    login_as("lead")
    first = client.get(f"/surveys/programmes/{programme.id}/invitations")
    assert first.status_code == 200 and first.text.count("Zhao Lei") == 50
    assert 'rel="next"' in first.text and "52" in first.text  # invited 52, not sent 1
    next_url = first.text.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
    second = client.get(next_url)
    assert second.text.count("Zhao Lei") == 3 and 'rel="next"' not in second.text
    assert "no email address" in second.text  # the oldest, on the last page
    listing = client.get("/surveys/programmes")
    assert f'/surveys/programmes/{programme.id}/invitations">53<' in listing.text


# ---------------------------------------------------------------- in a real browser

# tests/test_browser.py's seeded portal: this module gets its own copy of the demo database.
from tests import test_browser as shared  # noqa: E402  (the browser test's fixtures, below)

live_portal = shared.live_portal
base_url = shared.base_url
PHONE_ERROR = {"en": "This is required.", "zh_Hans": "此项为必填项。"}


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize(("width", "locale"), [(1366, "en"), (375, "zh_Hans")])
def test_a_lead_sets_up_a_programme_at_desk_and_phone_width(browser, base_url, width, locale):
    from playwright.sync_api import expect

    context, page = shared._signed_in(
        browser, base_url, shared.LEAD, locale, viewport={"width": width, "height": 800}
    )

    def checked(what):
        shared._fits_the_width(page)
        shared._no_blocking_violations(page, what)

    try:
        page.goto("/surveys/programmes")
        checked("the programme list")
        page.goto("/surveys/programmes/new")
        page.fill("#name", f"Browser programme {width}")
        page.fill("#question_en", "How easy was it to <b>sort out</b> your issue?")
        page.locator("form[novalidate] button[type=submit]").click()
        expect(page.locator("#question_zh-errors")).to_have_text(PHONE_ERROR[locale])
        checked("the form with an error")
        page.fill("#question_zh", "解决您的问题有多容易？")
        page.locator("form[novalidate] button[type=submit]").click()
        expect(page.locator("h1")).to_have_text(f"Browser programme {width}")
        checked("the programme's page")
        edit_url = page.url
        page.locator("a[href*='/preview/email?lang=zh_Hans']").click()
        # Measured once the page and its style sheets have loaded: a click returns as soon as
        # the navigation commits, and an unstyled page's text part does not wrap its links.
        page.wait_for_load_state("load")
        checked("the email preview")
        frame = page.frame_locator("iframe.mail-html")
        expect(frame.locator("body")).to_contain_text("尊敬的")
        page.goto(edit_url)
        page.locator("form[action$='/toggle'] button[type=submit]").click()
        expect(page.locator("#messages")).to_contain_text(
            "invites for what happens from now on" if locale == "en" else "从现在起"
        )
        page.locator("a[href$='/invitations']").first.click()
        page.wait_for_load_state("load")
        checked("the invitations page")
    finally:
        context.close()
