"""The shipped complaint-ticket email templates (templates/mail/ticket_*/): each parses and
renders with every value filled or left empty, threads by the reference in its subject, and
says what its regulation requires (CN remedies, UK Financial Ombudsman Service wording, US
response category and CFPB), with the customer's words escaped in HTML.

Rendered from the files alone (no database): `render` is given the template it would load.
"""

import re
from typing import Any

import pytest

from portal.messaging.templates import (
    DEFAULT_DIR,
    Rendered,
    check_template,
    default_keys,
    default_template,
    render,
)

KEYS = (
    "ticket_acknowledgement_cn",
    "ticket_acknowledgement_uk",
    "ticket_acknowledgement_us",
    "ticket_extension_cn",
    "ticket_pause_cn",
    "ticket_resume_cn",
    "ticket_holding_uk",
    "ticket_holding_us",
    "ticket_decision_cn",
    "ticket_decision_uk",
    "ticket_decision_us",
    "ticket_summary_resolution_uk",
    "ticket_reply",
)
LOCALES = ("en", "zh_Hans")
KINDS = ("complaint", "feedback", "inquiry", "compliment")
CASES = [(key, locale) for key in KEYS for locale in LOCALES]
IDS = [f"{key}-{locale}" for key, locale in CASES]

REFERENCE = "CMP-2026-000123"
UNSUBSCRIBE = "https://portal.example.com/u/never-in-a-notice"
FILLED: dict[str, Any] = {
    "first_name": "Mei",
    "firm": "Example Consumer Finance",
    "reference": REFERENCE,
    "kind": "complaint",
    "received_on": "2026-03-02",
    "deadline": "2026-03-17",
    "summary_deadline": "2026-03-05",
    "message": "The statement from the card network is still outstanding.\nWe expect it soon.",
    "outcome": "The late fee was charged in error and is refunded.",
    "redress": "1,250.00",
    "company_response": "Closed with monetary relief",
    "unsubscribe_url": UNSUBSCRIBE,
}
OPTIONAL = (
    "first_name",
    "received_on",
    "deadline",
    "summary_deadline",
    "message",
    "outcome",
    "redress",
    "company_response",
    "unsubscribe_url",
)
EMPTY = {**FILLED, **dict.fromkeys(OPTIONAL, "")}

# Labels that introduce an optional value: none may be left dangling when the value is empty.
OPTIONAL_LABELS = {
    "en": (
        "Our decision:",
        "Our response:",
        "How we resolved it:",
        "Why we need more time",
        "Amount of redress",
        "Amount of relief",
        "Response category",
        " on .",
        "by .",
    ),
    "zh_Hans": (
        "处理决定：",
        "处理结果：",
        "补偿金额",
        "答复类别",
        "延期理由",
        "需要更多时间的原因",
        "于提出",
    ),
}
FOS = {
    "en": ("Financial Ombudsman Service", "six months"),
    "zh_Hans": ("金融申诉专员服务", "六个月"),
}
FOS_CONTACT = ("www.financial-ombudsman.org.uk", "0800 023 4567")
REMEDIES = {
    "en": ("review", "mediation", "arbitration", "litigation"),
    "zh_Hans": ("核查", "调解", "仲裁", "诉讼"),
}
GREETING = {
    "en": ("Dear Mei,", "Dear customer,"),
    "zh_Hans": ("Mei，您好：", "尊敬的客户，您好："),
}
TAG = re.compile(r"</?[a-zA-Z][^>]*>")
SCRIPT = "<script>alert(1)</script>"


def rendered(key: str, locale: str, **values: Any) -> Rendered:
    template = default_template(key, locale)
    assert template is not None, f"no template {key}/{locale}"
    return render(key, locale, {**FILLED, **values}, {(key, locale): template})


def both(result: Rendered) -> tuple[str, str]:
    return result.body_text, result.body_html


@pytest.mark.parametrize(("key", "locale"), CASES, ids=IDS)
def test_the_three_files_exist_and_the_subject_is_one_line(key: str, locale: str) -> None:
    folder = DEFAULT_DIR / key
    for suffix in ("subject.txt", "txt", "html"):
        assert (folder / f"{locale}.{suffix}").is_file()
    subject = (folder / f"{locale}.subject.txt").read_text(encoding="utf-8")
    assert "\n" not in subject.strip()
    assert "[{{ reference }}]" in subject
    assert key in default_keys()


@pytest.mark.parametrize(("key", "locale"), CASES, ids=IDS)
def test_renders_filled_and_empty_for_every_kind(key: str, locale: str) -> None:
    all_blank = dict.fromkeys(FILLED, "")
    for values in (FILLED, EMPTY, all_blank):
        for kind in (*KINDS, ""):
            result = rendered(key, locale, **{**values, "kind": kind})
            assert result.subject and result.body_text.strip() and result.body_html.strip()


@pytest.mark.parametrize(("key", "locale"), CASES, ids=IDS)
def test_the_subject_carries_the_reference_and_no_ad_prefix(key: str, locale: str) -> None:
    template = default_template(key, locale)
    assert template is not None and template[3] is False  # transactional: never 「广告」
    for values in (FILLED, EMPTY):
        for kind in KINDS:
            subject = rendered(key, locale, **{**values, "kind": kind}).subject
            assert f"[{REFERENCE}]" in subject
            assert not subject.startswith(("「广告」", "AD:"))


@pytest.mark.parametrize(("key", "locale"), CASES, ids=IDS)
def test_the_admin_check_accepts_the_shipped_template(key: str, locale: str) -> None:
    template = default_template(key, locale)
    assert template is not None
    check_template(*template[:3])


@pytest.mark.parametrize(("key", "locale"), CASES, ids=IDS)
def test_greeting_falls_back_and_firm_signs_off(key: str, locale: str) -> None:
    named, anonymous = GREETING[locale]
    for values, greeting in ((FILLED, named), (EMPTY, anonymous)):
        text, html = both(rendered(key, locale, **values))
        assert text.splitlines()[0] == greeting
        assert f"<p>{greeting}</p>" in html
        assert text.rstrip().splitlines()[-1] == FILLED["firm"]
        assert html.rstrip().endswith(f"<p>{FILLED['firm']}</p>")


@pytest.mark.parametrize(("key", "locale"), CASES, ids=IDS)
def test_text_part_is_plain_and_tidy(key: str, locale: str) -> None:
    for values in (FILLED, EMPTY):
        for kind in KINDS:
            text = rendered(key, locale, **{**values, "kind": kind}).body_text
            assert not TAG.search(text), text
            assert "\n\n\n" not in text, text
            assert not re.search(r"[ \t]+$", text, re.MULTILINE), text
            assert not text.startswith(("\n", " ")) and not text.endswith("\n\n")


@pytest.mark.parametrize(("key", "locale"), CASES, ids=IDS)
def test_empty_optional_values_leave_no_dangling_sentence(key: str, locale: str) -> None:
    for kind in KINDS:
        text, html = both(rendered(key, locale, **{**EMPTY, "kind": kind}))
        for label in OPTIONAL_LABELS[locale]:
            assert label not in text, (label, text)
            assert label not in html, (label, html)
        assert "CNY" not in text and "£" not in text and "$" not in text
        assert "人民币" not in text and "英镑" not in text and "美元" not in text


@pytest.mark.parametrize(("key", "locale"), CASES, ids=IDS)
def test_html_escapes_the_handlers_words(key: str, locale: str) -> None:
    html = rendered(key, locale, message=SCRIPT, outcome=SCRIPT, first_name=SCRIPT).body_html
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


@pytest.mark.parametrize(("key", "locale"), CASES, ids=IDS)
def test_no_unsubscribe_link_in_a_service_message(key: str, locale: str) -> None:
    for suffix in ("subject.txt", "txt", "html"):
        source = (DEFAULT_DIR / key / f"{locale}.{suffix}").read_text(encoding="utf-8")
        assert "unsubscribe" not in source
    result = rendered(key, locale)
    assert UNSUBSCRIBE not in result.body_text + result.body_html


@pytest.mark.parametrize("region", ["cn", "uk", "us"])
@pytest.mark.parametrize("locale", LOCALES)
def test_only_a_complaint_acknowledgement_promises_a_deadline(region: str, locale: str) -> None:
    key = f"ticket_acknowledgement_{region}"
    text, html = both(rendered(key, locale, kind="complaint"))
    assert FILLED["deadline"] in text and FILLED["deadline"] in html
    complaint_word = "complaint" if locale == "en" else "投诉"
    for kind in ("feedback", "inquiry", "compliment"):
        result = rendered(key, locale, kind=kind)
        assert FILLED["deadline"] not in result.body_text + result.body_html
        assert complaint_word not in result.subject
        assert complaint_word not in result.body_text


@pytest.mark.parametrize("locale", LOCALES)
def test_acknowledgements_state_each_regulatory_period(locale: str) -> None:
    cn = rendered("ticket_acknowledgement_cn", locale).body_text
    uk = rendered("ticket_acknowledgement_uk", locale).body_text
    us = rendered("ticket_acknowledgement_us", locale).body_text
    assert "15" in cn
    assert ("eight weeks" if locale == "en" else "八周") in uk
    assert FILLED["summary_deadline"] in uk
    assert ("third business day" if locale == "en" else "第三个工作日") in uk
    assert "15" in us and "60" in us


@pytest.mark.parametrize("key", ["ticket_extension_cn", "ticket_resume_cn", "ticket_holding_us"])
@pytest.mark.parametrize("locale", LOCALES)
def test_clock_notices_give_the_new_deadline_and_the_handlers_words(key: str, locale: str) -> None:
    text, html = both(rendered(key, locale))
    assert FILLED["deadline"] in text and FILLED["deadline"] in html
    assert FILLED["message"] in text
    assert FILLED["message"] in html  # line break kept, shown with white-space: pre-wrap
    assert "white-space: pre-wrap" in html


@pytest.mark.parametrize("locale", LOCALES)
def test_the_pause_says_the_time_is_not_counted(locale: str) -> None:
    text = rendered("ticket_pause_cn", locale).body_text
    assert ("does not count" if locale == "en" else "不计入") in text
    assert FILLED["message"] in text


@pytest.mark.parametrize("locale", LOCALES)
def test_cn_decision_names_all_four_remedies(locale: str) -> None:
    colon = ":" if locale == "en" else "："
    for values in (FILLED, EMPTY):
        text, html = both(rendered("ticket_decision_cn", locale, **values))
        for remedy in REMEDIES[locale]:
            label = remedy.capitalize()  # each remedy heads its own item of the list
            assert f"{label}{colon}" in text, remedy
            assert f"<li><strong>{label}</strong>{colon}" in html, remedy
    text = rendered("ticket_decision_cn", locale).body_text
    assert FILLED["outcome"] in text and FILLED["redress"] in text


@pytest.mark.parametrize(
    "key", ["ticket_decision_uk", "ticket_holding_uk", "ticket_summary_resolution_uk"]
)
@pytest.mark.parametrize("locale", LOCALES)
def test_uk_notices_point_to_the_financial_ombudsman_service(key: str, locale: str) -> None:
    for values in (FILLED, EMPTY):
        for part in both(rendered(key, locale, **values)):
            for words in (*FOS[locale], *FOS_CONTACT):
                assert words in part, words


@pytest.mark.parametrize("key", ["ticket_decision_uk", "ticket_summary_resolution_uk"])
@pytest.mark.parametrize("locale", LOCALES)
def test_uk_closing_notices_say_the_time_limit_is_not_waived(key: str, locale: str) -> None:
    text = rendered(key, locale).body_text
    if locale == "en":
        assert "will not have our permission to consider your complaint" in text
    else:
        assert "我们不同意申诉专员审理您的投诉" in text
    assert FILLED["outcome"] in text


@pytest.mark.parametrize("locale", LOCALES)
def test_uk_final_response_says_it_is_final(locale: str) -> None:
    text = rendered("ticket_decision_uk", locale).body_text
    assert ("This is our final response" if locale == "en" else "最终答复") in text
    assert FILLED["redress"] in text


@pytest.mark.parametrize("locale", LOCALES)
def test_us_response_gives_its_category_when_there_is_one(locale: str) -> None:
    text, html = both(rendered("ticket_decision_us", locale))
    assert FILLED["company_response"] in text and FILLED["company_response"] in html
    assert "consumerfinance.gov/complaint" in text and "consumerfinance.gov/complaint" in html
    assert FILLED["outcome"] in text and FILLED["redress"] in text
    text, html = both(rendered("ticket_decision_us", locale, company_response=""))
    assert FILLED["company_response"] not in text + html
    assert "consumerfinance.gov/complaint" in text


@pytest.mark.parametrize("locale", LOCALES)
def test_reply_threads_by_the_reference_and_keeps_the_line_breaks(locale: str) -> None:
    result = rendered("ticket_reply", locale, kind="inquiry")
    assert result.subject.startswith("Re:" if locale == "en" else "回复：")
    assert result.subject.endswith(f"[{REFERENCE}]")
    assert FILLED["message"] in result.body_text
    assert f'<div style="white-space: pre-wrap;">{FILLED["message"]}</div>' in result.body_html
