"""Forms of the messaging room's admin pages. The services check every value again; these give
the fields, their labels and the CSRF token."""

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, StringField, TextAreaField

from portal.messaging.templates import BODY_MAX, SUBJECT_MAX


class TemplateForm(FlaskForm):
    subject = StringField(lazy_pgettext("email", "Subject"), render_kw={"maxlength": SUBJECT_MAX})
    body_text = TextAreaField(_l("Text part"), render_kw={"rows": 12, "maxlength": BODY_MAX})
    body_html = TextAreaField(_l("HTML part"), render_kw={"rows": 12, "maxlength": BODY_MAX})
    ad_prefix = BooleanField(_l('Mark as advertising (subject starts with 「广告」 or "AD:")'))
    version = HiddenField()
