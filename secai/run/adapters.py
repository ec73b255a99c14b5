"""The tuned adapter a run borrows when it has no gated one of its own (a pull request run, a run
that may not train, a run without history): the latest adapter of the same repository that a
trusted run trained for the same base model and whose evaluation passed its gate.

Nothing a run folder says is taken on its word: each candidate's `run.json` and its store row
must both pass `may_train`, its train and evaluate stages must be done in its `manifest.json`, and
the adapter, its config and `eval.json` must still have the hashes those stages recorded. The
adapter is read in place, never written.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from secai.config import Settings
from secai.run import files
from secai.run.folder import Manifest, sha256_file
from secai.run.meta import RunMeta, may_train

log = logging.getLogger("secai")

ADAPTER_FILE = "adapter/adapters.safetensors"
ADAPTER_CONFIG = "adapter/adapter_config.json"
#: The adapter's copy of the fixes it learned from (`secai.fix.memory.MEMORY_FILE`; the run
#: package does not import the fix package).
ADAPTER_MEMORY = "adapter/memory.jsonl"
#: What loading and judging an adapter reads, and the stage that recorded each file's hash.
_RECORDED = ((ADAPTER_FILE, "train"), (ADAPTER_CONFIG, "train"), (files.EVAL, "evaluate"))


class TrustedAdapter(BaseModel):
    """A trusted run's gated adapter."""

    run_id: str
    run_dir: Path
    #: The adapter folder (base + this folder is the tuned model).
    path: Path
    #: sha256 of `adapters.safetensors` (a new adapter changes what depends on it).
    sha256: str
    #: Its evaluation earned the tuned model's triage verdicts (eval.json `triage.earned`).
    triage_earned: bool
    #: The earlier fixes it was trained with, when its train stage recorded them and they hold.
    memory: Path | None = None


def latest_trusted_adapter(
    repo: str | None,
    model_key: Callable[[], str],
    settings: Settings,
    *,
    exclude: Path | None = None,
    prompt_version: str | None = None,
) -> TrustedAdapter | None:
    """The newest trusted, gated adapter of `repo` trained on the base `model_key()` names
    (`model_id@revision`; called only once a candidate needs it, resolving may convert the model)
    and, when `prompt_version` is given, on prompts of that version (an adapter answers in the
    format it was trained on)."""
    if not repo or not settings.store_path.exists():
        return None
    from secai.run.store import Store

    with Store(settings.store_path) as store:
        rows = store.adapter_runs(repo)
    skip = exclude.resolve() if exclude is not None else None
    key: str | None = None
    for row in rows:
        run_dir = Path(row["run_dir"])
        if skip is not None and run_dir.resolve() == skip:
            continue
        if not _trusted(row, repo, run_dir, settings):
            continue
        ev = files.read_eval(run_dir)
        if ev is None or not ev.gate.passed or not (run_dir / ADAPTER_FILE).is_file():
            continue
        trained_on = (files.read_training(run_dir) or {}).get("prompt_version")
        if prompt_version is not None and trained_on != prompt_version:
            log.info(
                "%s: adapter trained on %s prompts, this secai writes %s ones; not used (a trusted run retrains it)",
                run_dir,
                trained_on or "older",
                prompt_version,
            )
            continue
        key = key or model_key()
        if _base_key(run_dir) != key:
            log.debug("%s: adapter for another base model than %s", run_dir, key)
            continue
        digest = _recorded_hashes_hold(run_dir)
        if digest is None:
            continue
        return TrustedAdapter(
            run_id=str(row["run_id"]),
            run_dir=run_dir,
            path=run_dir / "adapter",
            sha256=digest,
            triage_earned=bool(ev.triage and ev.triage.earned),
            memory=_recorded_memory(run_dir),
        )
    return None


def _trusted(row: dict[str, Any], repo: str, run_dir: Path, settings: Settings) -> bool:
    """The store row and the folder's run.json both name `repo` and both pass `may_train`."""
    if not run_dir.is_dir() or not (run_dir / files.RUN).is_file():
        return False
    recorded = RunMeta(repo=repo, branch=row["branch"], pr=row["pr"], event=row["event"])
    meta = files.read_run_meta(run_dir)
    if (meta.repo or "").lower() != repo.lower() or meta.run_id != str(row["run_id"]):
        log.debug("%s: run.json names another run than the store", run_dir)
        return False
    return may_train(recorded, settings)[0] and may_train(meta, settings)[0]


def _base_key(run_dir: Path) -> str | None:
    """`model_id@revision` of the base the adapter was trained on; None when training.json and
    adapter_config.json disagree or say nothing."""
    base = (files.read_training(run_dir) or {}).get("base_model")
    try:
        config = json.loads((run_dir / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(base, dict) or not isinstance(config, dict):
        return None
    trained = f"{base.get('model_id')}@{base.get('revision')}"
    loaded = f"{config.get('base_model')}@{config.get('base_model_revision')}"
    return trained if trained == loaded else None


def _recorded_hashes_hold(run_dir: Path) -> str | None:
    """The adapter's sha256 when it, its config and eval.json are what the train and evaluate
    stages recorded in manifest.json; otherwise a one-line warning and None."""
    manifest = Manifest.load(run_dir)
    digests: dict[str, str] = {}
    for rel, stage in _RECORDED:
        rec = manifest.stages.get(stage)
        want = rec.outputs.get(rel) if rec is not None and rec.status == "done" else None
        got = sha256_file(run_dir / rel) if (run_dir / rel).is_file() else None
        if want is None or got != want:
            log.warning(
                "%s: not what its %s stage recorded in manifest.json; that run's adapter is not used",
                run_dir / rel,
                stage,
            )
            return None
        digests[rel] = got
    return digests[ADAPTER_FILE]


def _recorded_memory(run_dir: Path) -> Path | None:
    """The adapter's copy of the earlier fixes it was trained with, when the train stage recorded
    its hash and the file still has it (an adapter from before the memory existed has none)."""
    rec = Manifest.load(run_dir).stages.get("train")
    want = rec.outputs.get(ADAPTER_MEMORY) if rec is not None and rec.status == "done" else None
    path = run_dir / ADAPTER_MEMORY
    if want is None:
        return None
    if not path.is_file() or sha256_file(path) != want:
        log.warning("%s: not what its train stage recorded in manifest.json; its earlier fixes are not used", path)
        return None
    return path
