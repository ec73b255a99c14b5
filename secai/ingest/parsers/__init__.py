"""One module per report format, chosen by content. See `base.py` for the contract."""

from secai.ingest.parsers.base import Document, find_parser, registry, run_parser

__all__ = ["Document", "find_parser", "registry", "run_parser"]
