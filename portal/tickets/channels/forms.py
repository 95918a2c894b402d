"""Forms of the customer channels: the public feedback form, and the correspondence on the
ticket page (notices, replies, linking a prospect) with the reply templates. The use cases check
every value again; these give the fields, their labels and the CSRF token."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    TelField,
    TextAreaField,
)
from wtforms.validators import AnyOf, DataRequired

from portal.core.config import LANGUAGES
from portal.core.forms import choices
from portal.tickets.channels.webform import EMAIL_MAX, HINT_MAX, NAME_MAX, NUMBER_MAX, PHONE_MAX
from portal.tickets.forms import text_length
from portal.tickets.labels import SENT_VIA_LABELS
from portal.tickets.validation import REASON_MAX, TEXT_MAX

NOTICE_MAX = 5_000


class NoticeForm(FlaskForm):
    kind = HiddenField()
    message = TextAreaField(
        _l("Your words for this notice (optional)"), validators=[text_length(NOTICE_MAX)]
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
            text_length(NOTICE_MAX),
        ],
    )
    version = HiddenField()


class ReplyForm(FlaskForm):
    body = TextAreaField(
        _l("Reply to the complainant by email"),
        validators=[DataRequired(_l("Write the reply first.")), text_length(NOTICE_MAX)],
    )


class LinkForm(FlaskForm):
    customer_number = StringField(
        _l("Customer number"),
        validators=[DataRequired(_l("Enter the customer number.")), text_length(32)],
    )
    version = HiddenField()


class HeldDecisionForm(FlaskForm):
    """Release a held submission as a ticket, or discard it as spam: either needs a reason
    (the use case refuses a blank one, with the message by the field)."""

    reason = TextAreaField(_l("Reason"), validators=[text_length(REASON_MAX)])
    version = HiddenField()


class ReplyTemplateForm(FlaskForm):
    name = StringField(
        _l("Name"), validators=[DataRequired(_l("Give the template a name.")), text_length(80)]
    )
    locale = SelectField(_l("Language"), choices=lambda: choices(LANGUAGES))
    cause_code = SelectField(_l("Cause"), validate_choice=False)
    body = TextAreaField(
        _l("Text"),
        validators=[DataRequired(_l("Write the text.")), text_length(NOTICE_MAX)],
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
        _l("Account, card or product (optional)"), validators=[text_length(HINT_MAX)]
    )
    description = TextAreaField(
        _l("What happened?"),
        validators=[DataRequired(_l("Tell us what happened.")), text_length(TEXT_MAX)],
    )
    request = TextAreaField(
        _l("What would you like us to do? (optional)"), validators=[text_length(TEXT_MAX)]
    )
    name = StringField(
        _l("Name"),
        validators=[DataRequired(_l("Enter your name.")), text_length(NAME_MAX)],
    )
    email = EmailField(
        _l("Email"),
        validators=[DataRequired(_l("Enter your email.")), text_length(EMAIL_MAX)],
    )
    phone = TelField(_l("Phone (optional)"), validators=[text_length(PHONE_MAX)])
    customer_number = StringField(
        _l("Customer number (optional)"), validators=[text_length(NUMBER_MAX)]
    )
    website = StringField(_l("Leave this field empty"))
    started = HiddenField()
