"""Each role's home: what the rooms above core contribute to the page at `/`.

core cannot import the rooms that know what a role's day is made of, so they register it here
in their `init_app` (see `portal/core/registry.py`): a whole page for a role (an RM's home is
My day), or panels on the common home (a handler's tickets due soon, a lead's breaches, an
admin's outbox and job runs). Providers only read; each is asked for the signed-in actor at
the instant the page is drawn, and a panel provider may answer None to show nothing.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask

from portal.core.access import Role
from portal.core.audit import Actor
from portal.core.registry import contribute, contributions

PAGES = "core.home.pages"
PANELS = "core.home.panels"


@dataclass(frozen=True)
class HomePage:
    """A role's whole home: a full-page template and its context."""

    template: str
    context: dict[str, Any]


@dataclass(frozen=True)
class Panel:
    """One part of the common home: a partial, rendered with `panel`, and its data."""

    template: str
    data: Any


PageProvider = Callable[[Actor, datetime], HomePage]
PanelProvider = Callable[[Actor, datetime], Panel | None]


@dataclass(frozen=True)
class _PanelEntry:
    roles: frozenset[Role]
    position: int
    provider: PanelProvider


def register_page(app: Flask, role: Role, provider: PageProvider) -> None:
    """`role`'s home is this page instead of the common one."""
    contribute(app, PAGES, Role(role).value, provider)


def register_panel(
    app: Flask, name: str, roles: Iterable[Role], provider: PanelProvider, position: int = 50
) -> None:
    """A panel on the common home of `roles`; panels are shown by `position`, then name."""
    contribute(app, PANELS, name, _PanelEntry(frozenset(map(Role, roles)), position, provider))


def home_page(actor: Actor, now: datetime) -> HomePage | None:
    provider = contributions(PAGES).get(str(actor.role))
    return provider(actor, now) if provider is not None else None


def home_panels(actor: Actor, now: datetime) -> list[Panel]:
    """The panels registered for the actor's role that have something to show, in order."""
    entries = sorted(contributions(PANELS).items(), key=lambda item: (item[1].position, item[0]))
    found = (entry.provider(actor, now) for _, entry in entries if actor.role in entry.roles)
    return [panel for panel in found if panel is not None]
