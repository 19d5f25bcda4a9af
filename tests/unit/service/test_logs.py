"""`hotline serve --log-json`: one JSON object a line, with the exception's type and text."""

from __future__ import annotations

import io
import json
import logging

from hotline.service.logs import configure


def test_log_lines_as_json_objects_and_as_text():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        said(root)
    finally:  # logging as pytest had it
        root.handlers[:] = handlers
        root.setLevel(level)


def said(root: logging.Logger) -> None:
    stream = io.StringIO()
    configure(as_json=True, stream=stream)
    log = logging.getLogger("hotline.test")
    log.warning("a webhook for %s failed", "CA1")
    try:
        raise ValueError("bad digits")
    except ValueError:
        log.exception("the gather failed")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert {k: first[k] for k in ("level", "logger", "message")} == {
        "level": "WARNING",
        "logger": "hotline.test",
        "message": "a webhook for CA1 failed",
    }
    assert first["time"].endswith("+00:00")
    assert "error" not in first
    assert second["error"] == "ValueError: bad digits"
    assert "Traceback" not in stream.getvalue()

    text = io.StringIO()
    configure(as_json=False, stream=text)
    log.info("plain")
    assert text.getvalue().rstrip().endswith("INFO hotline.test: plain")
