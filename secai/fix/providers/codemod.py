"""Pixee's `codemodder` (optional): deterministic Python fixes for the rule families it covers.

`codemodder` is an external program (PyPI `codemodder`, the `codemod` extra or `make scanners`);
secai runs it as a subprocess, offline (its own detection runs semgrep with local rules, so
semgrep must be next to it), on copies of the files in a temporary folder: one process per codemod
needed in a batch, over every file that needs it. It never sees --source. Each finding gets the
file as that codemod left it, verified by the reporting scanner like any other proposal.
Without codemodder this provider steps aside with the reason.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from secai.fix.edit import edits_between
from secai.fix.task import FixContext, FixTask, Outcome
from secai.fix.verify import Candidate
from secai.scanners.base import repo_roots
from secai.scanners.registry import get_scanner

NAME = "codemod"

#: bandit test id -> the codemod that fixes it.
BANDIT = {
    "B113": "pixee:python/add-requests-timeouts",
    "B301": "pixee:python/harden-pickle-load",
    "B306": "pixee:python/secure-tempfile",
    "B311": "pixee:python/secure-random",
    "B310": "pixee:python/url-sandbox",
    "B313": "pixee:python/use-defusedxml",
    "B314": "pixee:python/use-defusedxml",
    "B318": "pixee:python/use-defusedxml",
    "B320": "pixee:python/safe-lxml-parsing",
    "B501": "pixee:python/requests-verify",
    "B502": "pixee:python/upgrade-sslcontext-tls",
    "B503": "pixee:python/upgrade-sslcontext-tls",
    "B504": "pixee:python/upgrade-sslcontext-tls",
    "B506": "pixee:python/harden-pyyaml",
    "B602": "pixee:python/subprocess-shell-false",
    "B604": "pixee:python/subprocess-shell-false",
    "B608": "pixee:python/sql-parameterization",
}
#: Words in a semgrep rule id -> the codemod for that family (local rules have local names).
SEMGREP = (
    (re.compile(r"shell"), "pixee:python/subprocess-shell-false"),
    (re.compile(r"yaml"), "pixee:python/harden-pyyaml"),
    (re.compile(r"pickle"), "pixee:python/harden-pickle-load"),
    (re.compile(r"sql"), "pixee:python/sql-parameterization"),
    (re.compile(r"random"), "pixee:python/secure-random"),
    (re.compile(r"(verify|tls|ssl)"), "pixee:python/requests-verify"),
    (re.compile(r"xml"), "pixee:python/use-defusedxml"),
    (re.compile(r"mktemp|tempfile"), "pixee:python/secure-tempfile"),
)


def codemod_for(tool: str, rule_id: str) -> str | None:
    if tool == "bandit":
        return BANDIT.get(rule_id)
    if tool == "semgrep":
        last = rule_id.rsplit(".", 1)[-1].lower()
        return next((c for pattern, c in SEMGREP if pattern.search(last)), None)
    return None


def executable(configured: str | None) -> Path | None:
    if configured:
        p = Path(configured).expanduser()
        return p if p.is_file() and os.access(p, os.X_OK) else None
    found = shutil.which("codemodder")
    if found:
        return Path(found)
    for root in repo_roots():
        p = root / ".venv-codemodder" / "bin" / "codemodder"
        if p.is_file() and os.access(p, os.X_OK):
            return p
    return None


def propose(tasks: list[FixTask], ctx: FixContext) -> dict[int, Outcome]:
    out: dict[int, Outcome] = {}
    wanted: dict[str, list[FixTask]] = {}
    for t in tasks:
        if t.source is None or not (t.path or "").endswith(".py") or "," in (t.path or ""):
            continue
        codemod = codemod_for(t.finding.tool, t.finding.rule_id)
        if codemod:
            wanted.setdefault(codemod, []).append(t)
    if not wanted:
        return out
    exe = executable(ctx.settings.fix.codemodder)
    if exe is None:
        why = "codemodder is not installed (pip install codemodder, or set fix.codemodder)"
        return {t.id: Outcome(NAME, "no_proposal", why) for ts in wanted.values() for t in ts}
    candidates, owners = [], []
    for codemod, ts in sorted(wanted.items()):
        paths = sorted({t.path for t in ts})
        try:
            changed = _run(exe, codemod, {p: next(t.source.text for t in ts if t.path == p) for p in paths}, ctx)
        except RuntimeError as e:
            for t in ts:
                out[t.id] = Outcome(NAME, "no_proposal", f"{codemod}: {e}")
            continue
        for t in ts:
            new = changed.get(t.path)
            if new is None or new == t.source.text:
                out[t.id] = Outcome(NAME, "no_proposal", f"{codemod} changed nothing in {t.path}")
                continue
            candidates.append(Candidate(t.finding, t.path, t.source.text, edits_between(t.source.text, new)))
            owners.append((t, codemod))
    for (t, codemod), c, v in zip(owners, candidates, ctx.verifier.verify(candidates)):
        out[t.id] = Outcome(
            NAME,
            v.status,
            f"{codemod}: {v.reason}",
            changes={c.path: c.edits} if v.status == "verified" else {},
            rationale=f"Applied the {codemod} codemod.",
            candidates=1,
            verified_at=1 if v.status == "verified" else None,
        )
    return out


def _run(exe: Path, codemod: str, files: dict[str, str], ctx: FixContext) -> dict[str, str]:
    """Run one codemod over copies of `files` (path -> text); the texts it left."""
    home = ctx.settings.home_dir / "scanners" / "codemodder"
    home.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="run-", dir=home) as tmp:
        tree = Path(tmp) / "tree"
        for rel, text in files.items():
            (tree / rel).parent.mkdir(parents=True, exist_ok=True)
            (tree / rel).write_text(text, encoding="utf-8", newline="")
        semgrep = get_scanner("semgrep", ctx.settings).executable()  # codemodder detects with semgrep
        dirs = [str(exe.parent), *([str(semgrep.parent)] if semgrep else []), os.defpath]
        env = {
            "PATH": os.pathsep.join(dirs),
            "HOME": str(home),
            "TMPDIR": tmp,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "SEMGREP_SEND_METRICS": "off",
            "SEMGREP_ENABLE_VERSION_CHECK": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        cmd = [str(exe), "--codemod-include", codemod, "--output", str(Path(tmp) / "out.codetf")]
        cmd += ["--path-include", ",".join(files), "."]
        try:
            res = subprocess.run(
                cmd,
                cwd=tree,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=ctx.settings.scanners.timeout,
            )
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"codemodder timed out after {ctx.settings.scanners.timeout:g}s") from None
        except OSError as e:
            raise RuntimeError(f"cannot start codemodder: {e.strerror or e}") from None
        if res.returncode != 0:
            lines = [x for x in res.stderr.decode("utf-8", "replace").splitlines() if x.strip()]
            raise RuntimeError(f"codemodder exited with status {res.returncode}: {(lines or ['no message'])[-1][:200]}")
        return {rel: (tree / rel).read_text(encoding="utf-8") for rel in files if (tree / rel).is_file()}
