"""Forms of the tickets room's staff pages (the channels' forms are in `channels.forms`). The
use cases check every value again; these give the fields, their labels and the CSRF token."""

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

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


def text_length(limit: int) -> Length:
    return Length(max=limit, message=_l("At most %(max)d characters.", max=limit))


class _TaxonomyFields:
    channel_code = SelectField(_l("Channel (JR/T 0169 A)"), validate_choice=False)
    business_code = SelectField(_l("Business type (B)"), validate_choice=False)
    cause_code = SelectField(_l("Cause (C)"), validate_choice=False)
    severity = SelectField(_l("Severity"), choices=lambda: choices(SEVERITY_LABELS))
    subject = StringField(
        lazy_pgettext("ticket", "Subject"),
        validators=[DataRequired(_l("Give the ticket a subject.")), text_length(SUBJECT_MAX)],
    )
    product = StringField(_l("Product"), validators=[text_length(120)])
    request = TextAreaField(_l("What the customer asks for"), validators=[text_length(TEXT_MAX)])
    description = TextAreaField(_l("What happened"), validators=[text_length(TEXT_MAX)])


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
    root_cause = TextAreaField(_l("Root cause"), validators=[text_length(TEXT_MAX)])
    redress_kind = SelectField(
        _l("Redress"), choices=lambda: [SelectChoice("", "—"), *choices(REDRESS_LABELS)]
    )
    redress_amount = StringField(_l("Redress amount"), validators=[text_length(20)])
    version = HiddenField()


class StatusForm(FlaskForm):
    to = HiddenField()
    reason = StringField(_l("Reason"), validators=[text_length(REASON_MAX)])
    resolution = TextAreaField(_l("Resolution"), validators=[text_length(TEXT_MAX)])
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
    reason = StringField(_l("Reason"), validators=[text_length(REASON_MAX)])
    notice = TextAreaField(_l("Notice to the customer"), validators=[text_length(TEXT_MAX)])
    # Left out of a form: by email when the complainant has an address, else recorded.
    told_via = SelectField(
        _l("Tell the customer by"),
        choices=lambda: choices(SENT_VIA_LABELS),
        default=None,
        validate_choice=False,  # the clock change's use case checks it
    )
    new_facts_on = DateField(_l("New facts arrived on"), validators=[Optional()])
    version = HiddenField()


class NoteForm(FlaskForm):
    body = TextAreaField(
        _l("Text"),
        validators=[DataRequired(_l("Write something first.")), text_length(TEXT_MAX)],
    )
    customer_facing = BooleanField(_l("This was said to the customer (a response)"))


class AssignForm(FlaskForm):
    assignee_id = SelectField(_l("Assignee"), validate_choice=False)
    team_id = SelectField(_l("Team"), validate_choice=False)
    version = HiddenField()


class MergeForm(FlaskForm):
    duplicate = StringField(
        _l("Reference of the repeat"),
        validators=[DataRequired(_l("Enter a reference.")), text_length(24)],
    )
    reason = StringField(_l("Reason"), validators=[text_length(REASON_MAX)])


class ViewForm(FlaskForm):
    name = StringField(_l("View name"), validators=[DataRequired(_l("Give the view a name."))])
    query = HiddenField()


class TaxonomyForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), text_length(16)])
    parent_code = StringField(_l("Parent code"), validators=[text_length(16)])
    label_zh = StringField(_l("Chinese label"), validators=[DataRequired(), text_length(120)])
    label_en = StringField(_l("English label"), validators=[DataRequired(), text_length(120)])
    active = BooleanField(_l("In use"), default=True)
