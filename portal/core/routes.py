"""The home page and the health check."""

from typing import Any

from flask import Blueprint, jsonify
from flask_login import current_user

from portal.core.access import public, signed_in
from portal.core.audit import Actor
from portal.core.health import database_reachable
from portal.core.home import home_page, home_panels
from portal.core.htmx import render
from portal.core.timeutil import utc_now

bp = Blueprint("core", __name__)


@bp.route("/")
@signed_in
def home() -> Any:
    """The role's own page where a room registered one (an RM's My day), else the common
    home with the panels the rooms registered for the role."""
    actor = Actor(current_user.id, current_user.email, current_user.role)
    now = utc_now()
    page = home_page(actor, now)
    if page is not None:
        return render(page.template, **page.context)
    return render("core/home.html", panels=home_panels(actor, now))


@bp.route("/healthz")
@public
def healthz() -> Any:
    reachable = database_reachable()
    status = 200 if reachable else 503
    return jsonify(
        status="ok" if reachable else "degraded", database="ok" if reachable else "unreachable"
    ), status
