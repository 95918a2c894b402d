"""The home page and the health check."""

from typing import Any

from flask import Blueprint, jsonify

from portal.core.access import public, signed_in
from portal.core.health import database_reachable
from portal.core.htmx import render

bp = Blueprint("core", __name__)


@bp.route("/")
@signed_in
def home() -> Any:
    return render("core/home.html")


@bp.route("/healthz")
@public
def healthz() -> Any:
    reachable = database_reachable()
    status = 200 if reachable else 503
    return jsonify(
        status="ok" if reachable else "degraded", database="ok" if reachable else "unreachable"
    ), status
