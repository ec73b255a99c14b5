"""The parser contract and the registry.

A parser is a module in `secai/ingest/parsers/` that defines:

- ``NAME``: a short format name (``"sarif"``, ``"trivy-json"``, ...);
- ``KIND``: ``"json"`` or ``"xml"``, the kind of document it reads;
- ``detect(doc) -> bool``: whether the *content* is this format (never the file name);
- ``parse(doc, source) -> list[Finding]``: the findings, with ``source`` recorded on each. A
  malformed item (a result, match, alert, ...) never costs the rest of the report: parsers build
  each item inside ``found.item("matches[3]")`` of a `Findings` list, which skips an item that
  raises and keeps a note naming it. Only a document that is not the format at all raises;
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
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

from pydantic import ValidationError

from secai.errors import ParseError
from secai.findings import Finding
from secai.ingest.redact import redact_findings


@dataclass
class Document:
    """A loaded report: parsed JSON (dict/list) or an XML root element."""

    kind: Literal["json", "xml"]
    data: Any
    path: str


class Findings(list):
    """What a parser returns: its findings, plus a one-line note per malformed item it skipped."""

    def __init__(self, findings: Iterable[Finding] = ()):
        super().__init__(findings)
        self.skipped: list[str] = []

    def item(self, what: str) -> _Item:
        """`with found.item("results[3]"): found.append(...)`: if building the item raises, the
        item is skipped and `what` and the reason are noted; the rest of the report is kept."""
        return _Item(self, what)


class _Item:
    __slots__ = ("found", "what")

    def __init__(self, found: Findings, what: str):
        self.found, self.what = found, what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if kind is None or not issubclass(kind, Exception) or issubclass(kind, RecursionError):
            return False  # a report nested too deeply is a problem of the whole document
        self.found.skipped.append(" ".join(f"{self.what}: {_reason(error)}".split())[:300])
        return True


def _reason(error: Exception) -> str:
    if isinstance(error, ValidationError):  # its message quotes the input, which may be a secret
        return "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors(include_url=False, include_input=False)
        )[:200]
    text = (
        error.problem
        if isinstance(error, ParseError)
        else (f"{type(error).__name__}: {error}" if str(error) else type(error).__name__)
    )
    return text[:200]


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


def run_parser(mod: ModuleType, doc: Document, source: str) -> Findings:
    """Parse with `mod`; anything unexpected outside an item becomes a one-line ParseError naming
    the file. The result's `skipped` notes name the malformed items left out."""
    try:
        findings = mod.parse(doc.data, source)
        if not isinstance(findings, Findings):
            findings = Findings(findings)
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
