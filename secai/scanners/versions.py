"""Which scanner versions a run's reports came from, next to the versions secai verifies fixes
with on this machine (`scanners.json` in the run folder). A verifier of another version may
judge a rule differently; the record says so instead of hiding it."""

from __future__ import annotations

from pathlib import Path

from secai.config import Settings
from secai.findings import Finding, canonical_tool
from secai.run.folder import atomic_write_json
from secai.scanners.registry import scanner_for_tool

SCANNERS_FILE = "scanners.json"


def scanner_versions(findings: list[Finding], settings: Settings) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for tool in sorted({canonical_tool(f.tool) for f in findings}):
        report = sorted({f.tool_version for f in findings if canonical_tool(f.tool) == tool and f.tool_version})
        entry: dict = {"report": report}
        scanner = scanner_for_tool(tool, settings)
        if scanner is not None:
            if scanner.available():
                entry["verifier"] = scanner.version()
                entry["verifier_path"] = str(scanner.executable())
                entry["same_version"] = entry["verifier"] in report if report and entry["verifier"] else None
            else:
                entry["verifier"] = None
                entry["note"] = scanner.unavailable_reason()
        out[tool] = entry
    return out


def record_versions(run_dir: str | Path, findings: list[Finding], settings: Settings) -> dict[str, dict]:
    versions = scanner_versions(findings, settings)
    atomic_write_json(Path(run_dir) / SCANNERS_FILE, versions)
    return versions
