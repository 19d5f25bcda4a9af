"""How the lines spread over the nodes of one store (`hotline serve --node`). An agent
works on one floor, so lines that share agents are led by one node: the unit a node leads
is a group of lines connected by shared agents (`groups`). A carrier webhook goes to the
node that leads its call's line (`webhook_line`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from hotline.store.repository import Store


def groups(
    lines: Iterable[str], agents_lines: Mapping[str, Sequence[str]]
) -> list[tuple[str, ...]]:
    """The lines in groups connected by shared agents (an agent on two lines joins their
    groups), each group's lines sorted and the groups in the order of their first line;
    an agent's line that is not among `lines` is left out."""
    known = set(lines)
    parent = {line: line for line in known}

    def root(line: str) -> str:
        while parent[line] != line:
            parent[line] = parent[parent[line]]  # (halving: the chains stay short)
            line = parent[line]
        return line

    for on in agents_lines.values():
        mine = sorted(known.intersection(on))
        for other in mine[1:]:
            a, b = root(mine[0]), root(other)
            parent[max(a, b)] = min(a, b)
    out: dict[str, list[str]] = {}
    for line in sorted(known):
        out.setdefault(root(line), []).append(line)
    return [tuple(group) for _, group in sorted(out.items())]


def webhook_line(store: Store, call: str | None, number: str | None, home: str) -> str | None:
    """The line a carrier webhook is for, as `LiveLine.recover` places its call: the line of
    the number the call called, else the call's own line if no line has that number now;
    for a call new to the store, that of the number it calls. Else (no such line in the
    store) the line of the `home` number, the settings' line, which answers numbers no
    line has; None if no line has that either."""
    placed = store.call_placed(call) if call else None
    if placed is not None:
        line, called = placed
        owner = store.line_of_number(called)
        if owner is not None:
            return owner
        if any(meta["name"] == line for meta in store.lines()):
            return line
    elif number and (owner := store.line_of_number(number)) is not None:
        return owner
    return store.line_of_number(home)
