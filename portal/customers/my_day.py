"""An RM's My day: the room's own lists plus sections that higher rooms contribute.

A room above customers (tickets: complaints about the RM's customers; later surveys and
improvement actions) registers a section provider in its `init_app`; the page asks every
provider in registration order and shows the sections that have something to say.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask

from portal.core.audit import Actor
from portal.core.registry import contribute, contributions


@dataclass(frozen=True)
class Section:
    """One part of My day: the partial that renders it, given `section`, and its data."""

    template: str
    data: Any


SectionProvider = Callable[[Actor, datetime], Section | None]
SECTIONS = "customers.my_day"


def register_section(app: Flask, name: str, provider: SectionProvider) -> None:
    contribute(app, SECTIONS, name, provider)


def contributed_sections(actor: Actor, now: datetime) -> list[Section]:
    """Every registered section for this actor at this instant, in registration order."""
    found = (provider(actor, now) for provider in contributions(SECTIONS).values())
    return [section for section in found if section is not None]
