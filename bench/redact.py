"""Redaction time on adversarial text: the shape that made the backtracking assignment pattern
cubic (a secret key name and a dot, repeated in one long name, then `x=` and no value), at growing sizes, with
the RE2 patterns secai uses and, for small sizes only, the patterns as written for Python's `re`.

    .venv/bin/python bench/redact.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from redact_reference import reference_redact  # noqa: E402

from secai.ingest.redact import redact_text  # noqa: E402


def adversarial(size: int) -> str:
    return "pwd." * ((size - 2) // 4) + "x="


def seconds(fn, text: str) -> float:
    start = time.perf_counter()
    fn(text)
    return time.perf_counter() - start


def main() -> int:
    print(f"{'size':>9}  {'RE2 (secai)':>12}  {'Python re (before)':>19}")
    for size in (500, 1_000, 2_000, 100_000, 1_000_000, 10_000_000):
        text = adversarial(size)
        re2_s = min(seconds(redact_text, text) for _ in range(3))
        before = f"{seconds(reference_redact, text):17.3f} s" if size <= 2_000 else f"{'(not run)':>19}"
        print(f"{size:>9}  {re2_s:10.4f} s  {before}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
