"""One JSON object per line, with the fields given."""

from __future__ import annotations

import json
import logging

import pytest

from fakescope.api.jsonlog import JsonFormatter

pytestmark = pytest.mark.unit


def test_json_line_carries_fields() -> None:
    record = logging.LogRecord("fakescope.api", logging.INFO, __file__, 1, "request", None, None)
    record.fields = {"request_id": "abc", "status": 200, "key_id": "0123456789ab"}
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["event"] == "request"
    assert entry["status"] == 200
    assert entry["level"] == "info"
    assert entry["time"].endswith("+00:00")
