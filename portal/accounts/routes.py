"""Sign-in, sign-out, own password and language, and the admin's user pages."""

import math
import time
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_user, logout_user

from portal.accounts import audit_log, services
from portal.accounts.forms import (
    ActiveForm,
    LanguageForm,
    LoginForm,
    PasswordChangeForm,
    RoleForm,
    UserCreateForm,
)
from portal.core.access import Role, mark_signed_in, public, role_label, roles, signed_in
from portal.core.audit import Actor
from portal.core.errors import ServiceError, ValidationFailed, error_response
from portal.core.extensions import limiter
from portal.core.htmx import render, see_other
from portal.core.i18n import viewer_zone
from portal.core.requests import parse_id

bp = Blueprint("accounts", __name__)

AUDIT_PAGE = 50
USER_PAGE = 50


def safe_next(target: str | None, fallback: str) -> str:
    """Only same-site paths; anything else (another host, a scheme) goes to the fallback."""
    if not target:
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return fallback
    if "\\" in target:
        return fallback
    return target


def _login_failed(response: Any) -> bool:
    return response.status_code >= 400


def _account_key() -> str:
    return "account:" + (request.form.get("email") or "").strip().lower()[:254]


def _ip_limit() -> str:
    return current_app.config["LOGIN_LIMIT_PER_IP"]


def _account_limit() -> str:
    return current_app.config["LOGIN_LIMIT_PER_ACCOUNT"]


def _actor() -> Actor:
    return services.actor_for(current_user)


def _form_errors_as_flash(form: Any) -> None:
    for errors in form.errors.values():
        for message in errors:
            flash(str(message), "error")


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(
    _ip_limit,
    key_func=get_remote_address,
    methods=["POST"],
    deduct_when=_login_failed,
    scope="login-ip",
)
# Every attempt on an account counts before its password is checked (so parallel guesses
# cannot slip past the limit); a successful sign-in clears the account's count.
@limiter.limit(
    _account_limit,
    key_func=_account_key,
    methods=["POST"],
    scope="login-account",
)
def login() -> Any:
    home = url_for("core.home")
    if current_user.is_authenticated:
        return redirect(home)
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next"), "")
        return render("accounts/login.html", form=form)
    if not form.validate():
        return render("accounts/login.html", form=form, status=400)
    result = services.authenticate(form.email.data, form.password.data)
    if result.outcome is services.SignIn.BAD_CREDENTIALS:
        return render(
            "accounts/login.html",
            form=form,
            status=401,
            error=_("The email or password is wrong."),
        )
    if result.outcome is services.SignIn.DISABLED:
        return render(
            "accounts/login.html",
            form=form,
            status=403,
            error=_("This account is deactivated. Ask an admin to reactivate it."),
        )
    chosen_locale = session.get("locale")
    session.clear()
    if chosen_locale:
        session["locale"] = chosen_locale
    session.permanent = True
    mark_signed_in()
    login_user(result.user)
    _clear_account_attempts()
    return see_other(safe_next(form.next.data, home))


def _clear_account_attempts() -> None:
    for request_limit in limiter.current_limits:
        if request_limit.request_args and request_limit.request_args[-1].endswith(":login-account"):
            limiter.limiter.clear(request_limit.limit, *request_limit.request_args)


@bp.app_errorhandler(429)
def too_many(error: Any) -> Any:
    if request.endpoint != "accounts.login":
        return error_response(429)
    current = limiter.current_limit
    minutes = 1
    if current is not None:
        minutes = max(1, math.ceil((current.reset_at - time.time()) / 60))
    form = LoginForm()
    message = ngettext(
        "Too many sign-in attempts. Try again in %(num)d minute.",
        "Too many sign-in attempts. Try again in %(num)d minutes.",
        minutes,
    )
    body, status = render("accounts/login.html", form=form, status=429, error=message)
    return body, status, {"Retry-After": str(minutes * 60)}


@bp.route("/logout", methods=["POST"])
@signed_in
def logout() -> Any:
    chosen_locale = current_user.locale
    logout_user()
    session.clear()
    if chosen_locale:
        session["locale"] = chosen_locale
    flash(_("You are signed out."), "info")
    return see_other(url_for("accounts.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@signed_in
def password() -> Any:
    form = PasswordChangeForm()
    if request.method == "POST":
        if not form.validate():
            return render("accounts/password.html", form=form, status=400)
        try:
            user = services.change_own_password(
                _actor(), form.current_password.data, form.new_password.data
            )
        except ServiceError as error:
            return render("accounts/password.html", form=form, status=400, error=error.message)
        login_user(user)  # the session token rotated; keep this session, end the others
        flash(_("Your password is changed. Other sessions are signed out."), "success")
        return see_other(url_for("core.home"))
    return render("accounts/password.html", form=form)


@bp.route("/language", methods=["POST"])
@public
def set_language() -> Any:
    form = LanguageForm()
    back = safe_next(form.next.data or (request.referrer and urlsplit(request.referrer).path), "/")
    if not form.validate():
        flash(_("Unknown language."), "error")
        return see_other(back)
    session["locale"] = form.locale.data
    if current_user.is_authenticated:
        services.set_preferences(_actor(), locale=form.locale.data)
    return see_other(back)


@bp.route("/admin/users")
@roles(Role.ADMIN)
def users() -> Any:
    filters = {
        "role": request.args.get("role", ""),
        "status": request.args.get("status", ""),
        "q": (request.args.get("q") or "").strip()[:100],
    }
    page = services.list_users(
        _actor(),
        role=filters["role"],
        status=filters["status"],
        query=filters["q"],
        after=(request.args.get("after") or "")[:254],
        limit=USER_PAGE,
    )
    return render(
        "accounts/users.html",
        "accounts/_user_rows.html",
        page=page,
        filters=filters,
    )


@bp.route("/admin/users/new", methods=["GET", "POST"])
@roles(Role.ADMIN)
def user_new() -> Any:
    form = UserCreateForm()
    if request.method == "POST":
        if not form.validate():
            return render("accounts/user_new.html", form=form, status=400)
        try:
            user = services.create_user(
                _actor(), form.email.data, form.name.data, form.role.data, form.password.data
            )
        except ServiceError as error:
            return render(
                "accounts/user_new.html", form=form, status=error.status, error=error.message
            )
        flash(_("User %(email)s created.", email=user.email), "success")
        return see_other(url_for("accounts.user_detail", user_id=user.id))
    return render("accounts/user_new.html", form=form)


@bp.route("/admin/users/<int:user_id>")
@roles(Role.ADMIN)
def user_detail(user_id: int) -> Any:
    user = services.get_user(_actor(), user_id)
    role_form = RoleForm(role=user.role)
    active_form = ActiveForm(active="0" if user.active else "1")
    return render(
        "accounts/user_detail.html",
        user=user,
        role_form=role_form,
        active_form=active_form,
        rows=audit_log.audit_rows(services.list_audit_events(subject=("user", str(user.id))).rows),
    )


@bp.route("/admin/users/<int:user_id>/role", methods=["POST"])
@roles(Role.ADMIN)
def user_role(user_id: int) -> Any:
    form = RoleForm()
    target = url_for("accounts.user_detail", user_id=user_id)
    if not form.validate():
        _form_errors_as_flash(form)
        return see_other(target)
    try:
        user = services.change_role(_actor(), user_id, form.role.data)
    except ServiceError as error:
        if error.status == 404:
            raise
        flash(str(error.message), "error")
        return see_other(target)
    flash(
        _("Role of %(email)s is now %(role)s.", email=user.email, role=role_label(user.role)),
        "success",
    )
    return see_other(target)


@bp.route("/admin/users/<int:user_id>/active", methods=["POST"])
@roles(Role.ADMIN)
def user_active(user_id: int) -> Any:
    form = ActiveForm()
    target = url_for("accounts.user_detail", user_id=user_id)
    if not form.validate() or form.active.data not in {"0", "1"}:
        flash(_("Choose whether to activate or deactivate."), "error")
        return see_other(target)
    try:
        user = services.set_active(_actor(), user_id, form.active.data == "1")
    except ServiceError as error:
        if error.status == 404:
            raise
        flash(str(error.message), "error")
        return see_other(target)
    message = (
        _("%(email)s is active again.", email=user.email)
        if user.active
        else _("%(email)s is deactivated and signed out.", email=user.email)
    )
    flash(message, "success")
    return see_other(target)


@bp.route("/admin/audit")
@roles(Role.ADMIN)
def audit() -> Any:
    filters = audit_log.AuditFilters.from_args(request.args)
    try:
        found = audit_log.criteria(filters, viewer_zone())
    except ValidationFailed as error:
        return render(
            "accounts/audit.html",
            "accounts/_audit_rows.html",
            status=400,
            rows=[],
            next_key=None,
            filters=filters,
            kinds=audit_log.subject_kinds(),
            error=error.message,
        )
    page = services.list_audit_events(
        action=found.action,
        subject=found.subject,
        subject_type=found.subject_type,
        actor_id=found.actor_id,
        actor_label=found.actor_label,
        since=found.since,
        until=found.until,
        before_id=parse_id(filters.before),
        limit=AUDIT_PAGE,
    )
    return render(
        "accounts/audit.html",
        "accounts/_audit_rows.html",
        rows=audit_log.audit_rows(page.rows),
        next_key=page.next_key,
        filters=filters,
        kinds=audit_log.subject_kinds(),
    )
