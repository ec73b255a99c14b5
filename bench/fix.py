"""Fix verification speed: candidates verified per second and scanner processes spawned.

A batch of candidate edits for the bandit and semgrep findings of examples/vulnerable-app (each
finding line rewritten a few ways: one real fix where a simple one exists, the others plausible
non-fixes, so every candidate reaches its scanner) is verified twice in one invocation:

- batched: `Verifier.verify` on the whole batch (one process per scanner);
- baseline: one `Verifier.verify` call, hence one scanner process, per candidate.

Both must give the same verdicts; the ratios are printed.

    .venv/bin/python bench/fix.py [--candidates 48]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: finding line text -> a replacement the scanner accepts (the rest are variants it still flags)
FIXES = {"yaml.load(": "yaml.safe_load(", "shell=True": "shell=False", "debug=True": "debug=False"}


def candidates(settings, wanted: int):
    from secai.fix.edit import replace_lines
    from secai.fix.source import SourceTree
    from secai.fix.verify import Candidate
    from secai.ingest.collect import collect

    app = ROOT / "examples" / "vulnerable-app"
    reports = [ROOT / "examples" / "artifacts" / d for d in ("bandit-results", "semgrep-results")]
    findings = [f for f in collect(reports, settings.limits).findings if f.location and f.location.start_line]
    source = SourceTree(app, 1 << 20)
    out = []
    variant = 0
    while len(out) < wanted:
        for f in findings:
            text = source.read(f.location.path).text
            line = text.split("\n")[f.location.start_line - 1]
            new = line
            if variant == 0:
                new = next((line.replace(a, b) for a, b in FIXES.items() if a in line), line + "  # reviewed")
            else:
                new = line + f"  # variant {variant}"
            edit = replace_lines(text, f.location.start_line, f.location.start_line, [new])
            out.append(Candidate(f, f.location.path, text, [edit]))
            if len(out) == wanted:
                break
        variant += 1
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--candidates", type=int, default=48)
    a = ap.parse_args()
    from secai.config import load_settings
    from secai.fix.verify import Verifier

    with tempfile.TemporaryDirectory() as home:
        rules = ROOT / "examples" / "semgrep-rules.yml"
        settings = load_settings(overrides={"home": home, "scanners": {"semgrep": {"config": str(rules)}}}, environ={})
        cands = candidates(settings, a.candidates)
        from secai.scanners.registry import get_scanner

        for name in ("bandit", "semgrep"):  # versions known before timing, as on a warm runner
            get_scanner(name, settings).version()

        batched = Verifier(settings)
        t0 = time.perf_counter()
        verdicts = batched.verify(cands)
        batched_s = time.perf_counter() - t0

        single = Verifier(settings)
        t0 = time.perf_counter()
        one_by_one = [single.verify([c])[0] for c in cands]
        single_s = time.perf_counter() - t0

    same = [(v.status, v.reason) for v in verdicts] == [(v.status, v.reason) for v in one_by_one]
    verified = sum(v.status == "verified" for v in verdicts)
    n = len(cands)
    print(f"candidates: {n} ({verified} verified), bandit + semgrep, examples/vulnerable-app")
    print(
        f"batched : {n / batched_s:6.2f} candidates/s  {batched.scanner_processes:3d} scanner processes  {batched_s:6.1f}s"
    )
    print(
        f"baseline: {n / single_s:6.2f} candidates/s  {single.scanner_processes:3d} scanner processes  {single_s:6.1f}s"
    )
    print(
        f"ratio   : {single_s / batched_s:6.1f}x candidates/s, "
        f"{single.scanner_processes / max(1, batched.scanner_processes):.0f}x fewer processes; same verdicts: {same}"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
