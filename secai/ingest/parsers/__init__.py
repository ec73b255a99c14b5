"""One module per report format, chosen by content. See `base.py` for the contract."""

from secai.ingest.parsers.base import Document, Findings, find_parser, registry, run_parser

__all__ = ["Document", "Findings", "find_parser", "registry", "run_parser"]
