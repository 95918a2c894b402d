"""Forms of the tickets room. The services check every value again; these give the fields,
their labels and the CSRF token."""

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    EmailField,
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TelField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from portal.core.config import LANGUAGES
from portal.core.forms import choices
from portal.tickets.labels import (
    KIND_LABELS,
    REDRESS_LABELS,
    REMEDY_LABELS,
    SENT_VIA_LABELS,
    SEVERITY_LABELS,
    US_RESPONSES,
)
from portal.tickets.validation import REASON_MAX, SUBJECT_MAX, TEXT_MAX
from portal.tickets.webform import EMAIL_MAX, HINT_MAX, NAME_MAX, NUMBER_MAX, PHONE_MAX


def _text_length(limit: int) -> Length:
    return Length(max=limit, message=_l("At most %(max)d characters.", max=limit))


class _TaxonomyFields:
    channel_code = SelectField(_l("Channel (JR/T 0169 A)"), validate_choice=False)
    business_code = SelectField(_l("Business type (B)"), validate_choice=False)
    cause_code = SelectField(_l("Cause (C)"), validate_choice=False)
    severity = SelectField(_l("Severity"), choices=lambda: choices(SEVERITY_LABELS))
    subject = StringField(
        lazy_pgettext("ticket", "Subject"),
        validators=[DataRequired(_l("Give the ticket a subject.")), _text_length(SUBJECT_MAX)],
    )
    product = StringField(_l("Product"), validators=[_text_length(120)])
    request = TextAreaField(_l("What the customer asks for"), validators=[_text_length(TEXT_MAX)])
    description = TextAreaField(_l("What happened"), validators=[_text_length(TEXT_MAX)])


class TicketForm(_TaxonomyFields, FlaskForm):
    kind = SelectField(_l("Kind"), choices=lambda: choices(KIND_LABELS))
    customer_id = HiddenField()
    account_id = SelectField(_l("Account"), validate_choice=False)
    received_at = DateTimeLocalField(
        _l("Received"), format="%Y-%m-%dT%H:%M", validators=[Optional()]
    )
    assignee_id = SelectField(_l("Assignee"), validate_choice=False)
    team_id = SelectField(_l("Team"), validate_choice=False)


class DetailsForm(_TaxonomyFields, FlaskForm):
    root_cause = TextAreaField(_l("Root cause"), validators=[_text_length(TEXT_MAX)])
    redress_kind = SelectField(
        _l("Redress"), choices=lambda: [SelectChoice("", "—"), *choices(REDRESS_LABELS)]
    )
    redress_amount = StringField(_l("Redress amount"), validators=[_text_length(20)])
    version = HiddenField()


class StatusForm(FlaskForm):
    to = HiddenField()
    reason = StringField(_l("Reason"), validators=[_text_length(REASON_MAX)])
    resolution = TextAreaField(_l("Resolution"), validators=[_text_length(TEXT_MAX)])
    remedies = SelectMultipleField(
        _l("Remedies the customer was told of"),
        choices=lambda: choices(REMEDY_LABELS),
        option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False),
        validate_choice=False,
    )
    company_response = SelectField(
        _l("CFPB response category"),
        choices=lambda: [SelectChoice("", "—")] + [SelectChoice(r, r) for r in US_RESPONSES],
        validate_choice=False,
    )
    version = HiddenField()


class ClockForm(FlaskForm):
    action = HiddenField()
    reason = StringField(_l("Reason"), validators=[_text_length(REASON_MAX)])
    notice = TextAreaField(_l("Notice to the customer"), validators=[_text_length(TEXT_MAX)])
    # Left out of a form: by email when the complainant has an address, else recorded.
    told_via = SelectField(
        _l("Tell the customer by"),
        choices=lambda: choices(SENT_VIA_LABELS),
        default=None,
        validate_choice=False,  # the notices service checks it
    )
    new_facts_on = DateField(_l("New facts arrived on"), validators=[Optional()])
    version = HiddenField()


class NoteForm(FlaskForm):
    body = TextAreaField(
        _l("Text"),
        validators=[DataRequired(_l("Write something first.")), _text_length(TEXT_MAX)],
    )
    customer_facing = BooleanField(_l("This was said to the customer (a response)"))


class AssignForm(FlaskForm):
    assignee_id = SelectField(_l("Assignee"), validate_choice=False)
    team_id = SelectField(_l("Team"), validate_choice=False)
    version = HiddenField()


class MergeForm(FlaskForm):
    duplicate = StringField(
        _l("Reference of the repeat"),
        validators=[DataRequired(_l("Enter a reference.")), _text_length(24)],
    )
    reason = StringField(_l("Reason"), validators=[_text_length(REASON_MAX)])


class ViewForm(FlaskForm):
    name = StringField(_l("View name"), validators=[DataRequired(_l("Give the view a name."))])
    query = HiddenField()


class TaxonomyForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), _text_length(16)])
    parent_code = StringField(_l("Parent code"), validators=[_text_length(16)])
    label_zh = StringField(_l("Chinese label"), validators=[DataRequired(), _text_length(120)])
    label_en = StringField(_l("English label"), validators=[DataRequired(), _text_length(120)])
    active = BooleanField(_l("In use"), default=True)


NOTICE_MAX = 5_000


class NoticeForm(FlaskForm):
    kind = HiddenField()
    message = TextAreaField(
        _l("Your words for this notice (optional)"), validators=[_text_length(NOTICE_MAX)]
    )
    version = HiddenField()


class RecordNoticeForm(FlaskForm):
    kind = SelectField(_l("Notice"), validate_choice=False)
    via = SelectField(
        _l("Given by"),
        choices=lambda: choices({k: v for k, v in SENT_VIA_LABELS.items() if k != "email"}),
    )
    note = TextAreaField(
        _l("What the complainant was told"),
        validators=[
            DataRequired(_l("Say what the complainant was told.")),
            _text_length(NOTICE_MAX),
        ],
    )
    version = HiddenField()


class ReplyForm(FlaskForm):
    body = TextAreaField(
        _l("Reply to the complainant by email"),
        validators=[DataRequired(_l("Write the reply first.")), _text_length(NOTICE_MAX)],
    )
    version = HiddenField()


class LinkForm(FlaskForm):
    customer_number = StringField(
        _l("Customer number"),
        validators=[DataRequired(_l("Enter the customer number.")), _text_length(32)],
    )
    version = HiddenField()


class ReplyTemplateForm(FlaskForm):
    name = StringField(
        _l("Name"), validators=[DataRequired(_l("Give the template a name.")), _text_length(80)]
    )
    locale = SelectField(_l("Language"), choices=lambda: choices(LANGUAGES))
    cause_code = SelectField(_l("Cause"), validate_choice=False)
    body = TextAreaField(
        _l("Text"),
        validators=[DataRequired(_l("Write the text.")), _text_length(NOTICE_MAX)],
    )
    active = BooleanField(_l("In use"), default=True)


# The public form speaks to customers, not staff: its own words for the kinds and products.
FEEDBACK_KIND_LABELS = {
    "complaint": _l("A complaint"),
    "feedback": _l("Feedback or a suggestion"),
    "compliment": _l("A compliment"),
    "question": _l("A question"),
}
ABOUT_LABELS = {
    "personal_loan": _l("Personal loan"),
    "credit_card": _l("Credit card"),
    "mortgage": _l("Mortgage"),
    "auto_loan": _l("Auto loan"),
    "other": _l("Something else, or not sure"),
}


class FeedbackForm(FlaskForm):
    """The public feedback and complaint form. `website` is a trap for bots (hidden from
    people), `started` the signed time the form was served."""

    kind = RadioField(
        _l("What would you like to send us?"),
        choices=lambda: choices(FEEDBACK_KIND_LABELS),
        validate_choice=False,
        validators=[
            DataRequired(_l("Choose what you are sending.")),
            AnyOf(list(FEEDBACK_KIND_LABELS), message=_l("Choose what you are sending.")),
        ],
    )
    about = SelectField(
        _l("What is it about?"), choices=lambda: choices(ABOUT_LABELS), default="other"
    )
    account_hint = StringField(
        _l("Account, card or product (optional)"), validators=[_text_length(HINT_MAX)]
    )
    description = TextAreaField(
        _l("What happened?"),
        validators=[DataRequired(_l("Tell us what happened.")), _text_length(TEXT_MAX)],
    )
    request = TextAreaField(
        _l("What would you like us to do? (optional)"), validators=[_text_length(TEXT_MAX)]
    )
    name = StringField(
        _l("Name"),
        validators=[DataRequired(_l("Enter your name.")), _text_length(NAME_MAX)],
    )
    email = EmailField(
        _l("Email"),
        validators=[DataRequired(_l("Enter your email.")), _text_length(EMAIL_MAX)],
    )
    phone = TelField(_l("Phone (optional)"), validators=[_text_length(PHONE_MAX)])
    customer_number = StringField(
        _l("Customer number (optional)"), validators=[_text_length(NUMBER_MAX)]
    )
    website = StringField(_l("Leave this field empty"))
    started = HiddenField()
