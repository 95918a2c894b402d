"""The process's log: one handler on standard error, text by default, JSON lines on request.

Events are logged as a JSON object in the message (`emit`), so a text line reads
`time level logger {"event": ...}`. A long-running process that a machine reads — the scheduler —
switches its handler to `JsonLines`, and then every line it writes is one JSON object: time,
level and logger merged with the event's own fields, or with `message` (and `exception`) for
a record that is plain text, whoever logged it.
"""

import json
import logging
from datetime import UTC, datetime
from typing import Any

HANDLER_NAME = "portal"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
_BASE = ("at", "level", "logger")


def emit(logger: logging.Logger, event: str, **fields: Any) -> None:
    """Log one event as a JSON object at INFO."""
    logger.info(json.dumps({"event": event, **fields}, default=str, ensure_ascii=False))


def configure(level: int) -> None:
    """Install the portal's handler on the root logger, unless logging is already set up (by
    gunicorn, by pytest): then records go where that setup sends them."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)


class JsonLines(logging.Formatter):
    """Each record as one JSON object on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
        }
        message = record.getMessage()
        fields = _json_object(message)
        if fields is None:
            entry["message"] = message
        else:
            entry.update((key, value) for key, value in fields.items() if key not in _BASE)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def _json_object(message: str) -> dict[str, Any] | None:
    if not message.startswith("{"):
        return None
    try:
        value = json.loads(message)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def log_json_lines() -> None:
    """Write every record through the portal's handler as one JSON line, Python's warnings
    included. Handlers someone else installed are left as they are."""
    switched = False
    for handler in logging.getLogger().handlers:
        if handler.get_name() == HANDLER_NAME:
            handler.setFormatter(JsonLines())
            switched = True
    if switched:
        logging.captureWarnings(True)
