"""Panels that higher rooms add to the ticket page (a survey answer about the ticket, say).

A room above tickets registers a provider in its `init_app`; the ticket page asks each, for the
viewer and the ticket, and shows the panels that have something to say, after the details.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask

from portal.core.audit import Actor
from portal.core.registry import contribute, contributions
from portal.tickets.models import Ticket

PANELS = "tickets.page_panels"


@dataclass(frozen=True)
class TicketPanel:
    """A partial, rendered with `panel` (this) and the ticket page's context, and its data."""

    template: str
    data: Any


PanelProvider = Callable[[Actor, Ticket], TicketPanel | None]


def register_page_panel(app: Flask, name: str, provider: PanelProvider) -> None:
    contribute(app, PANELS, name, provider)


def page_panels(actor: Actor, ticket: Ticket) -> list[TicketPanel]:
    """The registered panels with something to show for `ticket`, in registration order."""
    found = (provider(actor, ticket) for provider in contributions(PANELS).values())
    return [panel for panel in found if panel is not None]
