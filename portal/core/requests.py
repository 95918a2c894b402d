"""Shared by every route: ids that fit the database, no NUL characters, reads told from writes."""

import re
from collections.abc import Callable
from typing import Any

from flask import Flask, abort, current_app, has_request_context, request
from werkzeug.routing import IntegerConverter

# Ids fit a signed 64-bit column; larger numbers in a URL are simply not found.
MAX_ID = 2**63 - 1
_ID = re.compile(r"[0-9]{1,18}")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class BoundedIntConverter(IntegerConverter):
    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def parse_id(text: str | None) -> int | None:
    """An id from a query parameter, or None for anything that is not plain ASCII digits."""
    return int(text) if text and _ID.fullmatch(text) else None


def refuse_control_characters() -> None:
    """NUL cannot be stored in PostgreSQL text; refuse it up front with a 400, never a 500."""
    sources = [request.args]
    if request.method != "GET" and request.mimetype in FORM_TYPES:
        sources.append(request.form)
    for source in sources:
        for _name, value in source.items(multi=True):
            if "\x00" in value:
                abort(400)


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def writes_on_read(view: Callable[..., Any]) -> Callable[..., Any]:
    """Marks a view that writes although asked with GET (an audit record of what was read):
    its transaction, like a POST's, takes SQLite's write lock before it reads."""
    view.writes_on_read = True  # type: ignore[attr-defined]
    return view


def reads_only() -> bool:
    """Whether the request being served only reads: GET, HEAD or OPTIONS, to a view not marked
    `writes_on_read`. False outside a request (jobs, the CLI)."""
    if not has_request_context() or request.method not in SAFE_METHODS:
        return False
    view = current_app.view_functions.get(request.endpoint or "")
    return not getattr(view, "writes_on_read", False)


def init_requests(app: Flask) -> None:
    app.url_map.converters["int"] = BoundedIntConverter
    app.before_request(refuse_control_characters)
