"""Structured logs: one JSON object per line, from the standard ``logging`` module.

The API logs one ``request`` line per HTTP request and one ``prediction`` line per judged or
rejected file, on the ``fakescope.api`` logger. Fields come from ``extra={"fields": {...}}``;
the key id is logged, never the key (the formatter has no way to see a key: callers pass ids).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any

LOGGER_NAME = "fakescope.api"


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON line: time, level, logger, event, then the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            # A traceback goes to the log (never to the client), still on one line.
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def get_logger() -> logging.Logger:
    """The API's logger, writing JSON lines to stderr (set up once, whatever calls it)."""
    logger = logging.getLogger(LOGGER_NAME)
    if not any(getattr(h, "_fakescope_json", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._fakescope_json = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        # Streamlit configures the root logger; our lines must not be printed twice.
        logger.propagate = False
    return logger


def log_event(event: str, **fields: Any) -> None:
    """Write one JSON line with ``event`` and ``fields``."""
    get_logger().info(event, extra={"fields": fields})
