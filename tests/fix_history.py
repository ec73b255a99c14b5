"""A small repository whose history teaches fixes, and a bandit report of its last commit.

Ten modules start with a flaw bandit reports (B506 yaml.load, B113 a request without a timeout,
B324 MD5); one commit each fixes them in turn, the way a team would, so mining finds ten fixes and
the latest are held out. Three modules added at the end keep the same flaws: the report of HEAD
lists them, and they are what the fix stage works on. Used by the dataset, pipeline, crash and
architecture tests: the whole loop (mine -> dataset -> train -> evaluate -> fix) on a real scanner.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from gitrepo import Repo

SITES = [
    # (file, function, vulnerable line, fixed line)
    ("app/a.py", "load_a", "    value = yaml.load(text)", "    value = yaml.safe_load(text)"),
    ("app/b.py", "fetch_b", "    value = requests.get(text)", "    value = requests.get(text, timeout=10)"),
    (
        "app/c.py",
        "digest_c",
        "    value = hashlib.md5(text).hexdigest()",
        "    value = hashlib.sha256(text).hexdigest()",
    ),
    ("app/d.py", "load_d", "    value = yaml.load(text.read())", "    value = yaml.safe_load(text.read())"),
    (
        "app/e.py",
        "fetch_e",
        "    value = requests.post(text, json={})",
        "    value = requests.post(text, json={}, timeout=5)",
    ),
    (
        "app/f.py",
        "digest_f",
        "    value = hashlib.md5(text.encode()).digest()",
        "    value = hashlib.sha256(text.encode()).digest()",
    ),
    ("app/g.py", "load_g", "    value = yaml.load(open(text))", "    value = yaml.safe_load(open(text))"),
    (
        "app/h.py",
        "fetch_h",
        "    value = requests.get(text, headers={})",
        "    value = requests.get(text, headers={}, timeout=30)",
    ),
    (
        "app/i.py",
        "digest_i",
        "    value = hashlib.md5(text).hexdigest()[:8]",
        "    value = hashlib.sha256(text).hexdigest()[:8]",
    ),
    ("app/j.py", "load_j", "    value = yaml.load(text, Loader=yaml.Loader)", "    value = yaml.safe_load(text)"),
]
#: Flaws still there at HEAD (what `fix` works on).
OPEN = [
    ("app/k.py", "load_k", "    value = yaml.load(body)"),
    ("app/l.py", "fetch_l", "    value = requests.get(body, params={})"),
    ("app/m.py", "digest_m", "    value = hashlib.md5(body).hexdigest()"),
]
HEADER = "import hashlib\n\nimport requests\nimport yaml\n\n\n"


def module(func: str, line: str, arg: str = "text") -> str:
    return f"{HEADER}def {func}({arg}):\n{line}\n    return value\n"


def make_fix_repo(root: Path) -> Repo:
    """The repository at `root`/repo: 12 commits, ten fixes, three open flaws at HEAD."""
    repo = Repo(Path(root) / "repo")
    repo.commit("add the modules", {path: module(func, bad) for path, func, bad, _ in SITES})
    for path, func, _bad, good in SITES:  # one fix per commit, oldest first
        repo.commit(f"{func}: {good.strip()[:40]}", {path: module(func, good)})
    repo.commit("add the body handlers", {path: module(func, line, "body") for path, func, line in OPEN})
    return repo


def bandit_report(repo: Repo, out_dir: Path, bandit: Path) -> Path:
    """A real bandit JSON report of the repository's files, paths relative to it (as CI writes it)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    report = out_dir / "bandit.json"
    subprocess.run(
        [str(bandit), "-q", "-r", ".", "-f", "json", "-o", str(report)], cwd=repo.path, check=False, capture_output=True
    )
    data = json.loads(report.read_text())
    assert data["results"], "bandit reported nothing on the test repository"
    return report
