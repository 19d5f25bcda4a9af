"""The server's log lines: `time level logger: message` for people, or one JSON object a
line for a log collector (`hotline serve --log-json`): time (UTC, ISO 8601), level,
logger, message, and the exception's type and text when there was one (no traceback: a
collector gets the what, the operator's terminal the where)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TextIO

TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            line["error"] = f"{type(error).__name__}: {error}"[:2000]
        return json.dumps(line, ensure_ascii=False)


def configure(*, as_json: bool, stream: TextIO | None = None) -> None:
    """Log INFO and up to `stream` (stderr), as text or as JSON lines."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines() if as_json else logging.Formatter(TEXT))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
