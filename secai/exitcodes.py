"""The exit codes of `secai-runner`, one meaning each (README and every `--help` show this table)."""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    OK = 0
    #: `--fail-on`: a live, not ignored (on a pull request: new) finding at or above the severity.
    FINDINGS = 1
    #: A bad flag or config, a path that does not exist, inputs holding no scanner report, an
    #: unreadable input (`collect`: only with `--strict`).
    USAGE = 2
    #: The model gate: the evaluation gate or the validation of a trained adapter failed.
    MODEL_GATE = 3
    #: A stage or a service failed: GitHub, the Hugging Face Hub, a scanner, a pipeline stage.
    FAILED = 4
    INTERRUPTED = 130


TABLE: list[tuple[int, str]] = [
    (Exit.OK, "success"),
    (Exit.FINDINGS, "findings at or above --fail-on (live, not ignored; on a pull request: new ones)"),
    (
        Exit.USAGE,
        "usage, configuration or input error (bad flag or config, missing path, no scanner report, unreadable input)",
    ),
    (Exit.MODEL_GATE, "model gate failed (evaluation gate or adapter validation)"),
    (Exit.FAILED, "a stage or a service failed (GitHub, Hugging Face Hub, a scanner, a pipeline stage)"),
    (Exit.INTERRUPTED, "interrupted (Ctrl-C)"),
]


def epilog() -> str:
    """The table as `--help` shows it."""
    rows = "\n".join(f"  {int(code):>3}  {text}" for code, text in TABLE)
    return f"exit codes (when several apply, the highest below 130 wins):\n{rows}"


def markdown_table() -> str:
    """The table as the README shows it."""
    rows = "\n".join(f"| {int(code)} | {text.replace('|', chr(92) + '|')} |" for code, text in TABLE)
    return "| exit code | meaning |\n|---:|---|\n" + rows


def worst(*codes: int) -> int:
    """The code to exit with when several apply: the highest (a failure outranks a policy verdict)."""
    return max((int(c) for c in codes), default=0)
