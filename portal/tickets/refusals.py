"""Refused actions on the ticket page, shown beside the action that caused them.

A refused action — a missing reason, a notice that does not fit, a ticket someone else changed
meanwhile (409) — comes back as the ticket page as it now stands, with the message beside the
action's form (focused and announced as an alert) and what the user typed still in it. The
views of the ticket's own actions (`routes`) and of its correspondence
(`channels.correspondence_views`) mark themselves with `refused_beside`; the page is rendered by
`ticket_views.render_ticket_page`, which the room registers on the app (so that the channels
need not import the page that shows them).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import request
from werkzeug.datastructures import MultiDict

from portal.core.errors import Conflict, PermissionDenied, ValidationFailed
from portal.core.registry import contributions

# Refusals a user can act on, shown beside the action; others (403 on the page, 404) stay
# error pages.
SHOWN_BESIDE = (ValidationFailed, Conflict, PermissionDenied)
PAGE = "tickets.ticket_page"  # the extension point holding the page's renderer
_ACTION_KEY = re.compile(r"[^a-z0-9_-]")


@dataclass
class Refusal:
    """Why an action on the page was refused, which form it came from, what was typed."""

    action: str  # the form's key, e.g. "note", "reply", "status-resolved", "clock-extend"
    message: str
    typed: MultiDict[str, str] = field(default_factory=MultiDict)
    beside: bool = True  # False: the page no longer offers that form; shown at the top

    @property
    def anchor(self) -> str:
        """The id of the message beside its form (templates/tickets/_action.html)."""
        return f"problem-{self.action}"

    def value(self, name: str, default: str = "") -> str:
        return self.typed.get(name, default)


def refused_beside(action: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a ticket-page action view: a refusal it raises is shown beside its form. `action`
    names the form, and may take a posted value, e.g. "status-{to}"."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(ticket_id: int, **kwargs: Any) -> Any:
            try:
                return view(ticket_id, **kwargs)
            except SHOWN_BESIDE as error:
                values = {k: _ACTION_KEY.sub("", v.lower())[:40] for k, v in request.form.items()}
                key = action.format_map(_Blank(values))
                typed = MultiDict(
                    (k, v) for k, v in request.form.items(multi=True) if k != "csrf_token"
                )
                render = contributions(PAGE)["render"]
                return render(ticket_id, Refusal(key, str(error.message), typed), error.status)

        return wrapped

    return decorate


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""
