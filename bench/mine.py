"""History mining speed on the demo history (examples/history): commits/s and scanner processes.

Three measurements in one invocation, same machine, same scanners (every installed one of bandit,
semgrep with examples/semgrep-rules.yml, checkov, trivy config):

- cold: a fresh data home (empty scan cache, scanner versions not yet known), the whole history;
- warm: the same again (every scan from the cache: no scanner process may start);
- baseline: one scanner process per scanner per commit, as a per-commit scan would do: the first
  `--baseline-commits` commits each mined alone with an empty cache, extrapolated to the history.

    .venv/bin/python bench/mine.py                  # builds the demo history in a temp folder
    .venv/bin/python bench/mine.py --history DIR    # or mines an existing repository
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--history", type=Path, help="a git repository to mine (default: build the demo history)")
    ap.add_argument("--baseline-commits", type=int, default=12)
    a = ap.parse_args()

    from secai.config import load_settings
    from secai.history.git import Git
    from secai.history.mine import mine, select_scanners
    from secai.history.walk import list_commits, resolve_branch
    from secai.run.store import Store
    from secai.scanners import base

    with tempfile.TemporaryDirectory(prefix="secai-bench-mine-") as tmp:
        tmp = Path(tmp)
        repo = a.history
        if repo is None:
            repo = tmp / "history"
            subprocess.run(
                [sys.executable, str(ROOT / "examples" / "history" / "build.py"), str(repo), "--no-check"],
                check=True,
                capture_output=True,
            )
        rules = ROOT / "examples" / "semgrep-rules.yml"
        settings = load_settings(
            overrides={"home": str(tmp / "home"), "scanners": {"semgrep": {"config": str(rules)}}}, environ={}
        )
        scanners, notes = select_scanners(settings)
        figures: dict = {"scanners": [s.name for s in scanners], "notes": notes}

        for label in ("cold", "warm"):
            spawned = base.processes_spawned()
            started = time.perf_counter()
            res = mine(repo, settings, scanners)
            seconds = time.perf_counter() - started
            after = base.processes_spawned()
            figures[label] = {
                "seconds": round(seconds, 2),
                "commits": res.commits_scanned,
                "commits_per_s": round(res.commits_scanned / seconds, 1),
                "scanner_processes": after["scan"] - spawned["scan"],
                "version_processes": after["version"] - spawned["version"],
                "files_scanned": res.blobs_scanned,
                "files_from_cache": res.blobs_cached,
            }
        figures["events"] = dict(sorted(Counter(e.kind for e in res.events).items()))

        git = Git(repo)
        _, head = resolve_branch(git, None)
        commits = [c.id for c in list_commits(git, head) if c.parent][: a.baseline_commits]
        spawned = base.processes_spawned()["scan"]
        started = time.perf_counter()
        for i, sha in enumerate(commits):
            with Store(tmp / f"baseline-{i}.sqlite3") as store:
                mine(repo, settings, scanners, branch=sha, max_commits=1, store=store)
        seconds = time.perf_counter() - started
        per_commit = seconds / len(commits)
        processes = base.processes_spawned()["scan"] - spawned
        figures["baseline"] = {
            "commits": len(commits),
            "seconds": round(seconds, 2),
            "commits_per_s": round(1 / per_commit, 2),
            "scanner_processes": processes,
            "whole_history_seconds_estimate": round(per_commit * figures["cold"]["commits"], 1),
            "whole_history_processes_estimate": round(processes / len(commits) * figures["cold"]["commits"]),
        }
    print(json.dumps(figures, indent=2))
    cold, warm, bl = figures["cold"], figures["warm"], figures["baseline"]
    print(
        f"cold {cold['seconds']}s ({cold['commits_per_s']} commits/s, {cold['scanner_processes']} scanner processes); "
        f"warm {warm['seconds']}s ({warm['scanner_processes']} processes); per-commit baseline "
        f"{bl['commits_per_s']} commits/s (~{bl['whole_history_seconds_estimate']}s and "
        f"~{bl['whole_history_processes_estimate']} processes for the history)"
    )
    return 0 if warm["scanner_processes"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
