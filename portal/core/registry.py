"""Extension points kept on the app: what a higher room contributes to a lower one.

A lower room (customers, messaging) must use things that higher rooms own — the 360 timeline
shows tickets, the contact policy holds back greetings while a complaint is open — without
importing them. It names an extension point here; each higher room's `init_app(app)` adds its
contribution. The entries live on the app, not in module globals, so two apps in one process
(the test suite builds one per database) never see each other's.
"""

from typing import Any

from flask import Flask, current_app

_KEY = "portal.registries"


def contributions(point: str, app: Flask | None = None) -> dict[str, Any]:
    """The contributions to an extension point, by name, in the order they were added."""
    registries = (app or current_app).extensions.setdefault(_KEY, {})
    return registries.setdefault(point, {})


def contribute(app: Flask, point: str, name: str, value: Any) -> None:
    """Add (or replace) the contribution `name` to an extension point of `app`."""
    contributions(point, app)[name] = value
