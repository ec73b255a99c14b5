"""The scanners secai can run itself, by the canonical tool name of their findings."""

from __future__ import annotations

from secai.config import Settings
from secai.findings import canonical_tool
from secai.scanners.bandit import Bandit
from secai.scanners.base import Scanner
from secai.scanners.checkov import Checkov
from secai.scanners.semgrep import Semgrep
from secai.scanners.trivy import Trivy

SCANNERS: dict[str, type[Scanner]] = {cls.name: cls for cls in (Bandit, Semgrep, Checkov, Trivy)}


def scanner_names() -> list[str]:
    return list(SCANNERS)


def get_scanner(name: str, settings: Settings | None = None) -> Scanner:
    """The scanner called `name` (a canonical tool name); ValueError for one secai cannot run."""
    cls = SCANNERS.get(canonical_tool(name))
    if cls is None:
        raise ValueError(f"secai cannot run {name!r}; it runs {', '.join(SCANNERS)}")
    return cls(settings)


def scanner_for_tool(tool: str, settings: Settings | None = None) -> Scanner | None:
    """The scanner that reproduces findings of `tool` (a `Finding.tool`), or None."""
    cls = SCANNERS.get(canonical_tool(tool))
    return cls(settings) if cls else None


def available_scanners(settings: Settings | None = None) -> list[Scanner]:
    return [s for s in (cls(settings) for cls in SCANNERS.values()) if s.available()]
