"""`trivy config` over IaC files, offline.

trivy scans one folder, so the files are copied into a fresh folder of their own first (same
relative paths); `trivy.yaml` and `.trivyignore` are never read (`--config ""`, `--ignorefile ""`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from secai.scanners.base import Scanner
from secai.scanners.iac import is_iac_file

_SUFFIXES = (".tf", ".tf.json", ".yaml", ".yml", ".json")


class Trivy(Scanner):
    name = "trivy"
    executable_name = "trivy"
    parser = "trivy-json"
    ok_status = frozenset({0})

    def _covers(self, name: str) -> bool:
        return is_iac_file(name, _SUFFIXES)

    def same_rule(self, a: str, b: str) -> bool:
        # The JSON report gives "AWS-0086"; SARIF and older reports the AVD id "AVD-AWS-0086".
        return a.removeprefix("AVD-") == b.removeprefix("AVD-")

    def _prepare(self, root: Path, files: list[str], work: Path) -> Path:
        tree = work / "tree"
        for f in files:
            dest = tree / f
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / f, dest)
        return tree

    def _command(self, exe: Path, files: list[str], out: Path) -> list[str]:
        return [
            str(exe),
            "config",
            "--quiet",
            "--disable-telemetry",
            "--skip-check-update",
            "--cache-dir",
            str(self.home() / "cache"),
            "--config",
            "",
            "--ignorefile",
            "",
            "--format",
            "json",
            "--output",
            str(out),
            ".",
        ]
