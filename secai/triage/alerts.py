"""GitHub code scanning alerts as triage input: the alert model, `alerts.json` in the run folder,
and the labels alerts give.

`fetch` lists the repository's alerts (`secai.github.alerts`, PyGithub) and writes them as
`alerts.json`, the REST API's list-alerts JSON array; `run --alerts FILE` reads the same array from
a file (the Action, offline). Alert JSON is untrusted input: typed, capped, unknown fields ignored.

Labels: dismissed (false positive, used in tests, won't fix) and fixed alerts; open alerts decide
nothing. The REST API's alerts carry no SARIF fingerprints, so an alert is matched to a run finding
by tool, rule, path and line (secai.triage.match); a dismissed alert that matches none, and every
fixed alert (its finding is gone) keeps a key of its own (`code-scanning:<tool>:<number>`), unless a
mined fix of the same site gives it that event's fingerprint (one decision, seen twice). The reason
is the dismissal comment, else the dismissal reason.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from secai.errors import SecaiError
from secai.findings import canonical_tool
from secai.run.folder import atomic_write_json
from secai.triage.labels import Label
from secai.triage.verdicts import clean_reason, from_alert

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


def alert_label(a: CodeScanningAlert) -> Label | None:
    verdict = from_alert(a.state, a.dismissed_reason, a.dismissed_comment)
    if verdict is None or not a.rule_id:
        return None
    if a.state == "fixed":
        reason, date = f"fixed (code scanning alert #{a.number})", a.fixed_at
    else:
        reason, date = (a.dismissed_comment or "").strip() or a.dismissed_reason or "dismissed", a.dismissed_at
    tool = canonical_tool(a.tool_name) if a.tool_name else "code-scanning"
    return Label(
        fingerprint=f"code-scanning:{tool}:{a.number}",
        tool=tool,
        rule_id=a.rule_id,
        path=a.path,
        line=a.start_line,
        verdict=verdict,
        reason=clean_reason(reason),
        source="code-scanning",
        origin=_origin(a),
        date=date or a.updated_at or "",
    )


def _origin(a: CodeScanningAlert) -> str:
    url = a.html_url or ""
    return url[:300] if url.startswith("https://") or url.startswith("http://") else f"alert #{a.number}"


def alert_labels(alerts: list[CodeScanningAlert]) -> list[Label]:
    return [lb for a in alerts if (lb := alert_label(a)) is not None]
