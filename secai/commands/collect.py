"""`secai-runner collect`: scanner outputs in a GitHub workflow → a normalized bundle.

Reads the reports named by paths or globs (relative to the working directory) and/or the
artifacts of a workflow run (`--run-id`), takes the repository, commit, branch and pull request
from the GitHub Actions environment (`GITHUB_*` and the event payload), writes the bundle, and,
when running inside Actions, the step outputs and a job summary.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import re
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from secai.commands.parse import add_gate_flag
from secai.config import Settings
from secai.errors import SecaiError
from secai.exitcodes import Exit, worst
from secai.findings import SEVERITY_ORDER, Finding
from secai.ingest.bundle import BundleMeta, write_bundle
from secai.ingest.collect import IngestResult, Problem, collect
from secai.report.escape import md_code, md_inline
from secai.report.gate import describe, gate_hits, live_counts, threshold
from secai.report.severity import UNRATED, label
from secai.run.meta import PR_EVENTS, is_fork

log = logging.getLogger("secai")

_MAX_EVENT_BYTES = 25 * 1024 * 1024
_GLOB_CHARS = re.compile(r"[*?\[]")


def add_parser(sub) -> None:
    p = sub.add_parser("collect", help="parse scan outputs in a GitHub workflow into a secai bundle")
    p.add_argument("paths", nargs="*", metavar="PATH", help="report files, folders, zips or globs (** allowed)")
    p.add_argument("--out", required=True, metavar="DIR", help="bundle folder to write")
    p.add_argument("--run-id", type=int, help="also download and read the artifacts of this workflow run")
    p.add_argument(
        "--artifact-pattern",
        action="append",
        metavar="GLOB",
        help="with --run-id: artifact names to take (repeatable; default: all)",
    )
    p.add_argument("--repo", metavar="OWNER/NAME", help="repository (default: $GITHUB_REPOSITORY)")
    p.add_argument(
        "--pr-number-file",
        metavar="FILE",
        help="untrusted file holding the PR number (fork-safe workflow_run pattern); "
        "validated and cross-checked with the GitHub API",
    )
    p.add_argument("--bundle-name", default="secai-bundle", help="artifact name reported in the outputs")
    p.add_argument("--api-url", help="GitHub API URL (default: $GITHUB_API_URL)")
    p.add_argument("--strict", action="store_true", help="exit 2 when any input could not be read")
    p.add_argument(
        "--source",
        metavar="DIR",
        default=".",
        help="the checkout the findings point into (default: the working directory): the files they name "
        "go into the bundle for the fix stage (text only, capped, redacted) and dependency findings get "
        "their manifest line in the SARIF",
    )
    p.add_argument(
        "--sarif",
        metavar="FILE",
        help="where to write the SARIF 2.1.0 for code scanning (default: findings.sarif in the bundle)",
    )
    add_gate_flag(p)
    p.set_defaults(func=run)


# -- GitHub context --------------------------------------------------------------------------------


@dataclass
class Context:
    repo: str | None = None
    sha: str | None = None
    ref: str | None = None
    branch: str | None = None
    pr: int | None = None
    run_id: int | None = None
    event: str | None = None
    is_fork: bool = False
    base_branch: str | None = None
    server_url: str | None = None
    #: PR numbers GitHub itself lists for the run (`workflow_run.pull_requests`; empty for forks).
    listed_prs: tuple[int, ...] = ()
    #: Their base branches, by number.
    listed_bases: dict[int, str] = field(default_factory=dict)


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v if v > 0 else None
    if isinstance(v, str) and v.isdigit():
        return int(v) or None
    return None


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def load_event(environ: dict[str, str]) -> dict:
    path = environ.get("GITHUB_EVENT_PATH")
    if not path:
        return {}
    p = Path(path)
    try:
        if p.stat().st_size > _MAX_EVENT_BYTES:
            raise SecaiError(f"{p}: event payload over {_MAX_EVENT_BYTES} bytes")
        data = json.loads(p.read_bytes())
    except OSError as e:
        raise SecaiError(f"{p}: cannot read the event payload ({e.strerror or e})") from None
    except ValueError as e:
        raise SecaiError(f"{p}: event payload is not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise SecaiError(f"{p}: event payload is not a JSON object")
    return data


def context_from_env(environ: dict[str, str], event: dict) -> Context:
    """Where the scanned code came from, for the events secai supports."""
    name = environ.get("GITHUB_EVENT_NAME") or None
    ref = environ.get("GITHUB_REF") or None
    ctx = Context(
        repo=environ.get("GITHUB_REPOSITORY") or _str(_get(event, "repository", "full_name")),
        sha=environ.get("GITHUB_SHA") or None,
        ref=ref,
        branch=ref[len("refs/heads/") :] if ref and ref.startswith("refs/heads/") else None,
        run_id=_int(environ.get("GITHUB_RUN_ID")),
        event=name,
        server_url=(environ.get("GITHUB_SERVER_URL") or "").rstrip("/") or None,
    )
    if name in PR_EVENTS or (name is None and isinstance(event.get("pull_request"), dict)):
        pr = event.get("pull_request") or {}
        ctx.event = name or "pull_request"
        ctx.pr = _int(pr.get("number")) or _int(event.get("number"))
        ctx.sha = _str(_get(pr, "head", "sha")) or ctx.sha
        ctx.branch = _str(_get(pr, "head", "ref")) or environ.get("GITHUB_HEAD_REF") or None
        ctx.base_branch = _str(_get(pr, "base", "ref")) or environ.get("GITHUB_BASE_REF") or None
        head_repo = _str(_get(pr, "head", "repo", "full_name"))
        base_repo = _str(_get(pr, "base", "repo", "full_name")) or ctx.repo
        ctx.is_fork = is_fork(base_repo, head_repo)  # a deleted fork has `head.repo: null`
    elif name == "workflow_run":
        wr = event.get("workflow_run") or {}
        # The scans ran in the triggering run: describe that run, not this privileged one.
        ctx.event = _str(wr.get("event"))
        ctx.sha = _str(wr.get("head_sha"))
        ctx.branch = _str(wr.get("head_branch"))
        ctx.ref = f"refs/heads/{ctx.branch}" if ctx.branch and ctx.event not in PR_EVENTS else None
        ctx.run_id = _int(wr.get("id"))
        head_repo = _str(_get(wr, "head_repository", "full_name"))
        base_repo = _str(_get(wr, "repository", "full_name")) or ctx.repo
        ctx.is_fork = is_fork(base_repo, head_repo)
        listed = wr.get("pull_requests") if isinstance(wr.get("pull_requests"), list) else []
        ctx.listed_prs = tuple(n for p in listed if (n := _int(_get(p, "number"))))
        ctx.listed_bases = {
            n: b for p in listed if (n := _int(_get(p, "number"))) and (b := _str(_get(p, "base", "ref")))
        }
        if len(ctx.listed_prs) == 1:
            ctx.pr = ctx.listed_prs[0]
            ctx.base_branch = ctx.listed_bases.get(ctx.pr)
    return ctx


def read_pr_number_file(path: str | Path) -> int:
    """A PR number written by an untrusted workflow: digits only, nothing else."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            raw = fh.read(33)
    except OSError as e:
        raise SecaiError(f"{p}: cannot read the PR number ({e.strerror or e})") from None
    text = raw.decode("ascii", "replace").strip()
    if len(raw) > 32 or not re.fullmatch(r"[0-9]{1,9}", text) or int(text) == 0:
        raise SecaiError(f"{p}: not a pull request number (expected digits only)")
    return int(text)


def verify_pr_number(ctx: Context, claimed: int, settings: Settings, api_url: str | None) -> str | None:
    """Accept an untrusted PR number only if it names the PR whose head commit was scanned;
    returns the PR's base branch when the API was asked."""
    if ctx.event not in PR_EVENTS:
        raise SecaiError(f"PR number {claimed} given, but the scanned run was a {ctx.event or 'unknown'} event")
    if ctx.listed_prs:
        if claimed not in ctx.listed_prs:
            raise SecaiError(
                f"PR number {claimed} is not among the run's pull requests ({', '.join(map(str, ctx.listed_prs))})"
            )
        return None
    if not ctx.repo or not ctx.sha:
        raise SecaiError(f"PR number {claimed}: repository and head commit unknown; cannot verify it")
    from secai.github.client import GitHub

    with GitHub(settings, api_url=api_url) as gh:
        pull = gh.pull(ctx.repo, claimed)
        head_sha = gh.call(f"{ctx.repo}#{claimed}", lambda: pull.head.sha)
        base_ref = gh.call(f"{ctx.repo}#{claimed}", lambda: pull.base.ref)
    if head_sha != ctx.sha:
        raise SecaiError(
            f"PR number {claimed}: its head commit {head_sha[:12]} is not the scanned commit "
            f"{ctx.sha[:12]}; refusing it"
        )
    return base_ref


# -- inputs ------------------------------------------------------------------------------------------


def expand_paths(patterns: list[str]) -> tuple[list[str], list[Problem]]:
    """Globs expand (sorted, `**` recursive); plain paths pass through for ingest to judge. A glob
    match that is, or lies under, a symbolic link below the pattern's fixed part is refused: the
    scanned tree (a pull request's) chooses those names, and a link could point anywhere."""
    out: list[str] = []
    problems: list[Problem] = []
    for pat in patterns:
        pat = pat.strip()
        if not pat:
            continue
        if _GLOB_CHARS.search(pat):
            matches = sorted(glob.glob(pat, recursive=True))
            if not matches:
                problems.append(Problem(pat, "no files match this pattern", "warning"))
            for m in matches:
                if _through_link(m, pat):
                    problems.append(Problem(m, "symbolic link; skipped", "warning"))
                elif m not in out:
                    out.append(m)
        elif pat not in out:
            out.append(pat)
    return out, problems


def _through_link(match: str, pattern: str) -> bool:
    """Whether `match` or a folder between it and the fixed start of `pattern` is a symbolic link."""
    fixed = Path(pattern[: _GLOB_CHARS.search(pattern).start()]).parent
    path = Path(match)
    return any(p.is_symlink() for p in (path, *path.parents) if len(p.parts) > len(fixed.parts))


def _fetch_run(
    ctx: Context, run_id: int, patterns: list[str] | None, settings: Settings, api_url: str | None, tmp: Path
) -> Path:
    """Download the run's artifacts; the run's own metadata (from the API) replaces the context."""
    from secai.github.fetch import fetch_runs

    if not ctx.repo:
        raise SecaiError("--run-id needs the repository: set GITHUB_REPOSITORY or --repo")
    summary = fetch_runs(
        ctx.repo, settings, run_id=run_id, out=tmp, patterns=patterns, api_url=api_url, keep_inputs=True
    )
    run = summary.runs[0]
    for err in run.errors:
        log.warning("run %s: %s", run_id, err)
    info = json.loads((tmp / "run.json").read_text(encoding="utf-8")) if (tmp / "run.json").is_file() else {}
    ctx.run_id = run_id
    ctx.sha = _str(info.get("head_sha")) or ctx.sha
    ctx.branch = _str(info.get("branch"))
    ctx.event = _str(info.get("event"))
    ctx.ref = f"refs/heads/{ctx.branch}" if ctx.branch and ctx.event not in PR_EVENTS else None
    ctx.is_fork = bool(info.get("is_fork"))
    ctx.pr = _int(info.get("pr"))
    ctx.base_branch = _str(info.get("base_branch"))
    ctx.listed_prs = (ctx.pr,) if ctx.pr else ()
    return tmp / "inputs"


# -- outputs -----------------------------------------------------------------------------------------


def write_outputs(path: str, values: dict[str, Any]) -> None:
    """Append `name=value` lines to $GITHUB_OUTPUT (multi-line values in a random heredoc)."""
    with open(path, "a", encoding="utf-8") as fh:
        for name, value in values.items():
            text = "" if value is None else str(value)
            if "\n" in text or "\r" in text:
                delim = f"secai_{secrets.token_hex(8)}"
                fh.write(f"{name}<<{delim}\n{text}\n{delim}\n")
            else:
                fh.write(f"{name}={text}\n")


def summary_markdown(meta: BundleMeta, findings: list[Finding], result: IngestResult, max_problems: int = 10) -> str:
    """A short job summary: where from, counts by severity and tool, problems. All text escaped."""
    where = []
    if meta.repo:
        where.append(md_code(meta.repo))
    if meta.pr:
        where.append(f"pull request {meta.pr}" + (" (from a fork)" if meta.is_fork else ""))
    elif meta.branch:
        where.append(f"branch {md_code(meta.branch)}")
    if meta.sha:
        where.append(f"commit {md_code(meta.sha[:12])}")
    n = sum(1 for f in findings if not f.suppressed)
    lines = [f"### secai: {n} finding{'s' if n != 1 else ''}", ""]
    if where:
        lines += [", ".join(where), ""]
    sev = [s.value for s in SEVERITY_ORDER] + [UNRATED]
    lines.append("| tool | " + " | ".join(sev) + " | total |")
    lines.append("|---|" + "---:|" * (len(sev) + 1))
    live = [f for f in findings if not f.suppressed]
    per_tool: dict[str, dict[str, int]] = {}
    for f in live:
        row = per_tool.setdefault(f.tool, dict.fromkeys(sev, 0))
        row[label(f)] += 1
    for tool in sorted(per_tool):
        row = per_tool[tool]
        lines.append(f"| {md_inline(tool, 60)} | " + " | ".join(str(row[s]) for s in sev) + f" | {sum(row.values())} |")
    counts = live_counts(findings)
    lines.append("| **all** | " + " | ".join(str(counts[s]) for s in sev) + f" | **{len(live)}** |")
    if counts["suppressed"]:
        lines += ["", f"{counts['suppressed']} suppressed finding(s) are not counted."]
    lines.append("")
    lines.append(f"{len(result.reports)} report(s) read.")
    errors = result.errors
    if errors:
        lines += ["", f"**{len(errors)} input(s) could not be read:**", ""]
        lines += [f"- {md_code(p.path, 120)}: {md_inline(p.message, 200)}" for p in errors[:max_problems]]
        if len(errors) > max_problems:
            lines.append(f"- and {len(errors) - max_problems} more (see `parse.json` in the bundle)")
    return "\n".join(lines) + "\n"


# -- the command -------------------------------------------------------------------------------------


def _sources_and_sarif(
    findings: list[Finding], source: Path, out: Path, sarif: Path | None, settings: Settings
) -> Path:
    """The source files findings point to (and the manifests their packages are pinned in) into the
    bundle, and the SARIF for code scanning, dependency findings at their manifest line."""
    from secai.ingest.sources import bundle_sources
    from secai.report.manifest import locator
    from secai.report.sarif import to_sarif
    from secai.run.folder import atomic_write_json

    locate = locator(source)
    from secai.triage.ignore import IGNORE_FILE

    manifests = [found[0] for f in findings if f.package and locate and (found := locate(f))]
    carried = manifests + ([IGNORE_FILE] if (source / IGNORE_FILE).is_file() else [])  # labels on the runner
    bundle_sources(findings, source, out, settings.limits, extra=carried)
    target = sarif or out / "findings.sarif"
    atomic_write_json(target, to_sarif(findings, locate))
    return target


def run(args, settings: Settings) -> int:
    environ = dict(os.environ)
    ctx = context_from_env(environ, load_event(environ))
    if args.repo:
        ctx.repo = args.repo
    paths, glob_problems = expand_paths(args.paths)
    if not paths and args.run_id is None:
        raise SecaiError("nothing to collect: give report paths/globs or --run-id")
    with tempfile.TemporaryDirectory(prefix="secai-collect-") as tmp:
        if args.run_id is not None:
            paths.append(str(_fetch_run(ctx, args.run_id, args.artifact_pattern, settings, args.api_url, Path(tmp))))
        if args.pr_number_file:
            claimed = read_pr_number_file(args.pr_number_file)
            base = verify_pr_number(ctx, claimed, settings, args.api_url)
            ctx.base_branch = base or ctx.listed_bases.get(claimed) or (ctx.base_branch if claimed == ctx.pr else None)
            ctx.pr = claimed
        result = collect(paths, settings.limits)
    result.problems[:0] = glob_problems
    for p in result.problems:
        {"error": log.error, "warning": log.warning}.get(p.level, log.debug)("%s", p)

    meta = BundleMeta(
        repo=ctx.repo,
        sha=ctx.sha,
        ref=ctx.ref,
        branch=ctx.branch,
        pr=ctx.pr,
        run_id=ctx.run_id,
        event=ctx.event,
        is_fork=ctx.is_fork,
        base_branch=ctx.base_branch if ctx.pr or ctx.event in PR_EVENTS else None,
        server_url=ctx.server_url,
    )
    from secai.triage.ignore import ignore_labels, mark_accepted

    # `.secai/ignore.yml` of the checkout: accepted findings count as suppressed in the gate and the SARIF.
    mark_accepted(result.findings, ignore_labels(Path(args.source), result.findings)[0])
    parse = {"reports": [r.__dict__ for r in result.reports], "problems": [p.__dict__ for p in result.problems]}
    out = Path(args.out)
    meta = write_bundle(out, meta, result.findings, parse)
    sarif = _sources_and_sarif(
        result.findings, Path(args.source), out, Path(args.sarif) if args.sarif else None, settings
    )
    log.info(
        "bundle %s: %d findings from %d report(s), %d error(s)",
        out,
        len(result.findings),
        len(result.reports),
        len(result.errors),
    )

    level = threshold(args.fail_on)
    hits = gate_hits(result.findings, level)
    if hits:
        log.error("%s", describe(hits, level, new_only=False))
    counts = live_counts(result.findings)
    if environ.get("GITHUB_OUTPUT"):
        write_outputs(
            environ["GITHUB_OUTPUT"],
            {
                "total": len(result.findings),
                **counts,
                "gate": "off" if level is None else ("failed" if hits else "passed"),
                "reports": len(result.reports),
                "errors": len(result.errors),
                "pr": meta.pr or "",
                "bundle-name": args.bundle_name,
                "bundle-path": str(out.resolve()),
                "sarif-file": str(sarif.resolve()),
            },
        )
    if environ.get("GITHUB_STEP_SUMMARY"):
        with open(environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as fh:
            fh.write(summary_markdown(meta, result.findings, result))
    if not result.reports:
        log.warning("no scanner reports found in %s", ", ".join(paths) or "the given run")
        return Exit.USAGE
    return worst(Exit.USAGE if args.strict and result.errors else Exit.OK, Exit.FINDINGS if hits else Exit.OK)
