"""Errors a user can act on. The CLI prints them as one line, without a traceback."""

from __future__ import annotations

from pathlib import Path


class SecaiError(Exception):
    """Base class for every error secai reports to a user."""


class ConfigError(SecaiError):
    pass


class InputError(SecaiError):
    """A problem with one input file; the run goes on with the others."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ParseError(InputError):
    """A file that looks like a report of a known format but could not be read as one."""


class UnknownFormat(InputError):
    """A file that is not a report secai recognises."""


class UnsafeArchive(InputError):
    """An archive or entry refused for safety (path escape, link, bomb, too many entries)."""


class ModelError(SecaiError):
    pass


class GitHubError(SecaiError):
    pass


class PublishError(SecaiError):
    pass


class ScannerError(SecaiError):
    """A scanner secai ran itself crashed, timed out or wrote output that is not its report."""

    def __init__(self, scanner: str, problem: str):
        self.scanner = scanner
        self.problem = problem
        super().__init__(f"{scanner}: {problem}")


class GitError(SecaiError):
    """A repository that cannot be read as asked (history mining); the message names it."""
