"""semgrep with a local rules configuration (never the registry), offline.

`scanners.semgrep.config` names a rules file or a folder of them; without one semgrep is not
available for verification, because results from other rules could not be reproduced. The files
it covers follow the `languages` of those rules (`generic`/`regex` rules cover every file).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import yaml

from secai.errors import ScannerError
from secai.findings import normalize_path
from secai.scanners.base import Scanner, file_digest

_LANGUAGE_SUFFIXES = {
    "python": (".py", ".pyi", ".pyw"),
    "javascript": (".js", ".jsx", ".mjs", ".cjs"),
    "typescript": (".ts", ".tsx", ".mts", ".cts"),
    "java": (".java",),
    "go": (".go",),
    "ruby": (".rb",),
    "php": (".php",),
    "c": (".c", ".h"),
    "cpp": (".cpp", ".cc", ".cxx", ".hpp", ".hh", ".hxx", ".h"),
    "csharp": (".cs",),
    "kotlin": (".kt", ".kts"),
    "rust": (".rs",),
    "scala": (".scala",),
    "swift": (".swift",),
    "bash": (".sh", ".bash"),
    "terraform": (".tf", ".hcl", ".tfvars"),
    "yaml": (".yaml", ".yml"),
    "json": (".json",),
    "html": (".html", ".htm"),
    "solidity": (".sol",),
    "lua": (".lua",),
    "elixir": (".ex", ".exs"),
    "ocaml": (".ml", ".mli"),
    "dockerfile": (),
}
_ALIASES = {
    "py": "python",
    "python2": "python",
    "python3": "python",
    "js": "javascript",
    "ts": "typescript",
    "golang": "go",
    "c++": "cpp",
    "c#": "csharp",
    "kt": "kotlin",
    "sh": "bash",
    "hcl": "terraform",
    "tf": "terraform",
    "docker": "dockerfile",
}
_EVERY_FILE = {"generic", "regex", "none", "aliengrep"}
_MAX_RULES_BYTES = 5 * 1024 * 1024


class _Rules:
    def __init__(self, files: list[Path], every_file: bool, suffixes: tuple[str, ...], dockerfile: bool):
        self.files = files
        self.every_file = every_file
        self.suffixes = suffixes
        self.dockerfile = dockerfile


class Semgrep(Scanner):
    name = "semgrep"
    executable_name = "semgrep"
    parser = "semgrep-json"

    @property
    def rules_path(self) -> Path | None:
        c = self.settings.scanners.semgrep.config
        return Path(c).expanduser().resolve() if c else None

    @cached_property
    def _rules(self) -> _Rules:
        path = self.rules_path
        if path is None:
            raise ScannerError(
                self.name, "no local rules configured (scanners.semgrep.config); semgrep verifies nothing"
            )
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())
        elif path.is_file():
            files = [path]
        else:
            raise ScannerError(self.name, f"rules {path} not found")
        if not files:
            raise ScannerError(self.name, f"rules folder {path} holds no .yml/.yaml files")
        languages: set[str] = set()
        for f in files:
            try:
                if f.stat().st_size > _MAX_RULES_BYTES:
                    raise ScannerError(self.name, f"rules file {f} is over {_MAX_RULES_BYTES // 1048576} MB")
                doc = yaml.safe_load(f.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as e:
                raise ScannerError(self.name, f"rules file {f} cannot be read: {e}") from None
            except yaml.YAMLError as e:
                raise ScannerError(self.name, f"rules file {f} is not valid YAML: {str(e).splitlines()[0]}") from None
            rules = doc.get("rules") if isinstance(doc, dict) else None
            if not isinstance(rules, list) or not rules:
                raise ScannerError(self.name, f"rules file {f} has no 'rules' list")
            for r in rules:
                langs = r.get("languages") if isinstance(r, dict) else None
                if not isinstance(langs, list):
                    raise ScannerError(
                        self.name,
                        f"rules file {f}: rule {r.get('id') if isinstance(r, dict) else r!r} has no languages",
                    )
                languages.update(_ALIASES.get(str(x).lower(), str(x).lower()) for x in langs)
        suffixes = tuple(sorted({s for lang in languages for s in _LANGUAGE_SUFFIXES.get(lang, ())}))
        return _Rules(files, bool(languages & _EVERY_FILE), suffixes, "dockerfile" in languages)

    def unavailable_reason(self) -> str | None:
        why = super().unavailable_reason()
        if why:
            return why
        try:
            self._rules  # noqa: B018 - loading the rules is the check
        except ScannerError as e:
            return e.problem
        return None

    def config_id(self) -> str:
        try:
            return file_digest(self._rules.files)
        except (ScannerError, OSError):
            return ""

    def same_rule(self, a: str, b: str) -> bool:
        # semgrep prefixes a rule's id with its rules file's folder as a dotted path, which
        # depends on where the file was: `work.main.examples.python-sqli` is `python-sqli`.
        return a == b or a.endswith("." + b) or b.endswith("." + a)

    def _covers(self, name: str) -> bool:
        try:
            rules = self._rules
        except ScannerError:
            return False
        if rules.every_file:
            return True
        if rules.dockerfile:
            from secai.scanners.iac import is_dockerfile

            if is_dockerfile(name):
                return True
        return bool(rules.suffixes) and name.lower().endswith(rules.suffixes)

    def _extra_env(self) -> dict[str, str]:
        return {"SEMGREP_SEND_METRICS": "off", "SEMGREP_ENABLE_VERSION_CHECK": "0"}

    def _context(self) -> str:
        return f" with rules {self.rules_path}"

    def _command(self, exe: Path, files: list[str], out: Path) -> list[str]:
        if self.rules_path is None:
            raise ScannerError(self.name, "no local rules configured (scanners.semgrep.config)")
        self._rules  # noqa: B018 - a broken rules file is reported before semgrep runs
        return [
            str(exe),
            "scan",
            "--metrics=off",
            "--disable-version-check",
            "--no-git-ignore",
            "--no-rewrite-rule-ids",
            "--no-secrets-validation",
            "--quiet",
            "--json",
            "--output",
            str(out),
            "--config",
            str(self.rules_path),
            *files,
        ]

    def _file_errors(self, data: object) -> dict[str, str]:
        errors = data.get("errors") if isinstance(data, dict) else None
        found: dict[str, str] = {}
        for e in errors or []:
            if isinstance(e, dict) and isinstance(e.get("path"), str):
                found[normalize_path(e["path"])] = str(e.get("type") or e.get("message") or "error")[:200]
        return found
