"""Forms for customers, contacts, follow-ups and reassignment."""

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    EmailField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from portal.core.config import LANGUAGES
from portal.core.forms import choices
from portal.core.requests import MAX_ID
from portal.customers.models import Channel, Direction, Outcome, Segment


def _at_most(limit: int) -> str:
    """A length limit's message, in the plural form the number takes."""
    return lazy_ngettext("At most %(num)d character.", "At most %(num)d characters.", limit)


CHANNEL_LABELS = {
    Channel.CALL: _l("Call"),
    Channel.VISIT: _l("Visit"),
    Channel.EMAIL: _l("Email"),
    Channel.CHAT: _l("Chat"),
    Channel.SMS: _l("SMS"),
}
DIRECTION_LABELS = {Direction.OUTBOUND: _l("Outbound"), Direction.INBOUND: _l("Inbound")}
OUTCOME_LABELS = {
    Outcome.REACHED: _l("Reached"),
    Outcome.NO_ANSWER: _l("No answer"),
    Outcome.LEFT_MESSAGE: _l("Left a message"),
    Outcome.RESOLVED: _l("Resolved"),
    Outcome.FOLLOW_UP: _l("Follow-up needed"),
    Outcome.DECLINED: _l("Declined"),
}
SEGMENT_LABELS = {
    Segment.MASS: _l("Mass"),
    Segment.AFFLUENT: _l("Affluent"),
    Segment.PRIVATE: _l("Private banking"),
    Segment.SMALL_BUSINESS: _l("Small business"),
}
FLAG_LABELS = {
    "in_arrears": _l("In arrears"),
    "hardship": _l("Hardship"),
    "vulnerable": _l("Vulnerable"),
    "deceased": _l("Deceased"),
    "do_not_contact": _l("Do not contact"),
}
CONSENT_LABELS = {
    "care": _l("Care greetings"),
    "survey": _l("Surveys"),
    "service": _l("Service messages"),
}
ACCOUNT_STATUS_LABELS = {
    "active": _l("Active"),
    "in_arrears": _l("In arrears"),
    "closed": _l("Closed"),
    "charged_off": _l("Charged off"),
}
PRODUCT_LABELS = {
    "personal_loan": _l("Personal loan"),
    "credit_card": _l("Credit card"),
    "mortgage": _l("Mortgage"),
    "auto_loan": _l("Auto loan"),
}


class ContactForm(FlaskForm):
    channel = SelectField(_l("Channel"), choices=lambda: choices(CHANNEL_LABELS))
    direction = SelectField(_l("Direction"), choices=lambda: choices(DIRECTION_LABELS))
    occurred_at = DateTimeLocalField(
        _l("When"),
        format="%Y-%m-%dT%H:%M",
        validators=[InputRequired(_l("Enter when it happened."))],
    )
    outcome = SelectField(_l("Outcome"), choices=lambda: choices(OUTCOME_LABELS))
    summary = TextAreaField(
        _l("Summary"),
        validators=[
            DataRequired(_l("Write what was said.")),
            Length(max=4000, message=_at_most(4000)),
        ],
    )
    follow_up_on = DateField(
        _l("Follow up on"),
        validators=[Optional()],
    )
    follow_up_note = StringField(
        _l("Follow-up note"),
        validators=[Length(max=4000, message=_at_most(4000))],
    )


class RescheduleForm(FlaskForm):
    due_on = DateField(
        _l("New date"),
        validators=[InputRequired(_l("Choose a date."))],
    )


class CustomerForm(FlaskForm):
    version = HiddenField()
    number = StringField(_l("Customer number"), validators=[Length(max=32)])
    name = StringField(_l("Name"), validators=[DataRequired(_l("Enter a name.")), Length(max=120)])
    email = EmailField(_l("Email"), validators=[Length(max=254)])
    phone = StringField(_l("Phone"), validators=[Length(max=32)])
    id_number = StringField(_l("ID number"), validators=[Length(max=32)])
    birthday = StringField(_l("Birthday (YYYY-MM-DD)"), validators=[Length(max=10)])
    locale = SelectField(
        _l("Preferred language"),
        choices=lambda: [SelectChoice(k, v) for k, v in LANGUAGES.items()],
    )
    timezone = StringField(_l("Time zone"), validators=[Length(max=64)])
    segment = SelectField(_l("Segment"), choices=lambda: choices(SEGMENT_LABELS))
    owner_id = SelectField(_l("Relationship manager"), coerce=str, validate_choice=False)
    consent_care = BooleanField(CONSENT_LABELS["care"])
    consent_survey = BooleanField(CONSENT_LABELS["survey"])
    consent_service = BooleanField(CONSENT_LABELS["service"])
    in_arrears = BooleanField(FLAG_LABELS["in_arrears"])
    hardship = BooleanField(FLAG_LABELS["hardship"])
    vulnerable = BooleanField(FLAG_LABELS["vulnerable"])
    deceased = BooleanField(FLAG_LABELS["deceased"])
    do_not_contact = BooleanField(FLAG_LABELS["do_not_contact"])


class ImportForm(FlaskForm):
    file = FileField(
        _l("CSV file"),
        validators=[FileRequired(_l("Choose a CSV file to import."))],
    )


class ReassignForm(FlaskForm):
    owner_id = IntegerField(
        _l("New relationship manager"), validators=[DataRequired(), NumberRange(min=1, max=MAX_ID)]
    )
    reason = StringField(_l("Reason"), validators=[Length(max=500)])


class EraseForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason (recorded)"),
        validators=[DataRequired(_l("Give the reason for the erasure.")), Length(max=1000)],
    )
    confirm_number = StringField(
        _l("Type the customer number to confirm"), validators=[DataRequired()]
    )
