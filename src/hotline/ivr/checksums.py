"""Check digits a `collect` node can require (`checksum: luhn`). A line that needs another
scheme passes its own mapping of name -> function to `load_flow(checksums=...)`."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

Checksum = Callable[[str], bool]
DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() accepts "²" and "١"


def luhn(digits: str) -> bool:
    """The Luhn mod-10 check (last digit checks the rest)."""
    if not DIGITS.fullmatch(digits) or len(digits) < 2:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def mod11(digits: str) -> bool:
    """Weights 2, 3, 4, ... from the right of the body; check digit = (11 - sum % 11) % 11
    (10 not allowed)."""
    if not DIGITS.fullmatch(digits) or len(digits) < 2:
        return False
    body, check = digits[:-1], int(digits[-1])
    total = sum(int(d) * (i + 2) for i, d in enumerate(reversed(body)))
    expected = (11 - total % 11) % 11
    return expected == check


CHECKSUMS: Mapping[str, Checksum] = {"luhn": luhn, "mod11": mod11}
