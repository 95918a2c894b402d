"""Admin pages of the care room: the care rules, and campaigns with their preview and send."""

from typing import Any

from flask import Blueprint, current_app, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts.services import actor_for
from portal.care import services
from portal.care.forms import CampaignForm, RuleForm
from portal.care.labels import (
    CAMPAIGN_PURPOSE_LABELS,
    CAMPAIGN_STATUS_LABELS,
    FLAG_LABELS,
    RULE_HELP,
    RULE_LABELS,
    SEGMENT_LABELS,
)
from portal.core.access import Role, roles
from portal.core.audit import Actor
from portal.core.errors import ServiceError
from portal.core.htmx import render, see_other
from portal.core.requests import parse_id

bp = Blueprint("care", __name__)


# What every template may use, prefixed with the room's name (see init_app).
TEMPLATE_GLOBALS = {
    "care_rule_labels": RULE_LABELS,
    "care_rule_help": RULE_HELP,
    "care_campaign_purpose_labels": CAMPAIGN_PURPOSE_LABELS,
    "care_campaign_status_labels": CAMPAIGN_STATUS_LABELS,
    "care_segment_labels": SEGMENT_LABELS,
    "care_flag_labels": FLAG_LABELS,
}


def _actor() -> Actor:
    return actor_for(current_user)


# ---------------------------------------------------------------- rules


def _rule_form(rule: Any, formdata: Any = None) -> RuleForm:
    form = RuleForm(formdata=formdata, prefix=rule.key, obj=None if formdata else rule)
    form.template_key.choices = [
        (key, key) for key in services.template_keys(services.RULE_VALUES[rule.key])
    ]
    if formdata is None:
        form.version.data = str(rule.version)
    return form


def _rules_page(failed: str | None = None, form: RuleForm | None = None, error: Any = None) -> Any:
    rules = services.rules(_actor())
    forms = {rule.key: form if rule.key == failed and form else _rule_form(rule) for rule in rules}
    return render(
        "care/rules.html",
        status=400 if error else 200,
        rules=rules,
        forms=forms,
        failed=failed,
        error=error,
        firm_zone=current_app.config["DEFAULT_TIMEZONE"],
    )


@bp.route("/admin/care")
@roles(Role.ADMIN)
def rules() -> Any:
    return _rules_page()


@bp.route("/admin/care/<key>", methods=["POST"])
@roles(Role.ADMIN)
def save_rule(key: str) -> Any:
    actor = _actor()
    form = _rule_form(services.rule(actor, key), request.form)
    form.validate()
    try:
        services.save_rule(
            actor,
            key,
            enabled=bool(form.enabled.data),
            template_key=form.template_key.data or "",
            send_hour=form.send_hour.data,
            days_before=form.days_before.data or "",
            version=parse_id(form.version.data),
        )
    except ServiceError as error:
        return _rules_page(failed=key, form=form, error=error.message)
    flash(_("%(rule)s saved.", rule=RULE_LABELS[key]), "success")
    return see_other(url_for("care.rules"))


# ---------------------------------------------------------------- campaigns


def _campaign_form(formdata: Any = None) -> CampaignForm:
    form = CampaignForm(formdata=formdata)
    form.template_key.choices = [
        (key, key) for key in services.template_keys(services.CAMPAIGN_VALUES)
    ]
    return form


@bp.route("/admin/campaigns", methods=["GET", "POST"])
@roles(Role.ADMIN)
def campaigns() -> Any:
    form = _campaign_form(request.form if request.method == "POST" else None)
    error = None
    if request.method == "POST":
        form.validate()
        try:
            campaign = services.create_campaign(
                _actor(),
                form.name.data or "",
                form.purpose.data or "",
                form.template_key.data or "",
                form.segment.data or "",
                form.flags.data or [],
            )
        except ServiceError as refused:
            error = refused.message
        else:
            flash(_("Campaign saved as a draft. Preview it, then send it."), "success")
            return see_other(url_for("care.campaign", campaign_id=campaign.id))
    return render(
        "care/campaigns.html",
        status=400 if error else 200,
        form=form,
        error=error,
        campaigns=services.campaigns(_actor()),
    )


def _campaign_page(page: services.CampaignPage, partial: str | None = None) -> Any:
    return render(
        "care/campaign.html",
        partial,
        campaign=page.campaign,
        outcome=page.outcome,
        preview=page.preview,
    )


@bp.route("/admin/campaigns/<int:campaign_id>")
@roles(Role.ADMIN)
def campaign(campaign_id: int) -> Any:
    return _campaign_page(services.campaign_page(_actor(), campaign_id))


@bp.route("/admin/campaigns/<int:campaign_id>/preview")
@roles(Role.ADMIN)
def campaign_preview(campaign_id: int) -> Any:
    page = services.campaign_page(_actor(), campaign_id, with_preview=True)
    return _campaign_page(page, "care/_preview.html")


@bp.route("/admin/campaigns/<int:campaign_id>/send", methods=["POST"])
@roles(Role.ADMIN)
def campaign_send(campaign_id: int) -> Any:
    outcome = services.send_campaign(_actor(), campaign_id)
    flash(
        _(
            "Campaign sent to the outbox: %(receiving)d messages, %(held)d held back.",
            receiving=outcome.receiving,
            held=outcome.counts["suppressed"],
        ),
        "success",
    )
    return see_other(url_for("care.campaign", campaign_id=campaign_id))
