"""The parser contract and the registry.

A parser is a module in `secai/ingest/parsers/` that defines:

- ``NAME``: a short format name (``"sarif"``, ``"trivy-json"``, ...);
- ``KIND``: ``"json"`` or ``"xml"``, the kind of document it reads;
- ``detect(doc) -> bool``: whether the *content* is this format (never the file name);
- ``parse(doc, source) -> list[Finding]``: the findings, with ``source`` recorded on each;
- secret scanners put the matched secret values in ``finding.extra["_secrets"]`` (a list); the
  registry redacts them from every field and drops the list before the finding goes anywhere;
- optionally ``PRIORITY`` (lower is tried first; default 100) for formats that must be checked
  before a more general one.

Adding a format is adding one module; the registry discovers it. Modules whose names start with
`_` are helpers, not parsers: `_values.py` holds the value helpers parsers share.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

from secai.errors import ParseError
from secai.findings import Finding
from secai.ingest.redact import redact_findings


@dataclass
class Document:
    """A loaded report: parsed JSON (dict/list) or an XML root element."""

    kind: Literal["json", "xml"]
    data: Any
    path: str


_REGISTRY: list[ModuleType] | None = None


def registry() -> list[ModuleType]:
    """All parser modules, in detection order."""
    global _REGISTRY
    if _REGISTRY is None:
        import secai.ingest.parsers as pkg

        mods = []
        for info in pkgutil.iter_modules(pkg.__path__):
            if info.name.startswith("_") or info.name == "base":
                continue
            mod = importlib.import_module(f"secai.ingest.parsers.{info.name}")
            if callable(getattr(mod, "detect", None)) and callable(getattr(mod, "parse", None)):
                mods.append(mod)
        mods.sort(key=lambda m: (getattr(m, "PRIORITY", 100), m.NAME))
        _REGISTRY = mods
    return _REGISTRY


def find_parser(doc: Document) -> ModuleType | None:
    for mod in registry():
        if mod.KIND != doc.kind:
            continue
        try:
            if mod.detect(doc.data):
                return mod
        except Exception:  # a detector must never break detection of other formats
            continue
    return None


def run_parser(mod: ModuleType, doc: Document, source: str) -> list[Finding]:
    """Parse with `mod`; anything unexpected becomes a one-line ParseError naming the file."""
    try:
        findings = mod.parse(doc.data, source)
    except ParseError:
        raise
    except RecursionError:
        raise ParseError(doc.path, f"{mod.NAME} report is nested too deeply") from None
    except Exception as e:  # wrong shapes in otherwise valid JSON/XML
        detail = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        raise ParseError(doc.path, f"malformed {mod.NAME} report ({detail[:200]})") from None
    for f in findings:
        if not f.source:
            f.source = source
    # Secret scanners hand the matched values over in extra["_secrets"]; they never go further.
    redact_findings(findings, lambda f: f.extra.pop("_secrets", None))
    return findings
