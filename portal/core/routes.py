"""The home page and the health check."""

from typing import Any

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal.core.access import public, signed_in
from portal.core.extensions import db
from portal.core.htmx import render

bp = Blueprint("core", __name__)


@bp.route("/")
@signed_in
def home() -> Any:
    return render("core/home.html")


@bp.route("/healthz")
@public
def healthz() -> Any:
    try:
        db.session.execute(text("SELECT 1"))
        database = "ok"
    except SQLAlchemyError:
        db.session.rollback()
        database = "unreachable"
    status = 200 if database == "ok" else 503
    return jsonify(status="ok" if status == 200 else "degraded", database=database), status
