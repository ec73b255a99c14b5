"""Secrets suite: known secrets planted in scanner reports, in the git history secai mines (a
commit subject, code next to a fixed flaw) and in the environment never leave the redaction layer.
The whole pipeline runs (tiny model), then `validate`, `publish` (loopback Hub) and `comment`
(loopback GitHub); every file secai wrote, every log line and every byte the two servers received
is searched for every raw secret value.

The random tiny model's answers are degenerate, so validation runs with `--no-generate` and the
evaluation gate is off; everything else is the real path a runner takes.
"""

from __future__ import annotations

import json
import logging
import os
import secrets as rand
import string
from pathlib import Path

import pytest
from conftest import DOJO, requires_corpus
from ghserver import GitHubServer
from hubserver import HubServer

import secai.cli as cli
import secai.release.publish as publish_mod

GITLEAKS = [DOJO / "gitleaks" / "gitleaks8_many.json", DOJO / "gitleaks" / "redacted_data_many.json"]
GITLEAKS_SARIF = DOJO / "sarif" / "gitleaks_7.5.0.sarif"
TRIVY = DOJO / "trivy" / "misconfigurations_and_secrets.json"
OTHER = [
    DOJO / "npm_audit" / "many_vuln.json",
    DOJO / "anchore_grype" / "check_all_fields.json",
    DOJO / "osv_scanner" / "some_findings.json",
    DOJO / "anchore_grype" / "fix_available.json",
]
DS, MODEL = "acme/secai-dataset", "acme/secai-adapter"


def _alnum(n: int) -> str:
    return "".join(rand.choice(string.ascii_letters + string.digits) for _ in range(n))


def scanner_reported(value: str | None) -> bool:
    """A value the scanner itself reported unmasked (gitleaks' redacted mode reports 'REDACTED')."""
    return bool(value) and "REDACTED" not in value and set(value) - {"*"} != set()


def gitleaks_secrets() -> list[str]:
    values = []
    for path in GITLEAKS:
        for entry in json.loads(path.read_text(encoding="utf-8")) or []:
            values += [entry.get("Secret"), entry.get("Match"), entry.get("offender")]
    for run in json.loads(GITLEAKS_SARIF.read_text(encoding="utf-8"))["runs"]:
        for result in run.get("results") or []:
            values.append((result.get("properties") or {}).get("offender"))
    return [v for v in values if scanner_reported(v)]


def planted_trivy(tmp: Path) -> tuple[Path, list[str]]:
    """The corpus' Trivy secrets report with each masked value ('*****') replaced by a fresh secret
    without any recognisable token prefix: only the scanner's own report marks it as secret."""
    doc = json.loads(TRIVY.read_text(encoding="utf-8"))
    planted = []
    for result in doc["Results"]:
        for s in result.get("Secrets") or []:
            value = _alnum(36)
            s["Match"] = s["Match"].replace("*****", value)
            planted.append(value)
    path = tmp / "trivy-secrets.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path, planted


def planted_semgrep(tmp: Path, env_tokens: list[str]) -> tuple[Path, list[str]]:
    ghp, hf, aws = "ghp_" + _alnum(36), "hf_" + _alnum(34), "AKIA" + _alnum(16).upper()
    password = _alnum(20)
    results = []
    texts = [
        f"Hardcoded GitHub token {ghp} passed to the client",
        f"Token {hf} for the Hugging Face Hub is committed",
        f'config has password = "{password}" and aws key {aws}',
        f"CI log shows the runner's tokens {env_tokens[0]} and {env_tokens[1]}",
    ]
    for i, text in enumerate(texts):
        results.append(
            {
                "check_id": f"generic.secrets.hardcoded-{i}",
                "path": f"app/settings_{i}.py",
                "start": {"line": 10 + i, "col": 1},
                "end": {"line": 10 + i, "col": 80},
                "extra": {
                    "message": text,
                    "severity": "ERROR",
                    "lines": text,
                    "metadata": {
                        "cwe": ["CWE-798: Use of Hard-coded Credentials"],
                        "references": [f"https://example.test/leak?token={ghp}"],
                    },
                },
            }
        )
    path = tmp / "semgrep.json"
    path.write_text(json.dumps({"results": results, "errors": [], "version": "1.135.0"}), encoding="utf-8")
    return path, [ghp, hf, aws, password]


@pytest.fixture
def servers(monkeypatch):
    import huggingface_hub.constants as constants

    gh_token, hf_token = "ghp_" + _alnum(36), "hf_" + _alnum(34)
    with GitHubServer(token=gh_token) as gh, HubServer(token=hf_token) as hub:
        gh.state.add_repo("acme/app")
        gh.state.add_pull("acme/app", 7, "feature", "c" * 40)
        monkeypatch.setenv("GITHUB_TOKEN", gh_token)
        monkeypatch.setenv("GITHUB_API_URL", gh.url)
        monkeypatch.setenv("HF_TOKEN", hf_token)
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        monkeypatch.setattr(publish_mod, "BACKOFF_SECONDS", 0.0)
        yield gh, hub


def _sent(requests, token_ok: str) -> bytes:
    """What a server received, minus the one header that must carry its own token."""
    out = []
    for r in requests:
        headers = {k: v for k, v in r.headers.items() if not (k.lower() == "authorization" and token_ok in v)}
        out.append(r.method.encode() + b" " + r.path.encode() + b"\n" + json.dumps(headers).encode() + b"\n" + r.body)
    return b"\n".join(out)


def planted_history(tmp: Path, bandit) -> tuple[Path, Path, list[str]]:
    """The fix-history repository with two more fixes: one whose commit subject names a token, one
    whose code holds a password next to the flaw; and a bandit report of its HEAD."""
    from fix_history import bandit_report, make_fix_repo, module

    repo = make_fix_repo(tmp)
    subject_token, code_password = "ghp_" + _alnum(36), _alnum(24)
    repo.commit("add z", {"app/z.py": module("load_z", "    value = yaml.load(text)")})
    repo.commit(
        f"load_z: safe_load (CI token was {subject_token})",
        {"app/z.py": module("load_z", "    value = yaml.safe_load(text)")},
    )
    leaky = f'    password = "{code_password}"\n    value = yaml.load(text + password)'
    repo.commit("add y", {"app/y.py": module("load_y", leaky)})
    repo.commit("load_y: safe_load", {"app/y.py": module("load_y", leaky.replace("yaml.load", "yaml.safe_load"))})
    report = bandit_report(repo, tmp / "bandit-report", bandit.executable())
    return repo.path, report, [subject_token, code_password]


@requires_corpus
def test_no_planted_secret_leaves_the_redaction_layer(servers, tiny_model, tmp_path, monkeypatch, caplog, capfd):
    from secai.config import load_settings
    from secai.scanners.bandit import Bandit

    gh, hub = servers
    gh_token, hf_token = gh.state.token, hub.token
    bandit = Bandit(load_settings())
    if not bandit.available():
        pytest.skip("bandit is not installed")
    source, bandit_json, history_secrets = planted_history(tmp_path, bandit)
    trivy, trivy_secrets = planted_trivy(tmp_path)
    semgrep, semgrep_secrets = planted_semgrep(tmp_path, [gh_token, hf_token])
    scanner_secrets = sorted(set(gitleaks_secrets() + trivy_secrets + semgrep_secrets + history_secrets))
    every = scanner_secrets + [gh_token, hf_token]
    for k, v in {
        "SECAI_TRAIN__MAX_ITERS": "4",
        "SECAI_TRAIN__MIN_ITERS": "2",
        "SECAI_FIX__CANDIDATES": "1",
        "SECAI_FIX__MAX_TOKENS": "16",
        "SECAI_MINE__SCANNERS": "[bandit]",
        "SECAI_EVALUATE__GATE": "false",
        "SECAI_PUBLISH__DATASET_REPO": DS,
        "SECAI_PUBLISH__MODEL_REPO": MODEL,
    }.items():
        monkeypatch.setenv(k, v)
    real_setup = cli.setup_logging

    def setup_and_capture(*a, **kw):  # cli.main replaces the secai handlers; keep caplog's too
        real_setup(*a, **kw)
        logging.getLogger("secai").addHandler(caplog.handler)

    monkeypatch.setattr(cli, "setup_logging", setup_and_capture)
    caplog.set_level(logging.DEBUG, logger="secai")

    run = tmp_path / "run"
    artifacts = [*GITLEAKS, GITLEAKS_SARIF, trivy, semgrep, *OTHER, bandit_json]
    cli.main(
        [
            "-v",
            "run",
            "--artifacts",
            *map(str, artifacts),
            "--source",
            str(source),
            "--out",
            str(run),
            "--model",
            str(tiny_model),
            "--no-progress",
            "--repo-name",
            "acme/app",
            "--branch",
            "main",
        ]
    )
    assert cli.main(["validate", str(run), "--model", str(tiny_model), "--no-generate"]) == 0
    assert cli.main(["publish", str(run), "--model", str(tiny_model)]) == 0
    assert cli.main(["comment", str(run), "--repo", "acme/app", "--pr", "7"]) == 0
    out, err = capfd.readouterr()

    # The planted findings really went all the way through, as placeholders.
    findings = json.loads((run / "findings.json").read_text())
    secret_findings = [f for f in findings if f["category"] == "secret" or "secrets" in f["rule_id"]]
    assert len(secret_findings) >= 10 and "[REDACTED:" in (run / "findings.json").read_text()
    # The fix whose commit subject named a token trains with the token redacted; the one whose
    # code held a password is left out of the dataset.
    published = "".join(hub.repo(DS, "dataset").files[f"{s}.jsonl"].data.decode() for s in ("train", "valid", "test"))
    assert "CI token was [REDACTED:" in published and "load_y" not in published
    assert set(hub.repo(MODEL).files) >= {"adapters.safetensors", "README.md"}
    ours = [c for c in gh.state.comments[("acme/app", 7)] if c["user"]["login"] == gh.state.login]
    assert len(ours) == 1 and "gitleaks" in ours[0]["body"] and "hardcoded" in ours[0]["body"]

    written = sorted(p for root in (run, Path(os.environ["SECAI_HOME"])) for p in root.rglob("*") if p.is_file())
    assert any(p.name.startswith("secai.sqlite3") for p in written)
    logs = "\n".join(
        [*(r.getMessage() for r in caplog.records), *(caplog.handler.format(r) for r in caplog.records), out, err]
    )
    gh_bytes = _sent(gh.requests, gh_token)
    hub_bytes = _sent(hub.received, hf_token)
    hits = []
    for secret in every:
        raw = secret.encode()
        escaped = json.dumps(secret)[1:-1].encode()
        for p in written:
            data = p.read_bytes()
            if raw in data or escaped in data:
                hits.append(f"{secret[:8]}… in {p}")
        if secret in logs:
            hits.append(f"{secret[:8]}… in the logs")
        for name, data in (("GitHub", gh_bytes), ("Hub", hub_bytes)):
            if raw in data or escaped in data:
                hits.append(f"{secret[:8]}… sent to the {name} server")
    assert hits == []
    scanned = sum(p.stat().st_size for p in written)
    print(
        f"\nsecrets planted: {len(scanner_secrets)} scanner-reported + 2 environment tokens; "
        f"scanned {len(written)} files ({scanned:,} bytes), {len(caplog.records)} log records + "
        f"{len(out) + len(err):,} chars of output, {len(gh.requests)} GitHub requests ({len(gh_bytes):,} bytes), "
        f"{len(hub.received)} Hub requests ({len(hub_bytes):,} bytes): 0 hits"
    )
