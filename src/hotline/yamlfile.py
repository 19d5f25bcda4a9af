"""YAML input files (scenarios, flows, prompt catalogs) read with the position of every value.

The text is composed into YAML nodes first so every value keeps its line and column;
problems found later, by Pydantic or by the meaning checks, are mapped back to the file
as `file:line:column: message (fix: ...)`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hotline.errors import ConfigError, Problem

Loc = tuple[str | int, ...]
Marks = dict[Loc, tuple[int, int]]


MAX_BYTES = 4 * 1024 * 1024  # an input file larger than this is a mistake (or a device)


def read_text(path: str | Path) -> str:
    """The text of a regular file of at most MAX_BYTES, or a ConfigError naming the file
    and what is wrong with it."""
    try:
        with Path(path).open("rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise ConfigError([Problem("not a regular file", file=str(path))])
            data = f.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise ConfigError([Problem(f"larger than {MAX_BYTES // 1024 // 1024} MiB",
                                       file=str(path))])  # fmt: skip
        return data.decode("utf-8")
    except OSError as e:
        raise ConfigError(
            [Problem(f"cannot read the file: {e.strerror}", file=str(path))]
        ) from None
    except UnicodeDecodeError:
        raise ConfigError([Problem("the file is not UTF-8 text", file=str(path))]) from None


def compose(text: str, filename: str) -> tuple[dict[Any, Any], Marks]:
    """Plain data (a mapping) and the position of every key and value in it."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        msg = f"not valid YAML: {e.problem or e.context}"
        raise ConfigError([Problem(msg, file=filename, line=line, column=col)]) from None
    except yaml.reader.ReaderError as e:  # a character YAML does not allow (NUL, BEL ...)
        line, column = _position(text, e.position)
        msg = f"not valid YAML: character {e.character!r} is not allowed in a YAML file"
        raise ConfigError([Problem(msg, file=filename, line=line, column=column)]) from None
    except RecursionError:  # nested thousands deep ("[[[[...")
        raise ConfigError([Problem("not valid YAML: nested too deeply", file=filename)]) from None
    if node is None:
        raise ConfigError([Problem("the file is empty", file=filename)])
    marks: Marks = {}
    problems: list[Problem] = []
    data = _plain(node, (), _Reader(marks, problems, filename, yaml.SafeLoader("")))
    if problems:
        raise ConfigError(problems)
    if not isinstance(data, dict):
        raise ConfigError([Problem("expected a mapping of settings", file=filename, line=1)])
    return data, marks


def _position(text: str, offset: int) -> tuple[int, int]:
    """Line and column (from 1) of a character offset in a text."""
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


class _Reader:
    """Turns composed nodes into plain data, noting where each value stands."""

    def __init__(
        self,
        marks: Marks,
        problems: list[Problem],
        filename: str,
        loader: yaml.SafeLoader,
    ) -> None:
        self.marks, self.problems, self.filename, self.loader = marks, problems, filename, loader
        self.count = 0
        self.too_big = False


MAX_VALUES = 200_000  # aliases can make a small file huge ("billion laughs"); stop early


def _scalar(node: yaml.Node, r: _Reader) -> Any:
    """A plain value; a value YAML cannot build (a bad date, a bad tag) is a problem."""
    if not isinstance(node, yaml.ScalarNode):
        r.problems.append(_at(node, "a list or mapping cannot be a key here", r))
        return None
    try:
        return r.loader.construct_object(node)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as e:
        r.problems.append(_at(node, f"not a value YAML can read: {e}", r, "quote it as text"))
        return None


def _at(node: yaml.Node, message: str, r: _Reader, hint: str | None = None) -> Problem:
    mark = node.start_mark
    return Problem(message, file=r.filename, line=mark.line + 1, column=mark.column + 1, hint=hint)


def _plain(node: yaml.Node, loc: Loc, r: _Reader, depth: int = 0) -> Any:
    r.marks[loc] = (node.start_mark.line + 1, node.start_mark.column + 1)
    r.count += 1
    if r.count > MAX_VALUES or depth > 100:
        if not r.too_big:
            r.too_big = True
            r.problems.append(_at(node, "the file is too large or nested too deeply", r))
        return None
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, r)
            if key is None:
                continue
            if key in out:
                r.problems.append(
                    Problem(
                        f"key {key!r} appears twice",
                        file=r.filename,
                        line=key_node.start_mark.line + 1,
                        column=key_node.start_mark.column + 1,
                        hint="keep one",
                    )
                )
            out[key] = _plain(value_node, (*loc, key), r, depth + 1)
            # point at the key: that is where the reader looks for a setting
            r.marks[(*loc, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(v, (*loc, i), r, depth + 1) for i, v in enumerate(node.value)]
    return _scalar(node, r)


def _in_file(loc: Loc, marks: Marks) -> Loc:
    """The part of a location that exists in the file (drops Pydantic's union branch names)."""
    found: Loc = ()
    for part in loc:
        if (*found, part) in marks:
            found = (*found, part)
    return found


def problem_at(
    loc: Loc,
    message: str,
    marks: Marks,
    filename: str,
    hint: str | None = None,
) -> Problem:
    found = _in_file(loc, marks)
    line, col = marks.get(found, (1, 1))
    where = ".".join(str(p) for p in loc)
    return Problem(f"{where}: {message}" if where else message, filename, line, col, hint)


def shape_problems(
    e: ValidationError, marks: Marks, filename: str, prefix: Loc = ()
) -> list[Problem]:
    """One problem per place: a value that fits no branch of a union gets one message.
    `prefix` is where the validated value stands in the file."""
    by_place: dict[Loc, list[Any]] = {}
    for err in e.errors():
        loc = (*prefix, *err["loc"])
        place = _in_file(loc, marks) if loc not in marks else loc
        # a missing setting is not in the file, but its parent is: keep the full name
        by_place.setdefault(place if err["type"] != "missing" else loc, []).append(err)
    out = []
    for place, errs in by_place.items():
        if len(errs) > 1:
            tagged = [x for x in errs if str(x["type"]).startswith("union_tag")]
            errs = tagged or [
                {"type": "union", "msg": "expected " + " or ".join(_expected(x) for x in errs)}
            ]
        out += [problem_at(place, _message(x), marks, filename) for x in errs]
    return out


def _expected(err: Any) -> str:
    return {
        "float_parsing": "a number",
        "float_type": "a number",
        "literal_error": str(err["msg"]).removeprefix("Input should be "),
    }.get(str(err["type"]), str(err["msg"]).removeprefix("Input should be "))


def _message(err: Any) -> str:
    if err["type"] == "missing":
        return "is required"
    if err["type"] == "extra_forbidden":
        return "is not a known setting (check the spelling)"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")
