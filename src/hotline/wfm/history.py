"""Call history from CSV text: hourly counts per series (language), with located errors.

Two layouts, told apart by the header:

* call records, one row per call: `timestamp[,line][,language][,...]`
* interval counts: `interval_start,calls[,line][,language][,...]` (hourly or finer)

Each (line, language) is a series, named "line/language" (or just one of them), plus
"all", their total.

Timestamps are ISO 8601 and taken as the line's local wall time (an offset, if given, is
dropped: seasonality follows the clock on the wall). Duplicate interval rows are errors;
missing hours in interval counts are filled from the same hour a week earlier (or zero)
and reported as warnings.

`calls_history` builds the same from call arrivals read elsewhere (the store's calls),
already in the line's local time.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from hotline.errors import ConfigError, Problem

ALL = "all"
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class History:
    start: datetime  # the first hour
    series: dict[str, npt.NDArray[np.float64]]  # name -> calls per hour; "all" is the total
    warnings: list[str] = field(default_factory=list)

    @property
    def hours(self) -> int:
        return len(self.series[ALL])


def parse_history(text: str, *, filename: str = "<history>") -> History:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise ConfigError([Problem("the file is empty", file=filename)])
    header = [h.strip().lower() for h in rows[0]]
    if "timestamp" in header:
        counts, problems = _call_records(rows, header, filename)
    elif "interval_start" in header and "calls" in header:
        counts, problems = _interval_counts(rows, header, filename)
    else:
        raise ConfigError(
            [
                Problem(
                    "unknown layout",
                    filename,
                    1,
                    hint="the header needs `timestamp` (one row per call) or "
                    "`interval_start,calls` (counts per interval)",
                )
            ]
        )
    if problems:
        raise ConfigError(problems)
    if not counts:
        raise ConfigError([Problem("no data rows", filename, 2)])
    return _to_history(counts, interval_rows="calls" in header)


Counts = dict[tuple[str, datetime], float]


def calls_history(arrivals: Iterable[tuple[str, datetime]]) -> History:
    """A history from call arrivals: (series, local time) each; an hour without calls had
    none. ValueError if there are none."""
    counts: Counts = {}
    for name, at in arrivals:
        key = (name, at.replace(minute=0, second=0, microsecond=0, tzinfo=None))
        counts[key] = counts.get(key, 0.0) + 1.0
    if not counts:
        raise ValueError("no calls to count")
    return _to_history(counts, interval_rows=False)


def _hour(value: str) -> datetime:
    t = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return t.replace(tzinfo=None, minute=0, second=0, microsecond=0)


def _rows(
    rows: list[list[str]], header: list[str], column: str, filename: str, problems: list[Problem]
) -> Iterator[tuple[int, list[str], str, datetime]]:
    """(line, row, series, hour) of every data row whose time and labels read; the rest
    become problems."""
    ts = header.index(column)
    for line, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        try:
            hour = _hour(row[ts])
        except (ValueError, IndexError):
            problems.append(_bad(filename, line, column, row, ts))
            continue
        try:
            name = _series(row, header)
        except ValueError:
            problems.append(_unlabelled(filename, line))
            continue
        yield line, row, name, hour


def _call_records(
    rows: list[list[str]], header: list[str], filename: str
) -> tuple[Counts, list[Problem]]:
    counts: Counts = {}
    problems: list[Problem] = []
    for _, _, name, hour in _rows(rows, header, "timestamp", filename, problems):
        counts[(name, hour)] = counts.get((name, hour), 0.0) + 1.0
    return counts, problems[:20]


def _interval_counts(
    rows: list[list[str]], header: list[str], filename: str
) -> tuple[Counts, list[Problem]]:
    ts, calls = header.index("interval_start"), header.index("calls")
    counts: Counts = {}
    seen: dict[tuple[str, datetime], int] = {}
    problems: list[Problem] = []
    for line, row, name, hour in _rows(rows, header, "interval_start", filename, problems):
        try:
            n = float(row[calls])
            if not 0 <= n < float("inf"):  # also refuses NaN
                raise ValueError
        except (ValueError, IndexError):
            problems.append(
                Problem(f"calls must be a number >= 0, not {_cell(row, calls)!r}", filename, line)
            )
            continue
        # the same moment however it is written
        key = (
            name,
            datetime.fromisoformat(row[ts].strip().replace("Z", "+00:00")).replace(tzinfo=None),
        )
        if key in seen:
            problems.append(
                Problem(
                    f"interval {row[ts].strip()} for {name!r} appears again (first on line "
                    f"{seen[key]})",
                    filename,
                    line,
                    hint="remove the duplicate row",
                )
            )
            continue
        seen[key] = line
        counts[(name, hour)] = counts.get((name, hour), 0.0) + n
    return counts, problems[:20]


def _series(row: list[str], header: list[str]) -> str:
    """The series a row belongs to: its line and/or language ("line/language"), or all."""
    parts = [_cell(row, header.index(c)).strip() for c in ("line", "language") if c in header]
    if not all(parts):
        raise ValueError("a row without its line or language")
    return "/".join(parts) or ALL


def _unlabelled(filename: str, line: int) -> Problem:
    return Problem(
        "the line or language cell is empty", filename, line, hint="fill it in or drop the column"
    )


def _cell(row: list[str], i: int) -> str:
    return row[i] if i < len(row) else ""


def _bad(filename: str, line: int, column: str, row: list[str], i: int) -> Problem:
    return Problem(
        f"{column} {_cell(row, i)!r} is not an ISO 8601 date and time",
        filename,
        line,
        hint="write it like 2026-03-02T14:30:00",
    )


def _to_history(counts: Counts, *, interval_rows: bool) -> History:
    hours = sorted({h for _, h in counts})
    start, end = hours[0], hours[-1]
    n = int((end - start) / HOUR) + 1
    names = sorted({name for name, _ in counts})
    series: dict[str, npt.NDArray[np.float64]] = {}
    warnings: list[str] = []
    for name in names:
        values = np.full(n, np.nan)
        for (s, h), v in counts.items():
            if s == name:
                values[int((h - start) / HOUR)] = v
        missing = np.flatnonzero(np.isnan(values))
        if interval_rows and len(missing):
            first = start + int(missing[0]) * HOUR
            warnings.append(
                f"{name}: {len(missing)} hour(s) missing, the first at {first:%Y-%m-%d %H:00}; "
                "filled from the same hour a week earlier (or 0)"
            )
        for i in missing:  # call records: an hour without calls had none
            values[i] = values[i - 168] if interval_rows and i >= 168 else 0.0
        series[name] = values
    if ALL not in series:
        series[ALL] = np.sum(list(series.values()), axis=0)
    return History(start, series, warnings)
