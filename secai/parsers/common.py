"""Small value helpers shared by parsers (not a parser: the registry skips this module)."""

from __future__ import annotations

from typing import Any


def positive_int(value: Any) -> int | None:
    """A line number or count given as an int or a digit string; None unless it is above 0."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    try:
        n = int(value)
    except ValueError:
        return None
    return n if n > 0 else None
