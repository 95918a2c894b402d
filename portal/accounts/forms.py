"""Forms for sign-in, password change and admin user management."""

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length

from portal.accounts.services import EMAIL_MAX, NAME_MAX, PASSWORD_MAX, PASSWORD_MIN
from portal.core.access import ROLE_LABELS, Role
from portal.core.config import LANGUAGES


def _password_length() -> str:
    return lazy_ngettext(
        "Use %(min)d to %(num)d character.",
        "Use %(min)d to %(num)d characters.",
        PASSWORD_MAX,
        min=PASSWORD_MIN,
    )


def role_choices() -> list[SelectChoice]:
    return [SelectChoice(role.value, str(ROLE_LABELS[role])) for role in Role]


def language_choices() -> list[SelectChoice]:
    return [SelectChoice(code, label) for code, label in LANGUAGES.items()]


class LoginForm(FlaskForm):
    email = EmailField(
        _l("Email"),
        validators=[
            DataRequired(_l("Enter your email.")),
            Length(max=EMAIL_MAX, message=_l("That email is too long.")),
        ],
    )
    password = PasswordField(
        _l("Password"),
        validators=[
            DataRequired(_l("Enter your password.")),
            Length(max=PASSWORD_MAX, message=_l("That password is too long.")),
        ],
    )
    next = HiddenField()


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"),
        validators=[
            DataRequired(_l("Enter your current password.")),
            Length(max=PASSWORD_MAX, message=_l("That password is too long.")),
        ],
    )
    new_password = PasswordField(
        _l("New password"),
        validators=[
            DataRequired(_l("Enter a new password.")),
            Length(
                min=PASSWORD_MIN,
                max=PASSWORD_MAX,
                message=_password_length(),
            ),
        ],
    )
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[EqualTo("new_password", message=_l("The two new passwords differ."))],
    )


class UserCreateForm(FlaskForm):
    email = EmailField(
        _l("Email"),
        validators=[
            DataRequired(_l("Enter an email.")),
            Length(max=EMAIL_MAX, message=_l("That email is too long.")),
        ],
    )
    name = StringField(
        _l("Name"),
        validators=[
            DataRequired(_l("Enter a name.")),
            Length(max=NAME_MAX, message=_l("That name is too long.")),
        ],
    )
    role = SelectField(_l("Role"), choices=role_choices, validate_choice=True)
    password = PasswordField(
        _l("Initial password"),
        validators=[
            DataRequired(_l("Enter an initial password.")),
            Length(
                min=PASSWORD_MIN,
                max=PASSWORD_MAX,
                message=_password_length(),
            ),
        ],
    )


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=role_choices, validate_choice=True)


class ActiveForm(FlaskForm):
    """Deactivate or reactivate: the button carries the wish."""

    active = HiddenField(validators=[DataRequired()])


class LanguageForm(FlaskForm):
    locale = SelectField(_l("Language"), choices=language_choices, validate_choice=True)
    next = HiddenField()
