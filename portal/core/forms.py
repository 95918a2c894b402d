"""Small pieces the rooms' WTForms share."""

from collections.abc import Mapping
from typing import Any

from flask_babel import gettext as _
from wtforms.fields.choices import SelectChoice

from portal.core.errors import ValidationFailed
from portal.core.requests import parse_id


def choices(labels: Mapping[Any, Any]) -> list[SelectChoice]:
    """Select options from a code → (lazily translated) label mapping, in its order."""
    return [SelectChoice(str(key), str(label)) for key, label in labels.items()]


def checked(form: Any) -> None:
    """Refuse a posted form that does not validate, with its problems in one message (for
    actions whose page shows the message above the form)."""
    if not form.validate():
        problems = [str(e) for errors in form.errors.values() for e in errors]
        raise ValidationFailed(" ".join(problems) or _("Check the form."))


def form_version(form: Any) -> int:
    """The version of the record the form was read at (its `version` field)."""
    version = parse_id(form.version.data)
    if version is None:
        raise ValidationFailed(_("The form is incomplete; reload the page."))
    return version
