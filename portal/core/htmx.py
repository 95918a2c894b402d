"""Small helpers so every view answers htmx and plain requests the same way."""

from typing import Any

from flask import Response, redirect, render_template, request


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true" and not request.headers.get(
        "HX-History-Restore-Request"
    )


def render(
    template_name: str, partial_name: str | None = None, status: int = 200, **context: Any
) -> Any:
    """The whole page for a normal request, the partial it includes for an htmx one."""
    chosen = partial_name if partial_name and is_htmx() else template_name
    return render_template(chosen, **context), status


def inline_error(message: Any, slot: str, status: int = 400) -> Response:
    """An htmx action's refusal, shown in the element `#slot` beside the control that sent it
    (announced as an alert); the rest of the page, and what the user typed, stay as they are."""
    response = Response(render_template("errors/_inline.html", detail=str(message)), status=status)
    response.headers["HX-Retarget"] = f"#{slot}"
    response.headers["HX-Reswap"] = "innerHTML"
    return response


def see_other(url: str) -> Response:
    """Redirect after a change: 303 for browsers, HX-Redirect for htmx."""
    if is_htmx():
        response = Response(status=204)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url, code=303)
