"""Wire the stages over one run folder: parse → mine → labels → dataset → train → evaluate → fix →
verdict → validate → publish → report.

Each stage hashes what it reads (input files and its settings) and records its outputs in the
run folder's manifest. A stage whose inputs are unchanged and whose outputs are intact is skipped,
so a killed run resumes where it stopped and a re-run on the same artifacts is quick. Training
resumes from its own last checkpoint inside `adapter/`.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections import Counter
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from secai.config import Settings
from secai.errors import SecaiError
from secai.fix.memory import MEMORY_FILE
from secai.run import files
from secai.run.adapters import TrustedAdapter
from secai.run.files import read_findings, read_run_meta
from secai.run.folder import Manifest, atomic_write_json, hash_tree, hash_value, sha256_file
from secai.run.meta import RunMeta, may_train

log = logging.getLogger("secai")

STAGES = [
    "parse",
    "mine",
    "labels",
    "dataset",
    "train",
    "evaluate",
    "fix",
    "verdict",
    "validate",
    "publish",
    "report",
]


class StageOutcome(BaseModel):
    stage: str
    status: str  # done | cached | skipped | failed
    seconds: float = 0.0
    note: str = ""


class PipelineResult(BaseModel):
    run_dir: str
    stages: list[StageOutcome] = Field(default_factory=list)
    findings: int = 0
    parse_errors: int = 0
    gate_passed: bool | None = None
    validation_passed: bool | None = None
    eval: dict[str, Any] | None = None
    published: dict[str, Any] | None = None
    #: Verdict labels by source and verdict (the labels stage).
    labels: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        if any(s.status == "failed" for s in self.stages):
            return False
        return self.gate_passed is not False and self.validation_passed is not False


class _Stop(Exception):
    """Later stages cannot run (e.g. no training data); not an error."""


def _file_hash(run_dir: Path, *names: str) -> str:
    return hash_tree([Path(run_dir) / n for n in names])


class Pipeline:
    def __init__(
        self,
        run_dir: Path,
        settings: Settings,
        *,
        artifacts: list[Path] | None = None,
        meta: RunMeta | None = None,
        model: str | None = None,
        stages: list[str] | None = None,
        publish: bool | None = None,
        progress: bool = True,
        source: Path | None = None,
    ):
        self.run_dir = Path(run_dir)
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise SecaiError(f"{self.run_dir}: cannot create the run folder: {e.strerror}") from None
        self.settings = settings
        self.artifacts = [Path(a) for a in (artifacts or [])]
        #: The checked-out code the findings point into (mined for history, read by the fix stage).
        self.source = Path(source) if source else None
        self.model_name = model or settings.model.name
        self.only = set(stages) if stages else None
        self.publish_enabled = settings.publish.enabled if publish is None else publish
        self.progress = progress
        self.manifest = Manifest.load(self.run_dir)
        self.result = PipelineResult(run_dir=str(self.run_dir))
        try:
            if meta is not None:
                files.write_run_meta(self.run_dir, meta)
            elif not (self.run_dir / "run.json").exists():
                files.write_run_meta(self.run_dir, RunMeta())
        except OSError as e:
            raise SecaiError(f"{self.run_dir}: cannot write run.json: {e.strerror}") from None
        self.meta = read_run_meta(self.run_dir)
        self._resolved = None
        #: The deterministic providers' outcomes, worked out once for the dataset and fix stages.
        self._deterministic: dict = {}

    # -- helpers ---------------------------------------------------------------------------------
    def resolved_model(self):
        if self._resolved is None:
            from secai.model.base import resolve_model

            self._resolved = resolve_model(self.model_name, self.settings)
        return self._resolved

    def _model_key(self) -> str:
        r = self.resolved_model()
        return f"{r.model_id}@{r.revision}"

    def _stage(self, name: str, inputs: str, fn: Callable[[], tuple[list[str], str]]) -> None:
        if self.only is not None and name not in self.only:
            return
        if self.manifest.is_current(self.run_dir, name, inputs):
            rec = self.manifest.stages[name]
            self.result.stages.append(StageOutcome(stage=name, status="cached", note=rec.note))
            log.info("%-9s up to date", name)
            return
        started = time.time()
        log.info("%-9s running", name)
        try:
            try:
                outputs, note = fn()
            except OSError as e:  # a full disk or an unwritable run folder, not a crash
                where = e.filename or self.run_dir
                raise SecaiError(f"{where}: {name} stage could not write its output: {e.strerror or e}") from None
        except _Stop as e:
            self.manifest.record(self.run_dir, name, inputs, [], "skipped", started, note=str(e))
            self.result.stages.append(
                StageOutcome(stage=name, status="skipped", note=str(e), seconds=round(time.time() - started, 2))
            )
            log.info("%-9s skipped: %s", name, e)
            return
        except SecaiError as e:
            try:
                self.manifest.record(self.run_dir, name, inputs, [], "failed", started, note=str(e))
            except OSError:
                pass  # the failure is still reported; an unrecorded stage simply runs again
            self.result.stages.append(
                StageOutcome(stage=name, status="failed", note=str(e), seconds=round(time.time() - started, 2))
            )
            log.error("%s stage failed: %s", name, e)
            raise
        rec = self.manifest.record(self.run_dir, name, inputs, outputs, "done", started, note=note)
        self.result.stages.append(StageOutcome(stage=name, status="done", seconds=rec.seconds, note=note))
        log.info("%-9s done in %.1fs%s", name, rec.seconds, f" ({note})" if note else "")

    def _skipped_upstream(self, *stages: str) -> str | None:
        for s in stages:
            rec = self.manifest.stages.get(s)
            if rec is None or rec.status == "failed":
                return f"{s} did not complete"
            if rec.status == "skipped":
                return f"{s} was skipped: {rec.note}"
        return None

    # -- stages ----------------------------------------------------------------------------------
    def parse(self) -> None:
        if not self.artifacts:
            if not (self.run_dir / "findings.json").exists():
                raise SecaiError(f"{self.run_dir}: no artifacts given and no findings.json to work from")
            return  # findings come from a bundle or a fetch
        inputs = hash_value([hash_tree(self.artifacts), self.settings.limits.model_dump(), "parse/1"])

        def run():
            from secai.ingest.collect import collect, log_problems

            res = collect(self.artifacts, self.settings.limits)
            log_problems(res)
            files.write_findings(self.run_dir, res.findings)
            files.write_parse(self.run_dir, res.record())
            return ["findings.json", "parse.json"], f"{len(res.findings)} findings, {len(res.errors)} errors"

        self._stage("parse", inputs, run)

    def mine(self) -> None:
        """The history of `--source` (a git repository): events.jsonl and mine.json."""
        if self.only is not None and "mine" not in self.only:
            return
        from secai.history.mine import mine_inputs

        why, key = mine_inputs(self.source, self.settings, self.meta.repo)
        inputs = hash_value([key, why, "mine/1"])

        def run():
            if why:
                raise _Stop(why)
            from secai.history.events import write_events
            from secai.history.mine import mine_all, summarize

            res = mine_all(self.settings, source=self.source, repo=self.meta.repo)
            write_events(self.run_dir, res.events)
            summary = {k: v for k, v in res.to_json().items() if k != "events"}
            summary["counts"] = {
                f"{k[0]}/{k[1]}": n for k, n in summarize(res.events, lambda e: (e.kind, e.tool)).items()
            }
            atomic_write_json(self.run_dir / "mine.json", summary)
            kinds = summarize(res.events)
            note = ", ".join(f"{n} {k[0]}" for k, n in kinds.items()) or "no events"
            return ["events.jsonl", "mine.json"], (
                f"{note} in {res.commits_scanned} commits, {res.scanner_processes} scanner processes"
            )

        self._stage("mine", inputs, run)

    def labels(self) -> None:
        """Verdict labels from every source (docs/triage.md): labels.jsonl."""
        if self.only is not None and "labels" not in self.only:
            return
        from secai.triage.ignore import IGNORE_FILE

        tree = hash_tree([self.source]) if self._source_is_tree() else str(self.source)
        ignore = hash_tree([self.source / IGNORE_FILE]) if self.source is not None else None
        inputs = hash_value(
            [_file_hash(self.run_dir, "findings.json", "events.jsonl", "alerts.json"), tree, ignore, "labels/1"]
        )

        def run():
            from secai.triage.build import run_labels
            from secai.triage.labels import write_labels

            res = run_labels(self.run_dir, self.settings, self.source)
            write_labels(self.run_dir, res.labels)
            return ["labels.jsonl"], res.note()

        self._stage("labels", inputs, run)

    def fix(self) -> None:
        """Verified fixes for the findings, from the source tree: fixes.jsonl and fixes.patch."""
        if self.only is not None and "fix" not in self.only:
            return
        from secai.fix.run import fix_inputs

        uses_model = "model" in self.settings.fix.providers
        adapter = self._gated_adapter() if uses_model and self.source is not None else None
        memory_file = self._memory_file(adapter) if uses_model else None
        if self.source is None:
            inputs = hash_value(["fix/none"])
        else:
            inputs = hash_value(
                [
                    _file_hash(self.run_dir, "findings.json"),
                    fix_inputs(read_findings(self.run_dir), self.source, self.settings),
                    self._model_key() if uses_model else None,
                    self._adapter_key(adapter),
                    sha256_file(memory_file) if memory_file else None,
                    "fix/2",
                ]
            )

        def run():
            if self.source is None:
                raise _Stop("no source tree for this run (give --source)")
            from secai.fix.run import fix_findings, write_outputs

            findings = read_findings(self.run_dir)
            if not findings:
                raise _Stop("no findings to fix")
            from secai.fix.memory import FixMemory

            fixes = fix_findings(
                findings,
                self.source,
                self.settings,
                model=self.model_name,
                adapter=adapter,
                progress=self.progress,
                memory=FixMemory.read(memory_file) if memory_file else FixMemory(),
                reuse=self._deterministic,
            )
            lent = self._lent_adapter if adapter else None
            who = f"tuned model from run {lent.run_id}" if lent else "tuned model" if adapter else "base model"
            return write_outputs(self.run_dir, fixes), f"{fixes.summary()} ({who})"

        self._stage("fix", inputs, run)

    def verdict(self) -> None:
        """The tuned model's verdicts for the findings the comment lists (verdicts.jsonl), only when
        its triage evaluation earned them (docs/triage.md)."""
        if self.only is not None and "verdict" not in self.only:
            return
        ev = files.read_eval(self.run_dir) if self._done("evaluate") else None
        adapter = self.run_dir / "adapter"
        why = None
        if ev is None or ev.triage is None:
            why = "no triage evaluation in this run"
        elif not ev.triage.earned:
            why = f"verdicts not earned: {ev.triage.reason}"
        elif not (adapter / "adapters.safetensors").is_file():
            why = "no adapter"
        elif not self.settings.verdict.max_comment:
            why = "verdict.max_comment is 0"
        lent = self._lent_adapter if why and self.settings.verdict.max_comment else None
        if lent is not None and lent.triage_earned:  # a trusted run's adapter that earned them there
            why, adapter = None, lent.path
        else:
            lent = None
        inputs = hash_value(
            [
                why,
                _file_hash(self.run_dir, "findings.json", "eval.json", "adapter/adapters.safetensors"),
                self._adapter_key(adapter) if lent else None,
                hash_tree([self.source]) if self.source and self.source.is_dir() and not why else None,
                self.settings.verdict.model_dump(),
                self._model_key() if not why else None,
                "verdict/1",
            ]
        )

        def run():
            from secai.triage.comment import VERDICTS_FILE, write_verdicts

            if why:
                (self.run_dir / VERDICTS_FILE).unlink(missing_ok=True)  # an earlier run's are not this one's
                raise _Stop(why)

            rows = self._model_verdicts(adapter, lent.run_id if lent else "")
            who = f" (tuned model from run {lent.run_id})" if lent else ""
            return [write_verdicts(self.run_dir, rows).name], f"{len(rows)} verdicts{who}"

        self._stage("verdict", inputs, run)

    def _model_verdicts(self, adapter: Path, adapter_run: str = ""):
        from secai.dataset.triage import facts_for_finding
        from secai.report.build import COMMENT_NEW_ENTRIES, compare, load_run
        from secai.triage.comment import verdict_record
        from secai.triage.model import model_verdicts

        cmp = compare(load_run(self.run_dir, self.settings))
        cap = min(self.settings.verdict.max_comment, COMMENT_NEW_ENTRIES)
        chosen = [e.first for e in cmp.new[:cap]]
        read = self._source_reader()
        ctx = self.settings.verdict.context_lines
        got = model_verdicts(
            self.resolved_model(), [facts_for_finding(f, read, ctx) for f in chosen], self.settings, adapter
        )
        model_id = self.resolved_model().model_id
        return [
            verdict_record(f.fingerprint, f.tool, f.rule_id, v.parsed.verdict, v.parsed.reason, model_id, adapter_run)
            for f, v in zip(chosen, got)
            if v.parsed.verdict is not None  # an abstention is shown as nothing
        ]

    def _memory_file(self, adapter: Path | None) -> Path | None:
        """The earlier fixes the model is shown: those the adapter was trained with (a borrowed
        one's only when its train stage recorded them), else this run's dataset's."""
        lent = self._lent_adapter
        if adapter is not None and lent is not None and adapter == lent.path:
            return lent.memory
        for p in ((adapter / MEMORY_FILE) if adapter else None, self.run_dir / "dataset" / MEMORY_FILE):
            if p is not None and p.is_file():
                return p
        return None

    def _gated_adapter(self) -> Path | None:
        """This run's adapter when its evaluation passed the gate, else the latest gated adapter a
        trusted run of this repository trained on this base (`secai.run.adapters`): the fix stage
        then proposes with base + adapter; with neither, with the base model."""
        lent = self._lent_adapter
        return self._own_gated_adapter() or (lent.path if lent else None)

    def _own_gated_adapter(self) -> Path | None:
        adapter = self.run_dir / "adapter"
        if not self._done("evaluate") or not (adapter / "adapters.safetensors").is_file():
            return None
        ev = files.read_eval(self.run_dir)
        return adapter if ev is not None and ev.gate.passed else None

    @cached_property
    def _lent_adapter(self) -> TrustedAdapter | None:
        """A trusted run's adapter, read in place, when this run has no gated one of its own."""
        if self._own_gated_adapter() is not None:
            return None
        from secai.fix.prompt import PROMPT_VERSION
        from secai.run.adapters import latest_trusted_adapter

        return latest_trusted_adapter(
            self.meta.repo, self._model_key, self.settings, exclude=self.run_dir, prompt_version=PROMPT_VERSION
        )

    def _adapter_key(self, adapter: Path | None) -> str | None:
        """What identifies the adapter a stage uses: its bytes (and a borrowed one's run)."""
        if adapter is None:
            return None
        lent = self._lent_adapter
        if lent is not None and adapter == lent.path:
            return f"{lent.run_id}:{lent.sha256}"
        return _file_hash(self.run_dir, "adapter/adapters.safetensors")

    def dataset(self) -> None:
        from secai.fix.prompt import PROMPT_VERSION

        source = str(self.source) if self.source else None
        inputs = hash_value(
            [
                _file_hash(self.run_dir, "events.jsonl", "findings.json", "labels.jsonl"),
                hash_tree([self.source]) if self._source_is_tree() else source,
                self.settings.dataset.model_dump(),
                self.settings.fix.model_dump(),
                self.settings.train.max_seq_length,
                self.meta.model_dump(),
                PROMPT_VERSION,
            ]
        )

        def run():
            from secai.dataset.build import build_dataset
            from secai.dataset.fixes import deterministic_examples, history_examples
            from secai.history.events import read_events

            events = read_events(self.run_dir)
            examples, skipped = history_examples(events, source if self._done("mine") else None, self.settings)
            if may_train(self.meta, self.settings)[0]:
                more, more_skipped = deterministic_examples(
                    read_findings(self.run_dir), source, self.settings, self._deterministic
                )
                examples += more
                skipped += more_skipped
            triage, triage_skipped = self._triage_cases(events)
            out = self.run_dir / "dataset"
            if out.exists():
                shutil.rmtree(out)
            res = build_dataset(
                examples, out, self.settings, run_meta=self.meta, skipped=dict(skipped + triage_skipped), triage=triage
            )
            if not res.counts.get("train"):
                raise _Stop(res.note or "no training examples")
            return ["dataset"], ", ".join(f"{k} {v}" for k, v in res.counts.items())

        self._stage("dataset", inputs, run)

    def _triage_cases(self, events):
        """Triage cases of the run's labels (labels.jsonl), facts joined from findings and events."""
        from secai.dataset.triage import triage_cases
        from secai.triage.labels import read_labels

        labels = read_labels(self.run_dir)
        if not labels:
            return [], Counter()
        return triage_cases(labels, read_findings(self.run_dir), events, self.settings, self._source_reader())

    def _source_reader(self):
        """`read(path) -> text | None` over the source tree (None without one)."""
        if self.source is None or not self.source.is_dir():
            return None
        from secai.fix.source import SourceProblem, SourceTree

        tree = SourceTree(self.source, self.settings.fix.max_file_kb * 1024)

        def read(path: str) -> str | None:
            try:
                return tree.read(path).text
            except SourceProblem:
                return None

        return read

    def _source_is_tree(self) -> bool:
        """A plain folder of source files (a bundle's) is hashed; a git repository is keyed by the
        events mined from it."""
        return self.source is not None and self.source.is_dir() and not (self.source / ".git").exists()

    def train(self) -> None:
        why = self._skipped_upstream("dataset")
        inputs = hash_value(
            [_file_hash(self.run_dir, "dataset"), self.settings.train.model_dump(), self._model_key(), why]
        )

        def run():
            if why:
                raise _Stop(why)
            from secai.training.train import train_adapter

            damaged = self.manifest.damaged(self.run_dir, "train")
            if damaged:
                # The best adapter exists only in adapters.safetensors: train again from scratch.
                log.warning("%s changed since training; training again", ", ".join(damaged))
                shutil.rmtree(self.run_dir / "adapter", ignore_errors=True)

            res = train_adapter(
                self.run_dir / "dataset",
                self.run_dir / "adapter",
                self.resolved_model(),
                self.settings,
                progress=self.progress,
            )
            note = getattr(res, "summary", None) or ""
            outputs = ["adapter/adapters.safetensors", "adapter/adapter_config.json", "adapter/training.json"]
            if (self.run_dir / "adapter" / MEMORY_FILE).is_file():
                outputs.append(f"adapter/{MEMORY_FILE}")
            return outputs, note

        self._stage("train", inputs, run)

    def evaluate(self) -> None:
        why = self._skipped_upstream("train")
        inputs = hash_value(
            [
                _file_hash(self.run_dir, "dataset", "adapter/adapters.safetensors"),
                self.settings.evaluate.model_dump(),
                self.settings.fix.model_dump(),
                self.settings.verdict.model_dump(),
                self._model_key(),
                why,
            ]
        )

        def run():
            if why:
                raise _Stop(why)
            from secai.training.evaluate import evaluate_adapter

            evaluate_adapter(
                self.run_dir / "dataset",
                self.run_dir / "adapter",
                self.resolved_model(),
                self.settings,
                out=self.run_dir / "eval.json",
            )
            return ["eval.json"], _eval_note(self.run_dir)

        self._stage("evaluate", inputs, run)

    def validate(self) -> None:
        why = self._skipped_upstream("train")
        inputs = hash_value([_file_hash(self.run_dir, "dataset", "adapter", "eval.json"), self._model_key(), why])

        def run():
            if why:
                raise _Stop(why)
            from secai.release.validate import validate_run

            res = validate_run(self.run_dir, self.settings, base=self.resolved_model())
            return ["validation.json"], "passed" if res.passed else "FAILED"

        self._stage("validate", inputs, run)

    def publish(self) -> None:
        from secai.release.token import hub_token

        token = hub_token() is not None
        configured = bool(self.settings.publish.dataset_repo or self.settings.publish.model_repo)
        why = self._skipped_upstream("validate")
        trusted, decision = may_train(self.meta, self.settings)
        if not trusted:
            why = why or f"untrusted run, never published ({decision})"
        if not (self.publish_enabled and token and configured):
            why = why or (
                "publishing disabled"
                if not self.publish_enabled
                else "no Hugging Face token (HF_TOKEN or `hf auth login`)"
                if not token
                else "no dataset_repo/model_repo configured"
            )
        inputs = hash_value(
            [
                _file_hash(self.run_dir, "dataset", "adapter", "eval.json", "validation.json"),
                self.settings.publish.model_dump(),
                why,
                token,
            ]
        )

        def run():
            if why:
                raise _Stop(why)
            from secai.release.publish import publish_run

            publish_run(self.run_dir, self.settings, base=self.resolved_model())
            return ["publish.json"], "published"

        self._stage("publish", inputs, run)

    def report(self) -> None:
        names = [
            "findings.json",
            "fixes.jsonl",
            "verdicts.jsonl",
            "eval.json",
            "validation.json",
            "publish.json",
            "run.json",
            "adapter/training.json",
            "labels.jsonl",
        ]
        inputs = hash_value(
            [
                _file_hash(self.run_dir, *names),
                self.settings.github.model_dump(),
                self._baseline(),
                str(self.source),  # the SARIF points dependency findings at its manifests
            ]
        )

        def run():
            from secai.report.build import write_reports
            from secai.report.sarif import to_sarif

            write_reports(self.run_dir, self.settings)
            from secai.report.manifest import locator
            from secai.triage.ignore import mark_accepted
            from secai.triage.labels import read_labels

            findings = mark_accepted(
                read_findings(self.run_dir), read_labels(self.run_dir)
            )  # accepted: suppressed in SARIF
            sarif = to_sarif(findings, locator(self.source))  # manifests from the checkout
            atomic_write_json(self.run_dir / "findings.sarif", sarif)
            return ["comment.md", "summary.md", "findings.sarif"], ""

        self._stage("report", inputs, run)

    def _baseline(self) -> str | None:
        """Which stored run the report compares with (a newer base-branch run changes the report)."""
        meta = read_run_meta(self.run_dir)
        is_pr = bool(meta.pr) or meta.event in ("pull_request", "pull_request_target")
        branch = meta.base_branch if is_pr else meta.branch
        if not meta.repo or not branch or not self.settings.store_path.exists():
            return None
        from secai.run.store import Store

        with Store(self.settings.store_path) as store:
            return store.baseline_run(meta.repo, branch, exclude=meta.run_id)

    # -- the whole run -----------------------------------------------------------------------------
    def run(self) -> PipelineResult:
        failed: SecaiError | None = None
        for stage in STAGES:
            if self.only is not None and stage not in self.only:
                continue  # not even its inputs: hashing them may resolve (convert) the model
            try:
                getattr(self, stage)()
            except SecaiError as e:
                failed = e
                if stage in ("parse",):
                    break
                # Later stages that depend on this one see it as not completed and skip themselves.
        self._collect_result()
        if failed is not None and not self.result.stages:
            raise failed
        return self.result

    def _collect_result(self) -> None:
        r = self.result
        parse = files.read_parse(self.run_dir)
        r.parse_errors = len(parse.errors) if parse else 0
        r.findings = len(read_findings(self.run_dir))
        if self._done("evaluate") and (ev := files.read_eval(self.run_dir)) is not None:
            r.eval = ev.model_dump(mode="json")
            r.gate_passed = ev.gate.passed
        if self._done("validate") and (va := files.read_validation(self.run_dir)) is not None:
            r.validation_passed = va.passed
        if (pub := files.read_publish(self.run_dir)) is not None:
            r.published = pub.model_dump(mode="json")
        if self._done("labels"):
            from secai.triage.labels import read_labels
            from secai.triage.resolve import counts

            labels = read_labels(self.run_dir)
            r.labels = {"labels": len(labels), **counts(labels)}

    def _done(self, stage: str) -> bool:
        rec = self.manifest.stages.get(stage)
        return rec is not None and rec.status == "done"


def _eval_note(run_dir: Path) -> str:
    ev = files.read_eval(run_dir)
    if ev is None:
        return ""
    fx = ev.fix
    return (
        f"verified fixes on {fx.tuned.n} held-out: deterministic {fx.deterministic.verified_rate:.2f}, "
        f"base {fx.base.verified_rate:.2f} -> tuned {fx.tuned.verified_rate:.2f}, "
        f"gate {'passed' if ev.gate.passed else 'FAILED'}"
    ) + (
        f"; triage accuracy on {ev.triage.n} held-out labels: baseline {ev.triage.baseline.accuracy:.2f}, "
        f"base {ev.triage.base.accuracy:.2f}, tuned {ev.triage.tuned.accuracy:.2f}"
        f" ({'verdicts earned' if ev.triage.earned else 'verdicts not shown'})"
        if ev.triage
        else ""
    )


def run_pipeline(run_dir: Path, settings: Settings, **kwargs) -> PipelineResult:
    return Pipeline(run_dir, settings, **kwargs).run()
