"""Forms of the care room. The services check every value again; these give the fields, their
labels and the CSRF token."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional
from wtforms.widgets import CheckboxInput, ListWidget

from portal.care.labels import CAMPAIGN_PURPOSE_LABELS, FLAG_LABELS, SEGMENT_LABELS
from portal.core.forms import choices


class RuleForm(FlaskForm):
    enabled = BooleanField(_l("On"))
    template_key = SelectField(_l("Template"), validate_choice=False)
    send_hour = IntegerField(_l("Send at (hour, customer's local time)"), validators=[Optional()])
    days_before = StringField(_l("Days before the due date"))
    version = HiddenField()


class CampaignForm(FlaskForm):
    name = StringField(_l("Name"))
    purpose = SelectField(_l("Purpose"), choices=lambda: choices(CAMPAIGN_PURPOSE_LABELS))
    template_key = SelectField(_l("Template"), validate_choice=False)
    segment = SelectField(
        _l("Segment"),
        choices=lambda: [SelectChoice("", str(_l("Every segment"))), *choices(SEGMENT_LABELS)],
    )
    flags = SelectMultipleField(
        _l("Only customers flagged"),
        choices=lambda: choices(FLAG_LABELS),
        option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False),
        validate_choice=False,
    )
