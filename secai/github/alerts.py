"""GitHub code scanning alerts: the team's dismissals and fixes, read as triage labels.

`fetch` lists the repository's alerts (PyGithub `Repository.get_codescan_alerts()`, every page)
and writes them to the run folder as `alerts.json`, the REST API's list-alerts JSON array;
`run --alerts FILE` reads the same array from a file (the Action, offline). A repository where
code scanning is off, has no analysis, or whose token lacks `security_events` (HTTP 403/404) gives
a one-line note, never a failure. Alert JSON is untrusted input: typed, capped, unknown fields
ignored.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from secai.errors import GitHubError, SecaiError
from secai.run.folder import atomic_write_json

log = logging.getLogger("secai")

ALERTS = "alerts.json"
#: At most this many alerts are read (a repository with more keeps its newest).
MAX_ALERTS = 10_000
MAX_FILE_BYTES = 64 * 1024 * 1024


def _text(limit: int):
    def clip(v: Any) -> Any:
        return v[:limit] if isinstance(v, str) else v

    return clip


class AlertLocation(BaseModel):
    model_config = ConfigDict(extra="ignore")

    path: str | None = None
    start_line: int | None = None
    end_line: int | None = None


class AlertInstance(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ref: str | None = None
    commit_sha: str | None = None
    state: str | None = None
    location: AlertLocation | None = None
    classifications: list[str] = Field(default_factory=list)


class CodeScanningAlert(BaseModel):
    """One alert, the fields triage reads (REST `code-scanning-alert-items`)."""

    model_config = ConfigDict(extra="ignore")

    number: int
    rule_id: str
    tool_name: str
    state: str
    dismissed_reason: str | None = None
    dismissed_comment: str | None = None
    dismissed_at: str | None = None
    fixed_at: str | None = None
    updated_at: str | None = None
    html_url: str | None = None
    most_recent_instance: AlertInstance | None = None

    _clip = field_validator("dismissed_comment", mode="before")(_text(2000))

    @property
    def path(self) -> str | None:
        loc = self.most_recent_instance.location if self.most_recent_instance else None
        return loc.path if loc else None

    @property
    def start_line(self) -> int | None:
        loc = self.most_recent_instance.location if self.most_recent_instance else None
        return loc.start_line if loc else None

    @classmethod
    def from_api(cls, doc: Any) -> CodeScanningAlert:
        """From the REST JSON of one alert (rule and tool are nested objects there)."""
        if not isinstance(doc, dict):
            raise ValueError("an alert is not an object")
        rule = doc.get("rule") if isinstance(doc.get("rule"), dict) else {}
        tool = doc.get("tool") if isinstance(doc.get("tool"), dict) else {}
        flat = {k: v for k, v in doc.items() if k not in ("rule", "tool")}
        return cls.model_validate({**flat, "rule_id": rule.get("id") or "", "tool_name": tool.get("name") or ""})


def parse_alerts(doc: Any, where: str) -> tuple[list[CodeScanningAlert], list[str]]:
    """Alerts from the list-alerts JSON array; each malformed alert is a note, the rest are kept."""
    if not isinstance(doc, list):
        return [], [f"{where}: not a JSON array of code scanning alerts; no alerts read"]
    alerts, notes = [], []
    for i, item in enumerate(doc[:MAX_ALERTS]):
        try:
            alerts.append(CodeScanningAlert.from_api(item))
        except (ValueError, ValidationError) as e:
            notes.append(f"{where}: alert [{i}] left out ({str(e).splitlines()[0][:160]})")
    if len(doc) > MAX_ALERTS:
        notes.append(f"{where}: {len(doc)} alerts, only the first {MAX_ALERTS} read")
    return alerts, notes


def read_alerts_file(path: str | Path) -> tuple[list[CodeScanningAlert], list[str]]:
    """`run --alerts FILE` and a run folder's alerts.json; a missing run-folder file is no alerts."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return [], [f"{path}: over {MAX_FILE_BYTES // (1024 * 1024)} MB; no alerts read"]
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [], []
    except (OSError, UnicodeDecodeError, ValueError) as e:
        return [], [f"{path}: not readable as JSON ({str(e)[:160]}); no alerts read"]
    return parse_alerts(doc, str(path))


def write_alerts(run_dir: str | Path, raw: list[dict]) -> Path:
    path = Path(run_dir) / ALERTS
    atomic_write_json(path, raw)
    return path


def import_alerts(src: str | Path, run_dir: str | Path) -> int:
    """`run --alerts FILE`: the file's alerts that parse into the run folder's alerts.json (REST
    shape); how many. Each malformed alert is a warning."""
    src = Path(src)
    if not src.is_file():
        raise SecaiError(f"{src}: --alerts file not found")
    try:
        doc = json.loads(src.read_text(encoding="utf-8")) if src.stat().st_size <= MAX_FILE_BYTES else None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise SecaiError(f"{src}: --alerts is not readable as JSON ({str(e)[:160]})") from None
    alerts, notes = parse_alerts(doc, str(src))
    for n in notes:
        log.warning("%s", n)
    kept = [item for item in (doc or [])[:MAX_ALERTS] if _parses(item)]
    write_alerts(run_dir, kept)
    return len(alerts)


def _parses(item: Any) -> bool:
    try:
        CodeScanningAlert.from_api(item)
    except (ValueError, ValidationError):
        return False
    return True


#: Statuses that mean "no code scanning here (or not for this token)": a note, not a failure.
_NOT_AVAILABLE = {403, 404}


def fetch_alerts(client, repo: str) -> tuple[list[dict] | None, str]:
    """Every alert of `repo` (raw REST JSON, all pages) and a one-line note; None (with the reason)
    when code scanning is not available to this token."""
    from github import GithubException

    from secai.github.client import describe

    try:
        pages = client.repo(repo).get_codescan_alerts()
        raw = []
        for alert in pages:
            raw.append(alert.raw_data)
            if len(raw) >= MAX_ALERTS:
                break
    except GithubException as e:
        if e.status in _NOT_AVAILABLE:
            return None, f"{repo}: no code scanning alerts read ({describe(e)})"
        raise GitHubError(f"{repo}: listing code scanning alerts: {describe(e)}") from None
    except GitHubError as e:
        if any(f"HTTP {s}" in str(e) for s in _NOT_AVAILABLE):
            return None, f"{repo}: no code scanning alerts read ({e})"
        raise
    states: dict[str, int] = {}
    for a in raw:
        s = str(a.get("state")) if isinstance(a, dict) else "?"
        states[s] = states.get(s, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "none"
    return raw, f"{repo}: {len(raw)} code scanning alert(s) ({summary})"
