"""`secai-runner run`: the whole pipeline over a run folder.

Inputs come from `--artifacts` (files, folders, zips), a `collect` bundle (`--bundle`), or GitHub
(`--repo`, which fetches new workflow runs first).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path

from secai.commands.parse import add_gate_flag
from secai.config import Settings
from secai.errors import SecaiError
from secai.exitcodes import Exit, worst

log = logging.getLogger("secai")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "run", help="parse, mine, label, build the dataset, train, evaluate, fix, validate, publish, report"
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--artifacts", nargs="+", metavar="PATH", help="report files, artifact folders or zips")
    src.add_argument("--bundle", metavar="DIR", help="a bundle written by `secai-runner collect`")
    src.add_argument("--repo", metavar="OWNER/NAME", help="fetch new workflow runs from GitHub first")
    p.add_argument("--out", metavar="RUN_DIR", help="run folder (default: one per input under $SECAI_HOME/runs)")
    p.add_argument("--model", help="base model: embedded, a local MLX folder, or a Hub id")
    p.add_argument("--stages", help="comma-separated subset of stages to run")
    p.add_argument("--no-publish", action="store_true", help="never upload, even with HF_TOKEN set")
    p.add_argument(
        "--no-train",
        action="store_true",
        help="parse, labels, fixes and the report only (no dataset, training or evaluation)",
    )
    p.add_argument("--branch", help="branch the artifacts come from (decides whether they may feed training)")
    p.add_argument("--pr", type=int, help="pull request number the artifacts come from (never trained on by default)")
    p.add_argument(
        "--repo-name", dest="repo_name", help="owner/name recorded for local artifacts (and the run, in the store)"
    )
    p.add_argument(
        "--source",
        metavar="DIR",
        help="the checkout the findings point into: the fix stage verifies fixes against it; a git repository is also mined for past fixes",
    )
    p.add_argument(
        "--alerts",
        metavar="FILE",
        help="code scanning alerts (the REST API's list-alerts JSON array) to read triage labels from",
    )
    add_gate_flag(p)
    # GitHub fetch options (with --repo)
    p.add_argument("--run-id", type=int, help="with --repo: this workflow run only")
    p.add_argument("--workflow", help="with --repo: runs of this workflow (file name or id) only")
    p.add_argument("--since", help="with --repo: runs created on or after: 2025-01-31, an ISO timestamp, or 7d")
    p.add_argument("--limit", type=int, default=10, help="with --repo: at most this many new runs (default 10)")
    p.add_argument("--api-url", help="with --repo: GitHub API base URL (default $GITHUB_API_URL or github.api_url)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (logs only)")
    p.set_defaults(func=run)


def _default_run_dir(settings: Settings, key: str, label: str) -> Path:
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return settings.runs_dir / f"{label}-{digest}"


def _stages(args) -> list[str] | None:
    from secai.pipeline import STAGES

    if args.no_train:
        return ["parse", "labels", "fix", "report"]
    if not args.stages:
        return None
    wanted = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in STAGES]
    if unknown:
        raise SecaiError(f"unknown stage(s) {', '.join(unknown)}; stages are {', '.join(STAGES)}")
    return wanted


def _run_one(run_dir: Path, settings: Settings, args, artifacts=None, meta=None, source: Path | None = None):
    from secai.pipeline import run_pipeline

    if args.alerts:
        from secai.triage.alerts import import_alerts

        Path(run_dir).mkdir(parents=True, exist_ok=True)
        log.info("%d code scanning alert(s) from %s", import_alerts(args.alerts, run_dir), args.alerts)

    return run_pipeline(
        run_dir,
        settings,
        artifacts=artifacts,
        meta=meta,
        model=args.model,
        stages=_stages(args),
        publish=False if args.no_publish else None,
        progress=not args.no_progress,
        source=source or (Path(args.source) if args.source else None),
    )


def run(args, settings: Settings) -> int:
    from secai.run.folder import prune_runs
    from secai.run.meta import RunMeta

    for gone in prune_runs(settings.runs_dir, settings.retention_days):
        log.info("%s: older than %d days; deleted", gone, settings.retention_days)
    results = []
    if args.source and not Path(args.source).is_dir():
        raise SecaiError(f"{args.source}: --source is not a folder")
    if args.artifacts:
        paths = [Path(p) for p in args.artifacts]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise SecaiError(f"{missing[0]}: no such file or directory")
        run_dir = (
            Path(args.out)
            if args.out
            else _default_run_dir(settings, "\n".join(str(p.resolve()) for p in paths), "local")
        )
        meta = RunMeta(
            repo=args.repo_name,
            run_id=_local_run_id(run_dir) if args.repo_name else None,
            branch=args.branch,
            pr=args.pr,
            event="pull_request" if args.pr else "local",
        )
        results.append(_run_one(run_dir, settings, args, artifacts=paths, meta=meta))
        _record(run_dir, settings)
    elif args.bundle:
        results.append(_run_bundle(Path(args.bundle), settings, args))
    else:
        from secai.github.fetch import fetch_runs

        summary = fetch_runs(
            args.repo,
            settings,
            run_id=args.run_id,
            workflow=args.workflow,
            branch=args.branch,
            pr=args.pr,
            since=args.since,
            limit=args.limit,
            api_url=args.api_url,
        )
        for fetched in summary.runs:
            if not fetched.run_dir:
                continue
            results.append(
                _run_one(Path(fetched.run_dir), settings, args, artifacts=None)  # fetch wrote findings.json
            )
        if not results:
            log.info("no new completed runs with artifacts in %s", args.repo)
    for res in results:
        _print_result(res)
    return worst(*(_exit_code(r, settings, args, parsed_here=not args.bundle) for r in results))


def _exit_code(res, settings: Settings, args, parsed_here: bool) -> int:
    """One run's exit code (secai.exitcodes): stage failures, the model gate, input problems of
    the reports this command parsed itself (a bundle's were judged by `collect`), `--fail-on`."""
    from secai.report.gate import describe, run_gate, threshold
    from secai.run import files

    codes = []
    if any(s.status == "failed" for s in res.stages):
        codes.append(Exit.FAILED)
    if res.gate_passed is False or res.validation_passed is False:
        codes.append(Exit.MODEL_GATE)
    if parsed_here:
        parse = files.read_parse(res.run_dir)
        if res.parse_errors:
            codes.append(Exit.USAGE)
        elif parse is not None and not parse.reports:
            log.warning("%s: no scanner reports found in the inputs", res.run_dir)
            codes.append(Exit.USAGE)
    level = threshold(args.fail_on)
    hits, new_only = run_gate(res.run_dir, settings, level)
    if hits:
        log.error("%s", describe(hits, level, new_only))
        codes.append(Exit.FINDINGS)
    return worst(*codes)


def _run_bundle(bundle: Path, settings: Settings, args):
    from secai.ingest.bundle import read_meta

    if not (bundle / "findings.json").is_file():
        raise SecaiError(f"{bundle}: not a secai bundle (bundle.json and findings.json expected)")
    meta = read_meta(bundle).run_meta()  # validated: the bundle crossed from another job
    run_dir = (
        Path(args.out)
        if args.out
        else _default_run_dir(
            settings, f"{meta.repo}:{meta.run_id}:{(bundle / 'findings.json').stat().st_size}", "bundle"
        )
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in ("findings.json", "parse.json"):
        if (bundle / name).is_file():
            shutil.copyfile(bundle / name, run_dir / name)
    source = Path(args.source) if args.source else None
    if source is None:
        # The files the findings point to, carried by the bundle: the Mac never checks out PR code.
        from secai.ingest.sources import unpack_sources

        shutil.rmtree(run_dir / "source", ignore_errors=True)
        carried = unpack_sources(bundle, run_dir / "source", settings.limits)
        if carried is not None:
            source = run_dir / "source"
            log.info("%d source file(s) from the bundle in %s", len(carried.files), source)
    from secai.run.files import read_findings
    from secai.scanners.versions import record_versions

    # The scanners this runner verifies fixes with, next to the versions the reports came from.
    record_versions(run_dir, read_findings(run_dir), settings)
    res = _run_one(run_dir, settings, args, artifacts=None, meta=meta, source=source)
    _record(run_dir, settings)
    return res


def _local_run_id(run_dir: Path) -> str:
    """A local run's id (for the store): the one its run.json has, so a re-run or a copied folder
    keeps it, else one from the folder's path."""
    from secai.run.files import read_run_meta

    had = read_run_meta(run_dir).run_id if (run_dir / "run.json").is_file() else None
    if had and had.startswith("local-"):
        return had
    return "local-" + hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:12]


def _record(run_dir: Path, settings: Settings) -> None:
    """Like `fetch`: later pull requests compare with this run when it is one of their base branch,
    and borrow its adapter when it trained a gated one (secai.run.adapters)."""
    from secai.report.baseline import record_run_folder
    from secai.run.files import read_run_meta

    if record_run_folder(run_dir, settings):
        meta = read_run_meta(run_dir)
        log.info("recorded run %s of %s in the store", meta.run_id, meta.repo)


def _print_result(res) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from secai.log import escape_data

    console = Console(stderr=False)
    table = Table(title=f"secai run: {res.run_dir}")
    for col in ("stage", "status", "seconds", "note"):
        table.add_column(col)
    for s in res.stages:
        style = {"failed": "red", "skipped": "yellow", "cached": "dim"}.get(s.status)
        # A note may quote file names and finding text: literal, on one line.
        note = Text(escape_data(s.note[:100]))
        table.add_row(s.stage, f"[{style}]{s.status}[/]" if style else s.status, f"{s.seconds:.1f}", note)
    console.print(table)
    console.print(f"findings: {res.findings}   parse errors: {res.parse_errors}")
    if res.eval:
        fx = res.eval.get("fix", {})
        rate = {k: (fx.get(k) or {}).get("verified_rate", 0.0) for k in ("deterministic", "base", "tuned")}
        n = (fx.get("tuned") or {}).get("n", 0)
        console.print(
            f"verified fixes on {n} held-out fixes: deterministic {rate['deterministic']:.2f}  "
            f"base {rate['base']:.2f}  tuned {rate['tuned']:.2f}   gate {'passed' if res.gate_passed else 'FAILED'}"
        )
    names = ("comment.md", "summary.md", "findings.sarif", "fixes.patch", "dataset", "adapter", "eval.json")
    for name in names:
        p = Path(res.run_dir) / name
        if p.exists():
            console.print(f"  {p}")
