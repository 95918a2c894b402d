"""The process's log: text by default, one JSON object per line once switched (the scheduler)."""

import json
import logging
import sys

import pytest

from portal.core import logs


def record(message: str, *args: object, level: int = logging.INFO, exc_info=None):
    return logging.LogRecord("portal.jobs", level, __file__, 1, message, args, exc_info)


def test_an_event_becomes_one_object_with_its_time_level_and_logger():
    event = record('{"event": "job.end", "job": "care.plan", "level": "mine", "summary": {"n": 1}}')
    line = logs.JsonLines().format(event)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["at"].endswith("+00:00")
    assert (entry["level"], entry["logger"]) == ("INFO", "portal.jobs")  # not overwritten
    assert (entry["event"], entry["job"], entry["summary"]) == ("job.end", "care.plan", {"n": 1})


def test_plain_text_and_a_traceback_stay_on_one_line():
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        failure = record("could not extend lease of %s", "j", level=logging.ERROR)
        failure.exc_info = sys.exc_info()
    line = logs.JsonLines().format(failure)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "could not extend lease of j"
    assert entry["level"] == "ERROR"
    assert "Traceback" in entry["exception"] and "ValueError: bad\nvalue" in entry["exception"]
    # Text that merely starts like JSON is kept as text.
    assert json.loads(logs.JsonLines().format(record("{not json")))["message"] == "{not json"


@pytest.fixture
def bare_root(monkeypatch):
    """The root logger as a fresh `flask` process has it: no handlers yet (set in the test
    itself, as pytest adds its own for each phase)."""
    root = logging.getLogger()
    monkeypatch.setattr(root, "level", root.level)

    def strip() -> logging.Logger:
        monkeypatch.setattr(root, "handlers", [])
        return root

    yield strip
    logging.captureWarnings(False)


def test_only_the_portals_own_handler_switches_to_json(bare_root):
    root = bare_root()
    logs.configure(logging.INFO)
    (ours,) = root.handlers
    assert ours.get_name() == logs.HANDLER_NAME
    theirs = logging.StreamHandler()
    root.addHandler(theirs)
    logs.log_json_lines()
    assert isinstance(ours.formatter, logs.JsonLines)
    assert not isinstance(theirs.formatter, logs.JsonLines)

    logs.configure(logging.DEBUG)  # already set up: nothing added
    assert root.handlers == [ours, theirs]
