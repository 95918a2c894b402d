"""Small pieces the rooms' WTForms share."""

from collections.abc import Mapping
from typing import Any

from wtforms.fields.choices import SelectChoice


def choices(labels: Mapping[Any, Any]) -> list[SelectChoice]:
    """Select options from a code → (lazily translated) label mapping, in its order."""
    return [SelectChoice(str(key), str(label)) for key, label in labels.items()]
