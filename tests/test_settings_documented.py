"""Every setting the code reads is in the README's configuration table.

The scan reads the source of `portal/` (no import, no app): a key read from the environment in
`portal/core/config.py` (`env.get("X")`, `env["X"]`, `_number(env, "X", ...)`), or from the
app's configuration anywhere (`app.config["X"]`, `current_app.config.get("X")`,
`config.get("X")`, `_number(config, "X", ...)`). A configuration key is either an environment
variable of the same name, and then in the table, or one the factory derives itself
(`SQLALCHEMY_DATABASE_URI` from `DATABASE_URL`, Flask's own defaults, ...). An f-string key such
as `SUPPRESS_{purpose}_WHEN` must match at least one name in the table.
"""

import ast
import re
from pathlib import Path

from flask import Flask

from portal.core.config import Settings, derive_https_settings

ROOT = Path(__file__).resolve().parents[1]
CONFIG_MODULE = ROOT / "portal" / "core" / "config.py"
ENV_NAMES = {"env", "environ"}  # how portal/core/config.py names the environment
CONFIG_NAMES = {"config"}  # `config`, `app.config`, `current_app.config`, `self.config`


def _receiver(node: ast.expr) -> str | None:
    """ "env" or "config" when `node` is the environment or a configuration mapping."""
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)
    if name in ENV_NAMES:
        return "env"
    if name in CONFIG_NAMES:
        return "config"
    return None


def _key(node: ast.expr) -> str | None:
    """A literal key as is; an f-string as a regular expression (its holes: any name part)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value if re.fullmatch(r"[A-Z][A-Z0-9_]+", node.value) else None
    if isinstance(node, ast.JoinedStr):
        parts = [
            re.escape(part.value) if isinstance(part, ast.Constant) else "[A-Z0-9_]+"
            for part in node.values
        ]
        return "re:" + "".join(parts)
    return None


def settings_read(source: str) -> set[tuple[str, str]]:
    """(where from — "env" or "config" —, key) for every setting `source` reads."""
    found: set[tuple[str, str]] = set()
    for node in ast.walk(ast.parse(source)):
        read: tuple[ast.expr, ast.expr] | None = None
        if isinstance(node, ast.Subscript):
            read = (node.value, node.slice)
        elif isinstance(node, ast.Call) and node.args:
            function = node.func
            if isinstance(function, ast.Attribute) and function.attr == "get":
                read = (function.value, node.args[0])
            elif len(node.args) >= 2:  # helpers: _number(env, "X", ...), _flag(env, "X")
                read = (node.args[0], node.args[1])
        elif isinstance(node, ast.Compare) and isinstance(node.ops[0], ast.In):
            read = (node.comparators[0], node.left)  # "X" in env
        if read is None:
            continue
        where, key = _receiver(read[0]), _key(read[1])
        if where and key:
            found.add((where, key))
    return found


def scan(root: Path = ROOT / "portal") -> tuple[set[str], set[str]]:
    """(environment variables read in config.py, configuration keys read anywhere)."""
    env: set[str] = set()
    config: set[str] = set()
    for path in sorted(root.rglob("*.py")):
        for where, key in settings_read(path.read_text(encoding="utf-8")):
            if where == "env" and path == CONFIG_MODULE:
                env.add(key)
            elif where == "config":
                config.add(key)
    return env, config


def readme_settings(readme: str) -> set[str]:
    """The variable names in the first column of the README's configuration table."""
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]*)`", line.split("|")[1]))
    return names


def derived_keys() -> set[str]:
    """Keys the factory sets from other settings, and Flask's own."""
    config = Settings().to_flask()
    derive_https_settings(config, {})
    return set(config) | set(Flask.default_config)


def undocumented(env: set[str], config: set[str], documented: set[str]) -> list[str]:
    """What the code reads that the table misses, each with a reason."""

    def listed(key: str) -> bool:
        if key.startswith("re:"):
            return any(re.fullmatch(key[3:], name) for name in documented)
        return key in documented

    problems = [f"{key}: read from the environment" for key in env if not listed(key)]
    derived = derived_keys()
    problems += [
        f"{key}: read from the app's configuration"
        for key in config
        # An environment variable is checked above; a derived key is no setting of its own.
        if key not in env and key not in derived and not listed(key)
    ]
    return sorted(problems)


def test_every_setting_the_code_reads_is_in_the_readme_table() -> None:
    env, config = scan()
    documented = readme_settings((ROOT / "README.md").read_text(encoding="utf-8"))
    assert undocumented(env, config, documented) == []
    # The scan sees what it should: the contact policy and the mailbox's own readings.
    assert {"QUIET_HOURS", "CONTACT_CAPS", "SMTP_TIMEOUT", "IMAP_TIMEOUT"} <= env
    assert {"QUIET_HOURS", "CONTACT_CAPS", "IMAP_PORT", "LOG_LEVEL", "FIRM_NAME"} <= config
    assert any(re.fullmatch(key[3:], "SUPPRESS_CARE_WHEN") for key in env if key[:3] == "re:")


def test_a_setting_missing_from_the_table_is_named() -> None:
    source = """
def from_env(env):
    a = env.get("NEW_VARIABLE") or _number(env, "NEW_NUMBER", 1)
    b = env[f"SUPPRESS_{purpose.upper()}_WHEN"] if "NEW_FLAG" in env else None
def view():
    c = current_app.config["NEW_VARIABLE"], app.config.get("MAIL_FROM")
    d = config.get(f"NEW_{kind}_LIMIT"), self.config["UNSET_ANYWHERE"], other.get("IGNORED")
"""
    found = settings_read(source)
    env = {key for where, key in found if where == "env"}
    config = {key for where, key in found if where == "config"}
    assert env == {"NEW_VARIABLE", "NEW_NUMBER", "NEW_FLAG", r"re:SUPPRESS_[A-Z0-9_]+_WHEN"}
    assert config == {"NEW_VARIABLE", "MAIL_FROM", "re:NEW_[A-Z0-9_]+_LIMIT", "UNSET_ANYWHERE"}

    documented = {"MAIL_FROM", "NEW_NUMBER", "SUPPRESS_CARE_WHEN"}
    assert undocumented(env, config, documented) == [
        "NEW_FLAG: read from the environment",
        "NEW_VARIABLE: read from the environment",
        "UNSET_ANYWHERE: read from the app's configuration",
        "re:NEW_[A-Z0-9_]+_LIMIT: read from the app's configuration",
    ]
    # A derived key (the database URL the factory builds from DATABASE_URL) needs no row.
    assert undocumented(set(), {"SQLALCHEMY_DATABASE_URI", "TESTING"}, set()) == []
