"""checkov over IaC files, offline: `checkov --skip-download -o json -f ./a.tf -f ./Dockerfile`."""

from __future__ import annotations

from pathlib import Path

from secai.scanners.base import Scanner
from secai.scanners.iac import is_iac_file

_SUFFIXES = (".tf", ".tf.json", ".yaml", ".yml", ".json", ".template", ".bicep")


class Checkov(Scanner):
    name = "checkov"
    executable_name = "checkov"
    parser = "checkov-json"

    def _covers(self, name: str) -> bool:
        return is_iac_file(name, _SUFFIXES)

    def _extra_env(self) -> dict[str, str]:
        return {"BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}

    def _command(self, exe: Path, files: list[str], out: Path) -> list[str]:
        cmd = [str(exe), "--quiet", "--compact", "--skip-download", "-o", "json", "--output-file-path", str(out)]
        for f in files:
            cmd += ["-f", f]
        return cmd

    def _report_file(self, out: Path) -> Path:
        return out / "results_json.json"

    def _empty_report(self, data: object) -> bool:
        # Nothing checkov knows how to scan: a bare summary instead of per-check-type reports.
        return isinstance(data, dict) and "check_type" not in data and {"passed", "failed"} <= set(data)
