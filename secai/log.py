"""Logging to stderr: every known token masked out of every line, and every line one line."""

from __future__ import annotations

import logging
import os
import sys

TOKEN_ENV_VARS = ("GITHUB_TOKEN", "GH_TOKEN", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "ACTIONS_RUNTIME_TOKEN")


_REGISTERED: set[str] = set()


def register_token(token: str) -> None:
    """Mask a token that did not come from the environment (e.g. the Hub's token file) too."""
    if token and len(token) >= 6:
        _REGISTERED.add(token)


def known_tokens() -> list[str]:
    return [v for k in TOKEN_ENV_VARS if (v := os.environ.get(k)) and len(v) >= 6] + sorted(_REGISTERED)


def mask_tokens(text: str) -> str:
    for tok in known_tokens():
        text = text.replace(tok, "***")
    return text


def escape_data(text: str) -> str:
    """Text as part of one log line, escaped the way GitHub's actions toolkit escapes workflow
    command data: `%`, CR and LF become `%25`, `%0D` and `%0A`. A file or zip entry name with line
    breaks can then never start a line the runner reads as a command (`::add-mask::`,
    `::stop-commands::`, `::error title=...::`)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


class _MaskingFormatter(logging.Formatter):
    """Every log line: known tokens masked, line breaks escaped (messages carry untrusted names)."""

    def format(self, record: logging.LogRecord) -> str:
        return escape_data(mask_tokens(super().format(record)))


def setup_logging(verbose: int = 0, quiet: bool = False) -> None:
    level = logging.ERROR if quiet else (logging.DEBUG if verbose else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        _MaskingFormatter("secai: %(levelname)s: %(message)s" if verbose > 1 else "secai: %(message)s")
    )
    root = logging.getLogger("secai")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
