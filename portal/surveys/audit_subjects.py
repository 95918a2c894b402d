"""The room's subjects on the audit log page (accounts): survey programmes and answers, with
the labels of the fields their events record."""

from flask import Flask, url_for
from flask_babel import lazy_gettext as _l

from portal.accounts.audit_log import link_each, register_subject

PROGRAMME_FIELDS = {
    "name": _l("Name"),
    "metric": _l("Metric"),
    "trigger": _l("Invites"),
    "active": _l("On"),
    "active_since": _l("Switched on"),
    "question_en": _l("Question (English)"),
    "question_zh": _l("Question (Chinese)"),
    "comment_prompt_en": _l("Comment prompt (English)"),
    "comment_prompt_zh": _l("Comment prompt (Chinese)"),
    "choices": _l("Choice questions"),
    "send_delay_hours": _l("Send delay (hours)"),
    "expiry_days": _l("Link valid for (days)"),
    "sample_rate": _l("Sample rate"),
    "segment": _l("Segment"),
    "wave_months": _l("Wave every (months)"),
    "wave_send_hour": _l("Send hour"),
    "remind_after_days": _l("Remind after (days)"),
    "route": _l("Follow-ups go to"),
}


def _programme_page(subject_id: str) -> str | None:
    if not subject_id.isdigit():
        return None
    return url_for("surveys.programme_edit", programme_id=int(subject_id))


def register(app: Flask) -> None:
    register_subject(
        app,
        "survey_programme",
        _l("Survey programme"),
        link_each(_programme_page),
        PROGRAMME_FIELDS,
    )
    # Answers: `survey.answered` and `survey.answer_changed`.
    register_subject(
        app,
        "survey_answer",
        _l("Survey answer"),
        field_labels={"score": _l("Score"), "programme": _l("Programme")},
    )
