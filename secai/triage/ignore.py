"""The repository's ignore file (`.secai/ignore.yml`, docs/triage.md): findings the team accepts,
each with a reason and an optional expiry date.

    ignore:
      - rule: B105              # required: the rule id (Trivy's AVD- prefix and Semgrep's folder prefix aside)
        tool: bandit            # optional: only this tool's findings
        path: "tests/*"         # optional: a glob on the finding's path (`*` also crosses folders)
        line: 12                # optional: the finding's first line
        fingerprint: 9f2c...    # optional: exactly this finding
        reason: test fixture, not a credential   # required
        expires: 2026-12-31     # optional, YYYY-MM-DD: not applied from the day after
        verdict: false positive # optional: accepted risk (default) or false positive

A bad entry (unknown key, bad date, missing rule or reason, wrong verdict) is one warning naming
`.secai/ignore.yml:LINE` and is left out; the other entries still apply. An expired entry, or one
that matches no finding, is a warning too. Accepted findings become `ignore-file` labels and are
kept out of the new-findings list and the CI gate.
"""

from __future__ import annotations

import fnmatch
import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml

from secai.findings import Finding
from secai.triage.labels import Label, Verdict
from secai.triage.match import rule_key, tool_key
from secai.triage.scanners import finding_label

log = logging.getLogger("secai")

IGNORE_FILE = ".secai/ignore.yml"
MAX_BYTES = 256 * 1024
MAX_ENTRIES = 2000
KEYS = {"rule", "tool", "path", "line", "fingerprint", "reason", "expires", "verdict"}
VERDICTS: tuple[Verdict, ...] = ("accepted risk", "false positive")


@dataclass(frozen=True)
class Entry:
    line: int
    rule: str
    reason: str
    tool: str | None = None
    path: str | None = None
    at_line: int | None = None
    fingerprint: str | None = None
    expires: date | None = None
    verdict: Verdict = "accepted risk"

    def matches(self, f: Finding) -> bool:
        if self.fingerprint and f.fingerprint != self.fingerprint:
            return False
        if rule_key(f.rule_id) != rule_key(self.rule) and f.rule_id != self.rule:
            return False
        if self.tool and tool_key(f.tool) != tool_key(self.tool):
            return False
        loc = f.location
        if self.path and (loc is None or not fnmatch.fnmatchcase(loc.path, self.path)):
            return False
        return not (self.at_line is not None and (loc is None or loc.start_line != self.at_line))


@dataclass
class IgnoreFile:
    name: str
    entries: list[Entry] = field(default_factory=list)
    #: One line per problem, each naming `name:LINE`.
    warnings: list[str] = field(default_factory=list)


class _Loader(yaml.SafeLoader):
    """Safe YAML whose mappings remember the line of each key."""


def _mapping(loader: _Loader, node: yaml.MappingNode) -> dict:
    loader.flatten_mapping(node)
    out: dict = {"__line__": node.start_mark.line + 1, "__lines__": {}}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            key = str(key)
        out[key] = loader.construct_object(value_node, deep=True)
        out["__lines__"][key] = key_node.start_mark.line + 1
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def read_ignore_file(path: Path, name: str = IGNORE_FILE, today: date | None = None) -> IgnoreFile:
    """The entries of an ignore file (missing: none); every problem is a warning in the result."""
    res = IgnoreFile(name)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return res
    except OSError as e:
        res.warnings.append(f"{name}: unreadable ({e.strerror}); no entries applied")
        return res
    if len(data) > MAX_BYTES:
        res.warnings.append(f"{name}: {len(data)} bytes, over {MAX_BYTES}; no entries applied")
        return res
    try:
        doc = yaml.load(data.decode("utf-8"), Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except UnicodeDecodeError:
        res.warnings.append(f"{name}: not UTF-8 text; no entries applied")
        return res
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        res.warnings.append(
            f"{where}: not valid YAML ({getattr(e, 'problem', None) or 'syntax error'}); no entries applied"
        )
        return res
    if doc is None:
        return res
    if not isinstance(doc, dict) or not isinstance(doc.get("ignore"), list):
        res.warnings.append(f"{name}:1: expected a mapping with an `ignore:` list of entries; no entries applied")
        return res
    for key, line in doc["__lines__"].items():
        if key != "ignore":
            res.warnings.append(f"{name}:{line}: unknown key {key!r} (only `ignore:`); ignored")
    items = doc["ignore"]
    if len(items) > MAX_ENTRIES:
        res.warnings.append(f"{name}: {len(items)} entries, only the first {MAX_ENTRIES} read")
    today = today or date.today()
    for item in items[:MAX_ENTRIES]:
        entry = _entry(item, name, res.warnings, doc["__lines__"]["ignore"])
        if entry is None:
            continue
        if entry.expires is not None and entry.expires < today:
            res.warnings.append(
                f"{name}:{entry.line}: the entry for {entry.rule} expired on {entry.expires.isoformat()}; not applied"
            )
            continue
        res.entries.append(entry)
    return res


def _entry(item, name: str, warnings: list[str], list_line: int) -> Entry | None:
    if not isinstance(item, dict):
        warnings.append(f"{name}:{list_line}: an entry is not a mapping (rule:, reason:, ...); left out")
        return None
    line, lines = item["__line__"], item["__lines__"]
    where = f"{name}:{line}"
    unknown = [k for k in lines if k not in KEYS]
    if unknown:
        k = unknown[0]
        warnings.append(f"{name}:{lines[k]}: unknown key {k!r} (allowed: {', '.join(sorted(KEYS))}); entry left out")
        return None
    problems = []
    rule, reason = item.get("rule"), item.get("reason")
    if not isinstance(rule, (str, int)) or not str(rule).strip():
        problems.append("`rule` is required")
    if not isinstance(reason, str) or not reason.strip():
        problems.append("`reason` is required")
    expires = item.get("expires")
    if expires is not None and not isinstance(expires, date):
        try:
            expires = date.fromisoformat(str(expires).strip())
        except ValueError:
            problems.append(f"`expires` {str(expires)[:40]!r} is not a date (YYYY-MM-DD)")
    verdict = item.get("verdict", "accepted risk")
    if verdict not in VERDICTS:
        problems.append(f"`verdict` {str(verdict)[:40]!r} is not one of: {', '.join(VERDICTS)}")
    at_line = item.get("line")
    if at_line is not None and (not isinstance(at_line, int) or isinstance(at_line, bool) or at_line < 1):
        problems.append(f"`line` {str(at_line)[:40]!r} is not a line number")
    for key in ("tool", "path", "fingerprint"):
        if item.get(key) is not None and not isinstance(item[key], str):
            problems.append(f"`{key}` is not text")
    if problems:
        warnings.append(f"{where}: {'; '.join(problems)}; entry left out")
        return None
    return Entry(
        line=line,
        rule=str(rule).strip(),
        reason=reason.strip(),
        tool=item.get("tool"),
        path=item.get("path"),
        at_line=at_line,
        fingerprint=item.get("fingerprint"),
        expires=expires if isinstance(expires, date) else None,
        verdict=verdict,
    )


def apply_ignore_file(ign: IgnoreFile, findings: list[Finding]) -> tuple[list[Label], list[str]]:
    """Labels for the findings the entries accept, and a warning per entry that matches none."""
    labels, warnings = [], []
    for e in ign.entries:
        hits = [f for f in findings if e.matches(f)]
        if not hits:
            warnings.append(f"{ign.name}:{e.line}: the entry for {e.rule} matches no finding")
        labels += [finding_label(f, e.verdict, e.reason, "ignore-file", f"{ign.name}:{e.line}") for f in hits]
    return labels, warnings


def ignore_labels(
    source: Path | None, findings: list[Finding], name: str = IGNORE_FILE
) -> tuple[list[Label], list[str]]:
    """The ignore file of a source tree applied to a run's findings: labels and warnings (logged)."""
    if source is None:
        return [], []
    ign = read_ignore_file(Path(source) / name, name)
    labels, unmatched = apply_ignore_file(ign, findings)
    warnings = ign.warnings + unmatched
    for w in warnings:
        log.warning("%s", w)
    return labels, warnings


def accepted(labels: list[Label]) -> set[str]:
    """Fingerprints the ignore file accepted (kept out of the new findings and the gate)."""
    return {lb.fingerprint for lb in labels if lb.source == "ignore-file"}


def mark_accepted(findings: list[Finding], labels: list[Label]) -> list[Finding]:
    """`findings` with those the ignore file accepted (its labels) flagged suppressed, the reason
    and entry in `extra["accepted"]`: reports then list them with the suppressed ones, the SARIF
    marks them suppressed, and the gate does not count them."""
    by_fp = {lb.fingerprint: lb for lb in labels if lb.source == "ignore-file"}
    for f in findings:
        lb = by_fp.get(f.fingerprint)
        if lb is not None and not f.suppressed:
            f.suppressed = True
            f.extra["accepted"] = f"{lb.reason} ({lb.origin})"
    return findings
