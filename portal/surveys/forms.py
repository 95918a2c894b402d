"""Forms of the surveys room. The use cases check every value again; these give the fields,
their labels, the first checks (each message beside its field) and the CSRF token."""

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DecimalField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from portal.core.forms import choices
from portal.surveys.labels import (
    METRIC_LABELS,
    ROUTE_LABELS,
    SEGMENT_LABELS,
    TRIGGER_LABELS,
    WAVE_MONTH_LABELS,
)
from portal.surveys.programmes import (
    CHOICE_TEXT_MAX,
    CHOICES_MAX,
    DELAY_MAX_HOURS,
    EXPIRY_MAX_DAYS,
    NAME_MAX,
    PROMPT_MAX,
    QUESTION_MAX,
    ChoiceInput,
    ProgrammeInput,
)

REQUIRED = _l("This is required.")


def _at_most(limit: int) -> Any:
    return Length(max=limit, message=_l("At most %(limit)d characters.", limit=limit))


def _whole(low: int, high: int) -> Any:
    return NumberRange(
        low, high, message=_l("A whole number from %(low)d to %(high)d.", low=low, high=high)
    )


class ChoiceQuestionForm(Form):
    """One optional choice question: its text and options (one per line) in both languages."""

    text_en = StringField(_l("Question (English)"), validators=[_at_most(CHOICE_TEXT_MAX)])
    text_zh = StringField(_l("Question (Chinese)"), validators=[_at_most(CHOICE_TEXT_MAX)])
    options_en = TextAreaField(_l("Options (English), one per line"))
    options_zh = TextAreaField(_l("Options (Chinese), one per line"))

    def as_input(self) -> ChoiceInput:
        return ChoiceInput(
            (self.text_en.data or "").strip(),
            (self.text_zh.data or "").strip(),
            _lines(self.options_en.data),
            _lines(self.options_zh.data),
        )


def _lines(text: str | None) -> tuple[str, ...]:
    return tuple(line.strip() for line in (text or "").splitlines() if line.strip())


class ProgrammeForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(REQUIRED), _at_most(NAME_MAX)])
    metric = SelectField(_l("Metric"), choices=lambda: choices(METRIC_LABELS))
    trigger = SelectField(_l("Invites"), choices=lambda: choices(TRIGGER_LABELS))
    question_en = TextAreaField(
        _l("Question (English)"), validators=[DataRequired(REQUIRED), _at_most(QUESTION_MAX)]
    )
    question_zh = TextAreaField(
        _l("Question (Chinese)"), validators=[DataRequired(REQUIRED), _at_most(QUESTION_MAX)]
    )
    comment_prompt_en = StringField(
        _l("Comment prompt (English, optional)"), validators=[_at_most(PROMPT_MAX)]
    )
    comment_prompt_zh = StringField(
        _l("Comment prompt (Chinese, optional)"), validators=[_at_most(PROMPT_MAX)]
    )
    choices = FieldList(
        FormField(ChoiceQuestionForm), min_entries=CHOICES_MAX, max_entries=CHOICES_MAX
    )
    send_delay_hours = IntegerField(
        _l("Send delay (hours after the ticket is closed or the contact)"),
        default=24,
        validators=[InputRequired(REQUIRED), _whole(0, DELAY_MAX_HOURS)],
    )
    expiry_days = IntegerField(
        _l("Link valid for (days)"),
        default=14,
        validators=[InputRequired(REQUIRED), _whole(1, EXPIRY_MAX_DAYS)],
    )
    sample_percent = DecimalField(
        _l("Sample rate (%)"),
        default=100,
        places=None,
        validators=[
            InputRequired(REQUIRED),
            NumberRange(0, 100, message=_l("A percentage from 0 to 100.")),
        ],
    )
    segment = SelectField(
        _l("Segment"),
        choices=lambda: [SelectChoice("", str(_l("Every segment"))), *choices(SEGMENT_LABELS)],
    )
    wave_months = SelectField(
        _l("Wave every"),
        choices=lambda: [SelectChoice("", "—"), *choices(WAVE_MONTH_LABELS)],
        validate_choice=False,
    )
    wave_send_hour = IntegerField(
        _l("Wave send hour (customer's local time)"),
        default=10,
        validators=[InputRequired(REQUIRED), _whole(0, 23)],
    )
    remind_after_days = IntegerField(
        _l("Remind non-responders after (days, optional)"),
        validators=[Optional(), _whole(1, EXPIRY_MAX_DAYS - 1)],
    )
    route = SelectField(
        _l("Follow-ups of unhappy answers go to"), choices=lambda: choices(ROUTE_LABELS)
    )
    version = HiddenField()

    def as_input(self) -> ProgrammeInput:
        wave = (self.wave_months.data or "").strip()
        percent = self.sample_percent.data
        return ProgrammeInput(
            name=self.name.data or "",
            metric=self.metric.data or "",
            trigger=self.trigger.data or "",
            question_en=self.question_en.data or "",
            question_zh=self.question_zh.data or "",
            comment_prompt_en=self.comment_prompt_en.data or "",
            comment_prompt_zh=self.comment_prompt_zh.data or "",
            choices=tuple(entry.form.as_input() for entry in self.choices),
            send_delay_hours=self.send_delay_hours.data,
            expiry_days=self.expiry_days.data,
            sample_percent=float(percent) if percent is not None else None,
            segment=self.segment.data or "",
            wave_months=int(wave) if wave.isdigit() else None,
            wave_send_hour=self.wave_send_hour.data,
            remind_after_days=self.remind_after_days.data,
            route=self.route.data or "",
        )

    def fill_from(self, programme: Any) -> None:
        """The form as a programme stands (for the edit page)."""
        for name in (
            "name",
            "metric",
            "trigger",
            "question_en",
            "question_zh",
            "comment_prompt_en",
            "comment_prompt_zh",
            "send_delay_hours",
            "expiry_days",
            "wave_send_hour",
            "remind_after_days",
            "route",
        ):
            getattr(self, name).data = getattr(programme, name)
        self.sample_percent.data = round(programme.sample_rate * 100, 2)
        self.segment.data = programme.segment or ""
        self.wave_months.data = str(programme.wave_months or "")
        self.version.data = str(programme.version)
        for entry, choice in zip(self.choices, programme.choices or [], strict=False):
            entry.form.text_en.data = choice.get("en", "")
            entry.form.text_zh.data = choice.get("zh", "")
            entry.form.options_en.data = "\n".join(o.get("en", "") for o in choice["options"])
            entry.form.options_zh.data = "\n".join(o.get("zh", "") for o in choice["options"])

    def field_named(self, name: str | None) -> Any:
        """The field a use case's refusal names ("choices-1-options_zh" included), if any."""
        if not name:
            return None
        if name in self._fields:
            return self._fields[name]
        for entry in self.choices:
            for sub in entry.form:
                if sub.name == name:
                    return sub
        return None


class ToggleForm(FlaskForm):
    version = HiddenField()
