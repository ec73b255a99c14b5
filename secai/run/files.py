"""One reader and one writer per run-folder file (docs/run-folder.md names them).

Readers never fail on a missing file (None or an empty list) and never stop on a damaged one: a file
that is not what it should be is logged in one line naming it and treated as missing; a finding row
that is not a valid finding is left out with a warning naming the file and the row.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from secai.findings import Finding, finding_json
from secai.run.folder import atomic_write_json
from secai.run.meta import RunMeta
from secai.run.records import EvalResult, ParseRecord, PublishResult, ValidationResult

log = logging.getLogger("secai")

FINDINGS = "findings.json"
PARSE = "parse.json"
RUN = "run.json"
EVAL = "eval.json"
VALIDATION = "validation.json"
PUBLISH = "publish.json"
TRAINING = "adapter/training.json"

M = TypeVar("M", bound=BaseModel)


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        log.warning("%s: unreadable (%s); treated as missing", path, str(e)[:200])
        return None


def _model(path: Path, model: type[M]) -> M | None:
    data = _load(path)
    if data is None:
        return None
    try:
        return model.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "(top level)"
        log.warning("%s: not a valid %s (%s: %s); treated as missing", path, path.name, where, first["msg"])
        return None


# -- findings.json ---------------------------------------------------------------------------------
def read_findings(run_dir: str | Path) -> list[Finding]:
    path = Path(run_dir) / FINDINGS
    rows = _load(path)
    if rows is None:
        return []
    if not isinstance(rows, list):
        log.warning("%s: not a list of findings; treated as missing", path)
        return []
    out = []
    for i, row in enumerate(rows):
        try:
            out.append(Finding.model_validate(row))
        except ValidationError:
            log.warning("%s: finding %d is not a valid finding; left out", path, i)
    return out


def write_findings(run_dir: str | Path, findings: list[Finding]) -> Path:
    path = Path(run_dir) / FINDINGS
    atomic_write_json(path, [finding_json(f) for f in findings])
    return path


# -- run.json ----------------------------------------------------------------------------------------
def read_run_meta(run_dir: str | Path) -> RunMeta:
    return _model(Path(run_dir) / RUN, RunMeta) or RunMeta()


def write_run_meta(run_dir: str | Path, meta: RunMeta) -> Path:
    path = Path(run_dir) / RUN
    atomic_write_json(path, meta.model_dump(mode="json"))
    return path


# -- parse.json ------------------------------------------------------------------------------------
def read_parse(run_dir: str | Path) -> ParseRecord | None:
    return _model(Path(run_dir) / PARSE, ParseRecord)


def write_parse(run_dir: str | Path, record: ParseRecord) -> Path:
    path = Path(run_dir) / PARSE
    atomic_write_json(path, record.model_dump(mode="json"))
    return path


# -- eval.json, validation.json, publish.json, adapter/training.json --------------------------------
def read_eval(run_dir: str | Path) -> EvalResult | None:
    return _model(Path(run_dir) / EVAL, EvalResult)


def write_eval(path: str | Path, result: EvalResult) -> Path:
    atomic_write_json(path, result.model_dump(mode="json"))
    return Path(path)


def read_validation(run_dir: str | Path) -> ValidationResult | None:
    return _model(Path(run_dir) / VALIDATION, ValidationResult)


def write_validation(run_dir: str | Path, result: ValidationResult) -> Path:
    path = Path(run_dir) / VALIDATION
    atomic_write_json(path, result.model_dump(mode="json"))
    return path


def read_publish(run_dir: str | Path) -> PublishResult | None:
    return _model(Path(run_dir) / PUBLISH, PublishResult)


def write_publish(run_dir: str | Path, result: PublishResult) -> Path:
    path = Path(run_dir) / PUBLISH
    atomic_write_json(path, result.model_dump(mode="json"))
    return path


def read_training(run_dir: str | Path) -> dict[str, Any] | None:
    """The training record (adapter/training.json): losses, speed, the base model; a free-form dict."""
    data = _load(Path(run_dir) / TRAINING)
    return data if isinstance(data, dict) else None
