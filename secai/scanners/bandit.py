"""bandit over Python files: `bandit -q -f json -o FILE ./a.py ./b.py`."""

from __future__ import annotations

from pathlib import Path

from secai.findings import normalize_path
from secai.scanners.base import Scanner


class Bandit(Scanner):
    name = "bandit"
    executable_name = "bandit"
    parser = "bandit"

    def _covers(self, name: str) -> bool:
        return name.endswith((".py", ".pyw"))

    def _command(self, exe: Path, files: list[str], out: Path) -> list[str]:
        return [str(exe), "-q", "-f", "json", "-o", str(out), *files]

    def _file_errors(self, data: object) -> dict[str, str]:
        errors = data.get("errors") if isinstance(data, dict) else None
        return {
            normalize_path(str(e["filename"])): str(e.get("reason") or "could not be read")[:200]
            for e in errors or []
            if isinstance(e, dict) and e.get("filename")
        }
