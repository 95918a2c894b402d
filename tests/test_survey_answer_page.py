"""The survey answer page /s/<token>: the customer reads their first name, the subject and the
question in their own language; opening the link records nothing; one POST records one answer;
the same browser may change it for an hour; bad links and bad input get clear pages."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.core.extensions import db as _db
from portal.core.timeutil import utc_now
from portal.surveys import answers
from portal.surveys.models import InvitationStatus, SurveyAnswer, SurveyInvitation
from tests.factories import make_customer, make_invitation, make_programme, make_ticket

SUBJECT = "CMP-2026-000123"
CHOICES = [
    {
        "key": "speed",
        "en": "How quickly did we answer?",
        "zh": "我们的回复速度如何？",
        "options": [{"en": "Fast", "zh": "快"}, {"en": "Slow", "zh": "慢"}],
    }
]


def count_answers() -> int:
    return _db.session.scalar(select(func.count()).select_from(SurveyAnswer))


def invite(programme=None, *, name="Alice Walker", locale="en", **about):
    customer = make_customer(name=name, locale=locale, email="alice.walker@mail.example.com")
    programme = programme or make_programme(choices=CHOICES)
    about.setdefault("subject_label", SUBJECT)
    invitation, token = make_invitation(programme, customer, **about)
    return customer, invitation, token


def send(client, token, score="9", comment="", **more):
    return client.submit(f"/s/{token}", {"score": score, "comment": comment, **more})


def checked_score(html: str) -> str | None:
    found = re.search(r'value="(\d+)" id="score-\d+" checked', html)
    return found.group(1) if found else None


# ---------------------------------------------------------------- what the customer reads


def test_the_page_speaks_english_with_only_the_first_name_and_the_subject(client) -> None:
    customer, _invitation, token = invite()
    page = client.get(f"/s/{token}", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200
    html = page.text
    assert '<html lang="en">' in html
    assert "Hello Alice," in html and SUBJECT in html
    assert "How likely are you to recommend us to a friend?" in html
    assert "What is the main reason for your score?" in html
    assert "0 = not at all likely" in html and "10 = extremely likely" in html
    assert [int(v) for v in re.findall(r'name="score" value="(\d+)"', html)] == list(range(11))
    assert "How quickly did we answer?" in html and "Fast" in html
    for private in ("Walker", customer.email, customer.phone, customer.number):
        assert private not in html
    assert page.headers["X-Robots-Tag"] == "noindex"
    assert page.headers["Referrer-Policy"] == "no-referrer"


def test_the_page_speaks_chinese_to_a_chinese_customer_whatever_the_browser_says(client) -> None:
    _customer, _invitation, token = invite(name="王小明", locale="zh_Hans")
    html = client.get(f"/s/{token}", headers={"Accept-Language": "en-US"}).text
    assert '<html lang="zh-Hans">' in html
    assert "小明" in html and "王小明" not in html
    assert "您有多大可能向朋友推荐我们？" in html and "我们的回复速度如何？" in html
    assert "How likely" not in html and "Hello" not in html


@pytest.mark.parametrize(
    ("metric", "scores", "ends"),
    [
        ("csat", list(range(1, 6)), ("1 = very dissatisfied", "5 = very satisfied")),
        ("ces", list(range(1, 8)), ("1 = strongly disagree", "7 = strongly agree")),
    ],
)
def test_csat_and_ces_pages_show_their_own_scales(client, metric, scores, ends) -> None:
    _customer, _invitation, token = invite(make_programme(metric=metric))
    html = client.get(f"/s/{token}").text
    assert [int(v) for v in re.findall(r'name="score" value="(\d+)"', html)] == scores
    assert all(end in html for end in ends)


# ---------------------------------------------------------------- opening records nothing


def test_opening_the_link_or_a_per_score_link_records_nothing_and_preselects(client) -> None:
    _customer, invitation, token = invite()
    for method in (client.get, client.head):
        assert method(f"/s/{token}?score=3").status_code == 200
    page = client.get(f"/s/{token}?score=3")
    assert checked_score(page.text) == "3"
    assert checked_score(client.get(f"/s/{token}?score=42").text) is None  # off the scale
    assert checked_score(client.get(f"/s/{token}?score=x").text) is None
    assert count_answers() == 0
    _db.session.refresh(invitation)
    assert invitation.status == InvitationStatus.INVITED and invitation.answered_at is None


# ---------------------------------------------------------------- one answer per invitation


def test_a_post_records_the_answer_and_a_second_submit_is_already_answered(client) -> None:
    customer, invitation, token = invite()
    thanks = send(client, token, "9", "Quick and kind", **{"choice-speed": "0"})
    assert thanks.status_code == 200
    assert "Your answer is recorded" in thanks.text
    assert client.get_cookie("survey_device", path="/s/") is not None
    answer = _db.session.scalar(select(SurveyAnswer))
    assert (answer.score, answer.score_group, answer.comment) == (9, 1, "Quick and kind")
    assert answer.choices == {"speed": 0}
    assert (answer.customer_id, answer.locale, answer.source) == (customer.id, "en", "web")
    assert answer.segment == "mass" and answer.device_hash
    _db.session.refresh(invitation)
    assert invitation.status == InvitationStatus.ANSWERED and invitation.answered_at

    again = send(client, token, "2", "second thoughts")
    assert again.status_code == 409
    assert "Already answered — thank you." in again.text
    assert count_answers() == 1
    _db.session.refresh(answer)
    assert answer.score == 9
    # Opening the link afterwards says so too, and from another browser offers no change.
    other = client.application.test_client()
    later = other.get(f"/s/{token}")
    assert "Already answered — thank you." in later.text and 'name="change"' not in later.text


def test_the_same_browser_changes_its_answer_within_the_hour_but_no_other(client) -> None:
    _customer, _invitation, token = invite()
    send(client, token, "9", "Fine")
    page = client.get(f"/s/{token}")
    assert 'name="change" value="1"' in page.text and checked_score(page.text) == "9"
    changed = send(client, token, "7", "On reflection, average", change="1")
    assert changed.status_code == 200 and "Your answer is changed." in changed.text
    answer = _db.session.scalar(select(SurveyAnswer))
    _db.session.refresh(answer)
    assert (answer.score, answer.comment, answer.score_group) == (7, "On reflection, average", 0)
    assert answer.changed_at is not None and count_answers() == 1

    stranger = client.application.test_client()
    stranger.get(f"/s/{token}")
    refused = send(stranger, token, "0", "not mine", change="1")
    assert refused.status_code == 409
    _db.session.refresh(answer)
    assert answer.score == 7


def test_after_an_hour_the_answer_can_no_longer_be_changed(client) -> None:
    _customer, _invitation, token = invite()
    send(client, token, "9")
    device = client.get_cookie("survey_device", path="/s/").value
    answer = _db.session.scalar(select(SurveyAnswer))
    late = answer.answered_at + timedelta(minutes=61)
    assert answers.may_change(answer, device, answer.answered_at + timedelta(minutes=59))
    assert not answers.may_change(answer, device, late)
    with pytest.raises(answers.AlreadyAnswered):
        answers.record_answer(
            answers.ACTOR, token, answers.AnswerInput("3", change=True), device=device, now=late
        )
    _db.session.refresh(answer)
    assert answer.score == 9


# ---------------------------------------------------------------- bad links


def test_unknown_tampered_and_malformed_links_get_a_404_in_the_browsers_language(client) -> None:
    _customer, _invitation, token = invite()
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (tampered, "x" * 43, "short", "a" * 200, "%3Cscript%3E"):
        page = client.get(f"/s/{bad}", headers={"Accept-Language": "zh-CN"})
        assert page.status_code == 404, bad
        assert "此链接无效" in page.text
    english = send(client, tampered)
    assert english.status_code == 404 and "This link does not work" in english.text
    assert count_answers() == 0


def test_an_expired_link_says_so_in_the_customers_language(client) -> None:
    _customer, invitation, token = invite(name="李华", locale="zh_Hans")
    invitation.expires_at = utc_now() - timedelta(minutes=1)
    _db.session.commit()
    page = client.get(f"/s/{token}", headers={"Accept-Language": "en"})
    assert page.status_code == 410 and "此调查已结束" in page.text
    sent = send(client, token, "8")
    assert sent.status_code == 410 and "此调查已结束" in sent.text
    assert count_answers() == 0


def test_a_never_sent_invitation_opens_nothing(client) -> None:
    _customer, invitation, token = invite()
    invitation.status = InvitationStatus.NOT_SENT.value
    _db.session.commit()
    assert client.get(f"/s/{token}").status_code == 404
    assert send(client, token).status_code == 404


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("score", "message"),
    [
        ("", "Choose a score."),
        ("11", "Choose a score from 0 to 10."),
        ("-1", "Choose a score from 0 to 10."),
        ("seven", "Choose a score from 0 to 10."),
    ],
)
def test_a_missing_or_off_scale_score_gives_the_form_back(client, score, message) -> None:
    _customer, _invitation, token = invite()
    page = send(client, token, score, "kept comment")
    assert page.status_code == 400
    assert message in page.text and "kept comment" in page.text
    assert count_answers() == 0


def test_an_oversized_comment_and_an_unknown_option_are_refused(client) -> None:
    _customer, _invitation, token = invite()
    too_long = send(client, token, "5", "x" * (answers.COMMENT_MAX + 1))
    assert too_long.status_code == 400
    assert "Your comment has 2001 characters; shorten it to 2000 or fewer." in too_long.text
    unknown = send(client, token, "5", "ok", **{"choice-speed": "7"})
    assert unknown.status_code == 400 and "Choose one of the answers offered." in unknown.text
    assert count_answers() == 0
    exact = send(client, token, "5", "y" * answers.COMMENT_MAX)
    assert exact.status_code == 200 and count_answers() == 1


def test_a_refusal_is_in_chinese_for_a_chinese_customer(client) -> None:
    _customer, _invitation, token = invite(name="李华", locale="zh_Hans")
    page = send(client, token, "", "")
    assert page.status_code == 400 and "请选择一个分数。" in page.text


def test_a_post_without_its_csrf_token_keeps_the_answer_and_saves_nothing(client) -> None:
    _customer, _invitation, token = invite()
    page = client.post(f"/s/{token}", data={"score": "4", "comment": "typed with care"})
    assert page.status_code == 400
    assert "open too long" in page.text and "typed with care" in page.text
    assert checked_score(page.text) == "4"
    assert count_answers() == 0


def test_script_in_a_comment_is_stored_as_text_and_escaped_back(client) -> None:
    _customer, _invitation, token = invite()
    script = '<script>alert("x")</script>'
    send(client, token, "9", script)
    assert _db.session.scalar(select(SurveyAnswer.comment)) == script
    page = client.get(f"/s/{token}")  # the same browser sees its answer to change
    assert script not in page.text and "&lt;script&gt;" in page.text


def test_the_page_is_rate_limited_per_ip_with_a_friendly_page(app, client, monkeypatch) -> None:
    monkeypatch.setitem(app.config, "SURVEY_PAGE_LIMIT", "3 per minute")
    _customer, _invitation, token = invite(name="李华", locale="zh_Hans")
    for _ in range(3):
        assert client.get(f"/s/{token}").status_code == 200
    blocked = client.get(f"/s/{token}", headers={"Accept-Language": "en"})
    assert blocked.status_code == 429 and "请稍候" in blocked.text
    assert send(client, token).status_code == 429 and count_answers() == 0
    elsewhere = client.get(f"/s/{token}", environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert elsewhere.status_code == 200


# ---------------------------------------------------------------- preview


def test_a_lead_previews_the_page_in_either_language_with_nothing_to_send(client, login_as) -> None:
    programme = make_programme(choices=CHOICES)
    login_as("lead")
    english = client.get(f"/surveys/programmes/{programme.id}/preview/page?lang=en")
    assert english.status_code == 200
    assert "Hello Alex," in english.text and "How likely are you" in english.text
    assert "<form" not in english.text.split("<main", 1)[1]
    assert "<fieldset disabled>" in english.text
    chinese = client.get(f"/surveys/programmes/{programme.id}/preview/page?lang=zh_Hans")
    assert '<html lang="zh-Hans">' in chinese.text and "您有多大可能" in chinese.text
    assert client.get("/surveys/programmes/999999/preview/page").status_code == 404
    login_as("rm")
    assert client.get(f"/surveys/programmes/{programme.id}/preview/page").status_code == 403
    assert count_answers() == 0


def test_a_ticket_invitation_answer_copies_the_tickets_facts(client) -> None:
    customer = make_customer(name="Bo Chen", locale="en", segment="affluent")
    ticket = make_ticket(customer=customer, product="Platinum card")
    received = ticket.received_at
    ticket.resolved_at = received + timedelta(days=20, hours=3)
    ticket.closed_at = received + timedelta(days=22)
    ticket.due_at = received + timedelta(days=15)
    _db.session.commit()
    programme = make_programme()
    _invitation, token = make_invitation(
        programme, customer, ticket_id=ticket.id, subject_label=ticket.reference
    )
    send(client, token, "8")
    answer = _db.session.scalar(select(SurveyAnswer))
    assert (answer.ticket_id, answer.product, answer.cause_code, answer.channel_code) == (
        ticket.id,
        "Platinum card",
        "C07",
        "A0303",
    )
    assert answer.handler_id == ticket.assignee_id
    assert (answer.resolve_days, answer.breached, answer.segment) == (20, True, "affluent")
    assert _db.session.get(SurveyInvitation, _invitation.id).status == "answered"
