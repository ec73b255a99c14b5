"""Small value helpers shared by parsers (not a parser: the registry skips this module)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from secai.findings import cwe_ids
from secai.ingest import versions


def positive_int(value: Any) -> int | None:
    """A line number or count given as an int or a digit string; None unless it is above 0."""
    if type(value) is int:
        return value if value > 0 else None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    try:
        n = int(value)
    except ValueError:
        return None
    return n if n > 0 else None


def fixes_above(installed: str | None, fixed: list[str], ecosystem: str | None) -> list[str]:
    """`versions.smallest_fix_above`, remembered for plain string arguments: a report (and the
    merged SARIF next to its parts) names the same package versions and fixes many times."""
    if not fixed:
        return []
    if (
        (installed is None or type(installed) is str)
        and (ecosystem is None or type(ecosystem) is str)
        and all(type(v) is str for v in fixed)
    ):
        return list(_fixes_above(installed, tuple(fixed), ecosystem))
    return versions.smallest_fix_above(installed, fixed, ecosystem)


@lru_cache(maxsize=8192)
def _fixes_above(installed: str | None, fixed: tuple[str, ...], ecosystem: str | None) -> tuple[str, ...]:
    return tuple(versions.smallest_fix_above(installed, fixed, ecosystem))


def memo_cwe_ids(value: Any, memo: dict[tuple[str, ...], list[int]]) -> list[int]:
    """`cwe_ids(value)`, worked out once per distinct list of strings in `memo` (one per report:
    its advisories name a few CWE lists many times). Callers hand the list to a model, which
    copies it."""
    if type(value) is list and all(type(v) is str for v in value):
        key = tuple(value)
        if key not in memo:
            memo[key] = cwe_ids(value)
        return memo[key]
    return cwe_ids(value)
