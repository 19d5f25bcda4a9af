"""The flow a running line answers with, swapped only for a version that validates.

A call keeps the `Flow` it started with (the interpreter is handed the flow on every step),
so a reload never changes the path of a caller already in the IVR."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from hotline.errors import ConfigError, Problem
from hotline.ivr.flow_file import load_flow
from hotline.ivr.model import Flow


class LineFlow:
    def __init__(
        self,
        *,
        path: str | Path,
        line_queues: Collection[str] | None = None,
        source: str | None = None,
    ) -> None:
        """Load the first version (`source`: its text as the store keeps it, read as if it
        were the file at `path`); a line cannot start on a flow with problems (ConfigError)."""
        self.path = Path(path)
        self.line_queues = line_queues
        self.flow: Flow = load_flow(self.path, line_queues=line_queues, source=source)

    def reload(self, path: str | Path | None = None) -> list[Problem]:
        """Install the file's current version (or another file's); on any problem keep the
        last good flow and return the problems."""
        target = Path(path) if path is not None else self.path
        try:
            flow = load_flow(target, line_queues=self.line_queues)
        except ConfigError as e:
            return e.problems
        self.flow, self.path = flow, target
        return []
