"""Service errors and the HTTP error pages (full pages, or fragments for htmx)."""

import logging
from typing import Any

from flask import Flask, Response, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from portal.core.htmx import is_htmx

log = logging.getLogger(__name__)


class ServiceError(Exception):
    """A use case refused its input; the message is shown to the user as it is."""

    status = 400

    def __init__(self, message: Any, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationFailed(ServiceError):
    status = 400


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class PermissionDenied(ServiceError):
    status = 403


ERROR_TEXT = {
    400: (
        _l("Bad request"),
        _l("The request could not be understood. Check the form and try again."),
    ),
    401: (_l("Sign-in required"), _l("Please sign in to continue.")),
    403: (_l("Not allowed"), _l("Your role does not give access to this page.")),
    404: (_l("Not found"), _l("There is nothing at this address.")),
    405: (_l("Method not allowed"), _l("This address does not accept that kind of request.")),
    409: (_l("Conflict"), _l("Someone else changed this in the meantime. Reload and try again.")),
    413: (_l("Too large"), _l("What you sent is larger than the portal accepts.")),
    429: (_l("Too many attempts"), _l("Too many attempts. Wait a few minutes and try again.")),
    500: (
        _l("Something went wrong"),
        _l(
            "The portal hit an error. Your saved data is intact; try again, "
            "and tell an admin if it persists."
        ),
    ),
}


def error_response(status: int, detail: Any = None) -> Response:
    """The error page, or for htmx the message alone in the page's message area. A use case's
    own message says what went wrong in words, so it is shown without a status line ("400 ·
    Bad request"); a bare HTTP error keeps its title."""
    title, default_detail = ERROR_TEXT.get(status, ERROR_TEXT[500])
    # str(): a lazy translation would otherwise pass through Jinja as markup, unescaped.
    context = {
        "status": status,
        "title": str(title),
        "detail": str(detail or default_detail),
        "lead": None if detail else str(title),
    }
    if is_htmx():
        response = Response(render_template("errors/_error.html", **context), status=status)
        response.headers["HX-Retarget"] = "#messages"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    return Response(render_template("errors/error.html", **context), status=status)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> Response:
        log.info("CSRF refused on %s: %s", request.path, error.description)
        return error_response(
            400,
            _l(
                "Your form expired or was sent without its security token. "
                "Reload the page and try again."
            ),
        )

    @app.errorhandler(ServiceError)
    def service_error(error: ServiceError) -> Response:
        return error_response(error.status, error.message)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        if status < 400:
            return error  # type: ignore[return-value]
        response = error_response(status)
        if status == 405 and error.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500)
