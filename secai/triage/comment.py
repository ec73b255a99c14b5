"""The tuned model's verdicts for the findings the PR comment lists (`verdicts.jsonl`), written only
when its triage evaluation earned them (eval.json `triage.earned`), and the repository's own
history of a rule, counted from its labels, for when it did not.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from secai.dates import when
from secai.ingest.redact import redact_text
from secai.run.folder import atomic_write_text
from secai.triage.labels import Label, Verdict
from secai.triage.prompt import one_sentence

log = logging.getLogger("secai")

VERDICTS_FILE = "verdicts.jsonl"


class VerdictRecord(BaseModel):
    """One finding's verdict from the tuned model (untrusted model text: redacted here, escaped
    where shown)."""

    model_config = ConfigDict(extra="forbid")

    fingerprint: str
    tool: str
    rule_id: str
    verdict: Verdict
    reason: str = ""
    model_id: str = ""
    #: The trusted run whose adapter gave the verdict, when it was not this run's own (its
    #: evaluation earned the verdicts: secai.run.adapters).
    adapter_run: str = ""


def verdict_record(
    fingerprint: str, tool: str, rule_id: str, verdict: Verdict, reason: str, model_id: str, adapter_run: str = ""
):
    return VerdictRecord(
        fingerprint=fingerprint,
        tool=tool,
        rule_id=rule_id,
        verdict=verdict,
        reason=one_sentence(redact_text(reason) or ""),
        model_id=model_id,
        adapter_run=adapter_run,
    )


def write_verdicts(run_dir: str | Path, rows: list[VerdictRecord]) -> Path:
    path = Path(run_dir) / VERDICTS_FILE
    atomic_write_text(path, "".join(r.model_dump_json() + "\n" for r in rows))
    return path


def read_verdicts(run_dir: str | Path) -> dict[str, VerdictRecord]:
    """fingerprint -> verdict; a line that is not a verdict is left out with a warning naming it."""
    path = Path(run_dir) / VERDICTS_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as e:
        log.warning("%s: unreadable (%s); no verdicts read", path, str(e)[:200])
        return {}
    out: dict[str, VerdictRecord] = {}
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            r = VerdictRecord.model_validate_json(line)
        except ValidationError as e:
            log.warning("%s:%d: not a verdict (%s); left out", path, i, str(e).splitlines()[0][:200])
            continue
        out[r.fingerprint] = r
    return out


_PHRASE = {
    "false positive": "dismissed as false positive",
    "accepted risk": "accepted as a risk",
    "true positive": "fixed or confirmed as real",
}


def history_sentence(labels: list[Label], tool: str, rule_id: str, exclude: set[str] = frozenset()) -> str:
    """What the team decided about this tool's rule before, as one plain sentence ("3 of 4 earlier
    B105 findings here were dismissed as false positive"); empty without labels for the rule.
    `exclude`: fingerprints of the finding itself. Ties go to the latest decision."""
    same = [lb for lb in labels if lb.tool == tool and lb.rule_id == rule_id and lb.fingerprint not in exclude]
    if not same:
        return ""
    counts = Counter(lb.verdict for lb in same)
    top = max(counts.values())
    verdict = max((lb for lb in same if counts[lb.verdict] == top), key=lambda lb: when(lb.date)).verdict
    k, n = counts[verdict], len(same)
    phrase = _PHRASE[verdict]
    if n == 1:
        return f"The one earlier {rule_id} finding here was {phrase}."
    if k == n:
        return f"All {n} earlier {rule_id} findings here were {phrase}."
    return f"{k} of {n} earlier {rule_id} findings here were {phrase}."
