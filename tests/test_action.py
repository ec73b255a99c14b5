"""The composite action run the way a GitHub runner runs it, plus collect's context handling.

The `collect` path of `action.yml` is executed step by step: each `run:` script goes to
`bash --noprofile --norc -eo pipefail` with the step's `env:` (its `${{ }}` expressions
evaluated from the inputs), the `GITHUB_*` variables of a `pull_request` job and the files
`GITHUB_OUTPUT` / `GITHUB_STEP_SUMMARY`. `uses:` steps (setup-python, upload-artifact) and the
pip install step are left out; the project's venv stands in for the installed package.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLES, ROOT

ACTION = ROOT / "action.yml"
EVENT = Path(__file__).parent / "data" / "pull_request_event.json"
ARTIFACTS = EXAMPLES / "artifacts"
VENV_BIN = Path(sys.executable).parent
HEAD_SHA = "9b2e7c1d0a3f4e5b6c7d8e9f00112233445566aa"
EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def action() -> dict:
    return yaml.safe_load(ACTION.read_text(encoding="utf-8"))


def read_outputs(path: Path) -> dict[str, str]:
    """Parse a GITHUB_OUTPUT file (`k=v` lines and `k<<DELIM` blocks), as the runner does."""
    out: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            end = lines.index(delim, i + 1)
            out[name] = "\n".join(lines[i + 1 : end])
            i = end + 1
        else:
            name, value = line.split("=", 1)
            out[name] = value
            i += 1
    return out


class Runner:
    """Just enough of the Actions runner to execute the collect steps of the composite action."""

    def __init__(self, tmp: Path, event: dict, inputs: dict[str, str], event_name: str = "pull_request"):
        self.tmp = tmp
        self.workspace = tmp / "workspace"
        self.workspace.mkdir()
        self.runner_temp = tmp / "runner-temp"
        self.runner_temp.mkdir()
        spec = action()
        self.inputs = {k: str(v.get("default", "")) for k, v in spec["inputs"].items()}
        self.inputs["github-token"] = ""
        self.inputs.update(inputs)
        self.event_path = tmp / "event.json"
        self.event_path.write_text(json.dumps(event), encoding="utf-8")
        self.output_files: list[Path] = []
        self.summary = tmp / "step_summary.md"
        self.steps: dict[str, dict[str, str]] = {"install": {"bin": str(VENV_BIN)}}
        self.github_env = {
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_EVENT_NAME": event_name,
            "GITHUB_EVENT_PATH": str(self.event_path),
            "GITHUB_REPOSITORY": "acme/webapp",
            "GITHUB_SHA": "e5d4c3b2a1f00e9d8c7b6a5f4e3d2c1b0a998877",  # the merge commit of a PR job
            "GITHUB_REF": "refs/pull/57/merge",
            "GITHUB_HEAD_REF": "deps/jackson",
            "GITHUB_BASE_REF": "main",
            "GITHUB_RUN_ID": "9876543210",
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "RUNNER_TEMP": str(self.runner_temp),
        }

    def evaluate(self, text: str) -> str:
        def value(m: re.Match) -> str:
            expr = m.group(1)
            if expr.startswith("inputs."):
                return self.inputs[expr[len("inputs.") :]]
            if expr == "github.action_path":
                return str(ROOT)
            if expr == "github.workspace":
                return str(self.workspace)
            if m2 := re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expr):
                return self.steps.get(m2.group(1), {}).get(m2.group(2), "")
            raise AssertionError(f"expression the test runner does not know: {expr}")

        return EXPR.sub(value, str(text))

    def collect_steps(self) -> list[dict]:
        return [s for s in action()["runs"]["steps"] if s.get("if") in (None, "inputs.command == 'collect'")]

    def run_step(self, step: dict) -> subprocess.CompletedProcess:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", str(self.tmp)),
            "SECAI_HOME": os.environ["SECAI_HOME"],
            "LANG": "C.UTF-8",
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),  # the code under test, in a worktree too
        }
        env.update(self.github_env)
        out = self.tmp / f"output-{len(self.output_files)}"
        out.touch()
        self.output_files.append(out)
        env["GITHUB_OUTPUT"] = str(out)
        env.update({k: self.evaluate(v) for k, v in (step.get("env") or {}).items()})
        cwd = self.evaluate(step.get("working-directory", str(self.workspace)))
        script = self.tmp / "step.sh"
        script.write_text(step["run"], encoding="utf-8")
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if step.get("id"):
            self.steps[step["id"]] = read_outputs(out)
        return proc

    def run_collect(self) -> subprocess.CompletedProcess:
        proc = None
        for step in self.collect_steps():
            if "uses" in step or step.get("id") == "install":
                continue
            proc = self.run_step(step)
            if proc.returncode != 0:
                return proc
        assert proc is not None
        return proc


@pytest.fixture
def pr_event() -> dict:
    return json.loads(EVENT.read_text(encoding="utf-8"))


def make_runner(tmp_path: Path, event: dict, **inputs: str) -> Runner:
    r = Runner(tmp_path, event, {"command": "collect", **inputs})
    shutil.copytree(ARTIFACTS, r.workspace / "scan-results")
    return r


# -- the action file -------------------------------------------------------------------------------


def test_run_scripts_take_inputs_only_through_env():
    for step in action()["runs"]["steps"]:
        if "run" in step:
            assert "${{" not in step["run"], f"expression inside run: of step {step.get('name')!r}"


def test_third_party_actions_pinned_by_full_sha_with_version_comment():
    text = ACTION.read_text(encoding="utf-8")
    uses = re.findall(r"uses:\s*(\S+)(.*)", text)
    assert {u.split("@")[0] for u, _ in uses} == {
        "actions/setup-python",
        "actions/upload-artifact",
        "actions/download-artifact",
    }
    for ref, comment in uses:
        assert re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", ref), ref
        assert re.fullmatch(r"\s*# v\d+\.\d+\.\d+", comment), f"{ref}: no version comment"


def test_collect_path_installs_the_light_core_without_ml():
    install = next(s for s in action()["runs"]["steps"] if s.get("id") == "install")
    assert '"$ACTION_PATH"' in install["run"] and "[ml]" not in install["run"]


# -- the collect steps, executed ---------------------------------------------------------------------


def test_collect_on_a_pull_request(tmp_path, pr_event):
    r = make_runner(
        tmp_path,
        pr_event,
        paths="scan-results/**/*.sarif\nscan-results/**/*.json\nscan-results/detect-secrets/.secrets.baseline\n",
    )
    proc = r.run_collect()
    assert proc.returncode == 0, proc.stderr

    outputs = r.steps["collect"]
    bundle = Path(outputs["bundle-path"])
    assert bundle == r.runner_temp / "secai-out" / "secai-bundle"
    assert outputs["bundle-name"] == "secai-bundle"
    meta = json.loads((bundle / "bundle.json").read_text())
    findings = json.loads((bundle / "findings.json").read_text())
    parse = json.loads((bundle / "parse.json").read_text())

    assert meta["schema"] == "secai-bundle/1"
    assert (meta["repo"], meta["pr"], meta["event"], meta["is_fork"]) == ("acme/webapp", 57, "pull_request", False)
    assert (meta["sha"], meta["branch"], meta["ref"], meta["run_id"]) == (
        HEAD_SHA,
        "deps/jackson",
        "refs/pull/57/merge",
        9876543210,
    )
    # Every report of the example artifacts was read: SARIF and JSON of the same scan dedupe.
    formats = sorted(rep["format"] for rep in parse["reports"])
    assert len(formats) == 9 and not [p for p in parse["problems"] if p["level"] == "error"]
    assert meta["tool_counts"] == {
        "bandit": 47,
        "checkov": 81,
        "detect-secrets": 16,
        "safety": 28,
        "semgrep": 24,
        "trivy": 39,
    }
    assert sum(meta["tool_counts"].values()) == len(findings) == 235
    # Parser-side severities, from the raw reports: critical = trivy 2; high = bandit 9 + Checkov's
    # 79 failed checks (SARIF level error) + trivy 21 + semgrep ERROR 13 + detect-secrets 16;
    # medium = bandit 12 + Checkov's 2 skipped (SARIF level warning) + trivy 7 + safety 28 (no CVSS
    # in safety 1.x) + semgrep WARNING 11; low = bandit 26 + trivy 9.
    assert meta["severity_counts"] == {"critical": 2, "high": 138, "medium": 60, "low": 35, "info": 0}
    assert len({f["fingerprint"] for f in findings}) == len(findings)

    assert outputs["total"] == "235"
    # Outputs count live findings by report-side severity (docs/severities.md), from the raw reports:
    # bandit, trivy and semgrep as rated (semgrep ERROR high, WARNING medium), safety medium,
    # detect-secrets high; Checkov's 79 failed checks by the table (critical 2, high 18, medium 6,
    # low 9, unrated 44); its 2 skipped checks are suppressed.
    counts = {k: int(outputs[k]) for k in ("critical", "high", "medium", "low", "info", "unrated", "suppressed")}
    assert counts == {"critical": 4, "high": 77, "medium": 64, "low": 44, "info": 0, "unrated": 44, "suppressed": 2}
    assert (outputs["errors"], outputs["reports"], outputs["pr"], outputs["gate"]) == ("0", "9", "57", "off")
    # Every output the action declares for collect is produced by the collect step.
    for name, out in action()["outputs"].items():
        m = re.fullmatch(r"\$\{\{ steps\.(\w+)\.outputs\.([\w-]+) \}\}", out["value"])
        assert m, name
        if m.group(1) == "collect":
            assert m.group(2) in outputs, name

    summary = r.summary.read_text()
    # The summary counts live findings: the 2 skipped Checkov checks are named apart.
    assert summary.startswith("### secai: 233 findings")
    assert "2 suppressed finding(s) are not counted." in summary
    assert "`acme/webapp`, pull request 57, commit `9b2e7c1d0a3f`" in summary
    assert "| tool | critical | high | medium | low | info | unrated | total |" in summary
    assert "| detect\\-secrets | 0 | 16 | 0 | 0 | 0 | 0 | 16 |" in summary
    assert "| **all** | 4 | 77 | 64 | 44 | 0 | 44 | **233** |" in summary
    # No raw secret from the detect-secrets baseline or the findings leaks into the summary.
    assert "<" not in summary and "@" not in summary


def test_collect_folder_input_and_fork_pull_request(tmp_path, pr_event):
    pr_event["pull_request"]["head"]["repo"]["full_name"] = "mallory/webapp"
    pr_event["pull_request"]["head"]["label"] = "mallory:patch-1"
    r = make_runner(tmp_path, pr_event, paths="scan-results", **{"bundle-name": "scan.bundle"})
    proc = r.run_collect()
    assert proc.returncode == 0, proc.stderr
    bundle = Path(r.steps["collect"]["bundle-path"])
    assert bundle.name == "scan.bundle"
    meta = json.loads((bundle / "bundle.json").read_text())
    assert meta["is_fork"] is True and meta["pr"] == 57
    assert "pull request 57 (from a fork)" in r.summary.read_text()


def test_collect_reports_a_bad_file_and_goes_on(tmp_path, pr_event):
    r = make_runner(tmp_path, pr_event, paths="scan-results\nbroken/<b>@team.sarif\nmissing/*.sarif")
    (r.workspace / "broken").mkdir()
    (r.workspace / "broken" / "<b>@team.sarif").write_text('{"version": "2.1.0", "runs": [', encoding="utf-8")
    proc = r.run_collect()
    assert proc.returncode == 0, proc.stderr
    assert "broken/<b>@team.sarif:" in proc.stderr and "missing/*.sarif: no files match" in proc.stderr
    outputs = r.steps["collect"]
    assert (outputs["errors"], outputs["total"]) == ("1", "235")
    summary = r.summary.read_text()
    assert "**1 input(s) could not be read:**" in summary
    # The hostile file name is shown only inside a code span, where GitHub renders no HTML and
    # no mention.
    assert "- `broken/<b>@team.sarif`: invalid JSON" in summary
    outside_code = re.sub(r"`[^`\n]*`", "", summary)
    assert "<" not in outside_code and "@" not in outside_code


def test_strict_fails_the_step_on_a_bad_file(tmp_path, pr_event):
    r = make_runner(tmp_path, pr_event, paths="scan-results\nbad.json", strict="true")
    (r.workspace / "bad.json").write_text("{not json", encoding="utf-8")
    proc = r.run_collect()
    assert proc.returncode == 2
    assert "bad.json" in proc.stderr


def test_fail_on_uploads_the_bundle_then_fails_the_job(tmp_path, pr_event):
    r = make_runner(tmp_path, pr_event, paths="scan-results", **{"fail-on": "critical"})
    proc = r.run_collect()
    assert proc.returncode == 0, proc.stderr  # the collect step itself goes on to the upload
    assert "4 findings at or above critical" in proc.stderr
    outputs = r.steps["collect"]
    assert outputs["gate"] == "failed" and (Path(outputs["bundle-path"]) / "findings.json").is_file()
    steps = action()["runs"]["steps"]
    names = [s.get("name") for s in steps]
    upload, fail = names.index("Upload the bundle"), names.index("Fail on findings")
    assert upload < fail
    step = steps[fail]
    assert step["if"] == "inputs.command == 'collect' && steps.collect.outputs.gate == 'failed'"
    done = r.run_step(step)
    assert done.returncode == 1 and "::error::secai: findings at or above critical" in done.stdout

    quiet = (
        make_runner(tmp_path / "off", pr_event, paths="scan-results") if (tmp_path / "off").mkdir() is None else None
    )
    assert quiet.run_collect().returncode == 0 and quiet.steps["collect"]["gate"] == "off"


@pytest.mark.parametrize(
    "inputs, message",
    [
        ({"bundle-name": "../../etc"}, "bundle-name may only hold"),
        ({"command": "deploy"}, "command must be collect or process"),
        ({"run-id": "1; rm -rf /"}, "run-id must be a number"),
        ({"fail-on": "high; rm -rf /"}, "fail-on must be critical, high, medium, low, info or none"),
    ],
)
def test_bad_inputs_stop_at_the_check_step(tmp_path, pr_event, inputs, message):
    r = make_runner(tmp_path, pr_event, paths="scan-results", **inputs)
    check = r.collect_steps()[0]
    proc = r.run_step(check)
    assert proc.returncode == 1 and message in proc.stdout


def test_paths_with_spaces_and_dashes_stay_paths(tmp_path, pr_event):
    r = make_runner(tmp_path, pr_event, paths="  --help  \nscan-results/bandit-results/bandit.sarif\r\n")
    (r.workspace / "--help").write_text("[]", encoding="utf-8")
    proc = r.run_collect()
    assert proc.returncode == 0, proc.stderr
    parse = json.loads((Path(r.steps["collect"]["bundle-path"]) / "parse.json").read_text())
    assert [rep["path"] for rep in parse["reports"]] == ["--help", "scan-results/bandit-results/bandit.sarif"]


# -- the fork-safe pattern: collect in a workflow_run job --------------------------------------------


def workflow_run_event(run: dict, listed_prs: list[int]) -> dict:
    return {
        "action": "completed",
        "workflow_run": {
            "id": run["id"],
            "event": "pull_request",
            "head_sha": run["head_sha"],
            "head_branch": run["head_branch"],
            "head_repository": {"full_name": run["head_repository"]["full_name"]},
            "repository": {"full_name": "acme/webapp"},
            "pull_requests": [{"number": n} for n in listed_prs],
        },
        "repository": {"full_name": "acme/webapp"},
    }


@pytest.fixture
def gh(monkeypatch):
    from ghserver import github_fixture

    server, _settings, client = github_fixture(monkeypatch)
    server.state.add_repo("acme/webapp")
    yield server
    client.close()
    server.__exit__(None, None, None)


def run_collect_cli(tmp_path, monkeypatch, event: dict, *args: str) -> int:
    from secai.cli import main

    event_path = tmp_path / "event.json"
    event_path.write_text(json.dumps(event), encoding="utf-8")
    monkeypatch.setenv("GITHUB_EVENT_NAME", "workflow_run")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event_path))
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/webapp")
    monkeypatch.setenv("GITHUB_RUN_ID", "555")
    return main(["collect", "--out", str(tmp_path / "bundle"), *args, "--", str(ARTIFACTS / "bandit-results")])


def test_fork_pr_number_is_checked_against_the_api(tmp_path, monkeypatch, gh):
    gh.state.add_pull("acme/webapp", 57, "patch-1", "c" * 40, head_repo="mallory/webapp")
    run = gh.state.add_run(
        "acme/webapp", branch="patch-1", sha="c" * 40, event="pull_request", head_repo="mallory/webapp"
    )
    (tmp_path / "pr.txt").write_text("57\n")
    rc = run_collect_cli(
        tmp_path, monkeypatch, workflow_run_event(run, []), "--pr-number-file", str(tmp_path / "pr.txt")
    )
    assert rc == 0
    meta = json.loads((tmp_path / "bundle" / "bundle.json").read_text())
    assert (meta["pr"], meta["is_fork"], meta["event"], meta["run_id"], meta["sha"]) == (
        57,
        True,
        "pull_request",
        run["id"],
        "c" * 40,
    )
    assert gh.state.count("GET", r"/repos/acme/webapp/pulls/57$") >= 1


@pytest.mark.parametrize(
    "content, message",
    [
        ("58\n", "is not the scanned commit"),  # another PR (head commit differs)
        ("57; rm -rf ~", "not a pull request number"),
        ("0", "not a pull request number"),
        ("9" * 40, "not a pull request number"),
    ],
)
def test_forged_pr_numbers_are_refused(tmp_path, monkeypatch, gh, capsys, content, message):
    gh.state.add_pull("acme/webapp", 57, "patch-1", "c" * 40, head_repo="mallory/webapp")
    gh.state.add_pull("acme/webapp", 58, "other", "d" * 40)
    run = gh.state.add_run(
        "acme/webapp", branch="patch-1", sha="c" * 40, event="pull_request", head_repo="mallory/webapp"
    )
    (tmp_path / "pr.txt").write_text(content)
    rc = run_collect_cli(
        tmp_path, monkeypatch, workflow_run_event(run, []), "--pr-number-file", str(tmp_path / "pr.txt")
    )
    assert rc == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "bundle").exists()


def test_same_repo_pr_number_must_be_listed_by_github(tmp_path, monkeypatch, gh, capsys):
    run = {"id": 31, "head_sha": "e" * 40, "head_branch": "feature", "head_repository": {"full_name": "acme/webapp"}}
    (tmp_path / "pr.txt").write_text("12")
    rc = run_collect_cli(
        tmp_path, monkeypatch, workflow_run_event(run, [11]), "--pr-number-file", str(tmp_path / "pr.txt")
    )
    assert rc == 2 and "not among the run's pull requests (11)" in capsys.readouterr().err
    rc = run_collect_cli(tmp_path, monkeypatch, workflow_run_event(run, [11]))
    meta = json.loads((tmp_path / "bundle" / "bundle.json").read_text())
    assert rc == 0 and (meta["pr"], meta["is_fork"], meta["branch"], meta["ref"]) == (11, False, "feature", None)
    assert not gh.requests  # GitHub's own list sufficed; no API call


def test_collect_downloads_the_artifacts_of_a_run(tmp_path, monkeypatch, gh):
    from ghserver import make_zip

    run = gh.state.add_run("acme/webapp", branch="main", sha="f" * 40, event="push")
    sarif = (ARTIFACTS / "bandit-results" / "bandit.sarif").read_bytes()
    gh.state.add_artifact("acme/webapp", run, "scan-bandit", make_zip({"bandit.sarif": sarif}))
    gh.state.add_artifact("acme/webapp", run, "coverage", make_zip({"cov.json": b"{}"}))
    monkeypatch.setenv("GITHUB_EVENT_NAME", "workflow_dispatch")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/webapp")
    from secai.cli import main

    rc = main(["collect", "--out", str(tmp_path / "b"), "--run-id", str(run["id"]), "--artifact-pattern", "scan-*"])
    assert rc == 0
    meta = json.loads((tmp_path / "b" / "bundle.json").read_text())
    assert (meta["run_id"], meta["sha"], meta["branch"], meta["event"], meta["pr"]) == (
        run["id"],
        "f" * 40,
        "main",
        "push",
        None,
    )
    assert meta["tool_counts"] == {"bandit": 47}


def test_bundle_reader_refuses_tampered_metadata(tmp_path):
    from secai.errors import InputError
    from secai.ingest.bundle import BundleMeta, read_bundle, write_bundle

    write_bundle(tmp_path, BundleMeta(repo="acme/webapp", pr=3), [], {"reports": [], "problems": []})
    assert read_bundle(tmp_path).meta.pr == 3
    meta = json.loads((tmp_path / "bundle.json").read_text())
    for key, bad in [("pr", "3; echo pwned"), ("repo", "acme/webapp|x"), ("schema", "other/1"), ("extra", 1)]:
        (tmp_path / "bundle.json").write_text(json.dumps({**meta, key: bad}))
        with pytest.raises(InputError, match="bundle.json"):
            read_bundle(tmp_path)


# -- process: the self-hosted half, on the bundle collect wrote ---------------------------------------


def test_process_runs_the_pipeline_and_comments(tmp_path, pr_event, tiny_model, gh, monkeypatch):
    """The process steps on a PR bundle: analysis only (no training, no publishing for PR data),
    summary added to the job, one comment upserted on the loopback GitHub server."""
    gh.state.add_pull("acme/webapp", 57, "deps/jackson", HEAD_SHA)
    (tmp_path / "collect").mkdir()
    collect = make_runner(tmp_path / "collect", pr_event, paths="scan-results/bandit-results/bandit.sarif")
    assert collect.run_collect().returncode == 0
    bundle = Path(collect.steps["collect"]["bundle-path"])

    (tmp_path / "process").mkdir()
    # scanners: false here (their pinned install is minutes of downloads); the verifiers of this
    # machine (.venv-scanners) are recorded next to the report's own version
    r = Runner(
        tmp_path / "process", pr_event, {"command": "process", "github-token": gh.state.token, "scanners": "false"}
    )
    shutil.copytree(bundle, r.runner_temp / "secai-in" / "secai-bundle")  # what download-artifact does
    r.steps["venv"] = {"python": sys.executable}
    r.github_env.update(
        {
            "GITHUB_API_URL": gh.url,
            "SECAI_MODEL__NAME": str(tiny_model),
            "SECAI_FIX__CANDIDATES": "1",
            "SECAI_FIX__MAX_TOKENS": "16",
        }
    )
    steps = [s for s in action()["runs"]["steps"] if s.get("if") == "inputs.command == 'process'"]
    assert [("uses" in s, s.get("id")) for s in steps] == [(True, None), (False, "venv"), (False, "process")]
    proc = r.run_step(steps[2])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _stopped(proc.stdout)

    run_dir = Path(r.steps["process"]["run-dir"])
    versions = json.loads((run_dir / "scanners.json").read_text())
    assert versions["bandit"]["report"] == ["1.9.4"] and set(versions) == {"bandit"}
    assert (run_dir / "fixes.jsonl").is_file() and (run_dir / "comment.md").is_file()
    assert not (run_dir / "adapter").exists() and not (run_dir / "publish.json").exists()
    summary = (run_dir / "summary.md").read_text()
    assert r.summary.read_text() == summary  # written once (the pipeline, the script and `comment` each added it)
    comments = gh.state.comments[("acme/webapp", 57)]
    assert len(comments) == 1 and "secai-report" in comments[0]["body"]
    assert gh.state.token not in proc.stdout + proc.stderr


def _stopped(output: str) -> str:
    """The resume token of a step's output that stops workflow commands on its first line and
    resumes them on its last (issue 16.5); fails otherwise."""
    lines = output.strip().splitlines()
    m = re.fullmatch(r"::stop-commands::([0-9a-f]{32})", lines[0])
    assert m and lines[-1] == f"::{m.group(1)}::", (lines[0], lines[-1])
    return m.group(1)


def test_collect_and_process_steps_stop_workflow_commands(tmp_path, pr_event):
    tokens = []
    for n in range(2):
        (tmp_path / str(n)).mkdir()
        r = make_runner(tmp_path / str(n), pr_event, paths="scan-results/bandit-results")
        proc = r.run_collect()
        assert proc.returncode == 0, proc.stderr
        tokens.append(_stopped(proc.stdout))
    assert tokens[0] != tokens[1]  # random each time: an input cannot know it


def test_process_refuses_a_bundle_of_another_repository(tmp_path, pr_event):
    from secai.ingest.bundle import BundleMeta, write_bundle

    r = Runner(tmp_path, pr_event, {"command": "process"})
    write_bundle(r.runner_temp / "secai-in" / "secai-bundle", BundleMeta(repo="evil/other", pr=57), [], {})
    r.steps["venv"] = {"python": sys.executable}
    step = next(s for s in action()["runs"]["steps"] if s.get("id") == "process")
    proc = r.run_step(step)
    assert proc.returncode == 1
    token = _stopped("\n".join(proc.stdout.splitlines()[:-1]))
    assert proc.stdout.splitlines()[-2:] == [
        f"::{token}::",  # commands resume so that the error annotation shows
        "::error::secai: the bundle is for repository 'evil/other', not acme/webapp; refusing it",
    ]
