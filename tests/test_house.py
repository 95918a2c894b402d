"""The house rules that a reviewer checks first hold: layers, thin views, registries per app."""

import re
import subprocess
import sys
from pathlib import Path

from portal import create_app
from portal.core.registry import contributions
from tests.conftest import config_for

ROOT = Path(__file__).resolve().parents[1]


def test_rooms_import_only_rooms_below_them_and_no_module_cycles() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_no_view_module_touches_the_session() -> None:
    """Views parse, call one use case and render: queries and commits live in the services."""
    views = [
        path
        for path in (ROOT / "portal").rglob("*.py")
        if re.search(r"^\s*(bp|[a-z_]+_bp) = Blueprint\(", path.read_text(), re.M)
    ]
    assert views, "no blueprint modules found"
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in views
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "db.session" in line
    ]
    assert not offenders, offenders


def test_two_apps_keep_their_own_extension_points(tmp_path) -> None:
    first = create_app(config_for(f"sqlite:///{tmp_path / 'a.sqlite3'}"))
    second = create_app(config_for(f"sqlite:///{tmp_path / 'b.sqlite3'}"))
    first_rules = contributions("messaging.state_rules", first)
    first_rules["only_in_first"] = lambda ids: set()
    assert "only_in_first" not in contributions("messaging.state_rules", second)
    assert set(contributions("customers.timeline", second)) == {
        "contact",
        "follow_up",
        "message",
        "survey_answer",
        "ticket",
    }
