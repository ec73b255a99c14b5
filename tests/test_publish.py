"""Publishing with the real huggingface_hub client against a loopback Hub."""

from __future__ import annotations

import json

import pytest
from conftest import DOJO, requires_corpus
from hubserver import HubServer
from run_fixture import make_run, shared_adapter

import secai.release.publish as publish_mod
from secai.config import load_settings
from secai.errors import PublishError
from secai.release.publish import publish_run
from secai.release.validate import validate_run

DS, MODEL = "me/secai-dataset", "me/secai-adapter"
MODEL_FILES = {
    ".gitattributes",
    "README.md",
    "adapter_config.json",
    "adapters.safetensors",
    "eval.json",
    "loss.png",
    "training.json",
}
DATASET_FILES = {".gitattributes", "README.md", "train.jsonl", "valid.jsonl", "test.jsonl"}


@pytest.fixture
def hub(monkeypatch):
    import huggingface_hub.constants as constants

    with HubServer() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_TOKEN", server.token)
        monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        monkeypatch.setattr(publish_mod, "BACKOFF_SECONDS", 0.0)
        yield server


@pytest.fixture
def adapter(tiny_model, tmp_path_factory):
    return shared_adapter(tiny_model, tmp_path_factory.mktemp("adapter"))


def validated_run(path, tiny_model, adapter, **kw):
    run = make_run(path, tiny_model, adapter, **kw)
    validate_run(run, load_settings(), base=tiny_model, generate=False)
    return run


def new_commits(repo):
    return [c for c in repo.commits if c.title != "initial commit"]


def test_publish_creates_private_repos_with_one_commit_and_a_tag(hub, tiny_model, adapter, tmp_path):
    run = validated_run(tmp_path / "run", tiny_model, adapter)
    res = publish_run(run, load_settings(), dataset_repo=DS, model_repo=MODEL, base=tiny_model)
    assert res.published and not res.dry_run
    ds, model = hub.repo(DS, "dataset"), hub.repo(MODEL)
    assert ds.private and model.private
    assert set(ds.files) == DATASET_FILES and set(model.files) == MODEL_FILES
    assert len(new_commits(ds)) == 1 and len(new_commits(model)) == 1
    commit = new_commits(model)[0]
    assert "example/app@0123456789ab" in commit.title and "run 101" in commit.title
    assert ds.tags == {"run-101": ds.head} and model.tags == {"run-101": model.head}
    assert model.files["adapters.safetensors"].lfs and model.files["loss.png"].lfs
    assert model.files["adapters.safetensors"].data == (run / "adapter" / "adapters.safetensors").read_bytes()
    card = model.files["README.md"].data.decode()
    assert "library_name: mlx" in card and "base_model_relation: adapter" in card and f"- {DS}" in card
    config = json.loads(model.files["adapter_config.json"].data)
    assert str(tmp_path) not in json.dumps(config) and config["lora_parameters"]["rank"] == 16
    saved = json.loads((run / "publish.json").read_text())
    assert saved["published"] and {r["repo_id"]: r["tag"] for r in saved["repos"]} == {DS: "run-101", MODEL: "run-101"}
    assert all(r["commit"] for r in saved["repos"])


def test_unchanged_republish_adds_no_commit_and_a_new_run_adds_one(hub, tiny_model, adapter, tmp_path):
    settings = load_settings(overrides={"publish": {"dataset_repo": DS, "model_repo": MODEL}})
    run1 = validated_run(tmp_path / "run1", tiny_model, adapter)
    publish_run(run1, settings, base=tiny_model)
    again = publish_run(run1, settings, base=tiny_model)
    assert not any(r.committed for r in again.repos)
    assert len(new_commits(hub.repo(DS, "dataset"))) == 1 and len(new_commits(hub.repo(MODEL))) == 1

    run2 = validated_run(tmp_path / "run2", tiny_model, adapter, run_id="102", head_sha="f" * 40)
    with open(run2 / "dataset" / "train.jsonl", "a") as fh:
        fh.write(
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": "new finding"},
                        {"role": "assistant", "content": "new answer"},
                    ]
                }
            )
            + "\n"
        )
    validate_run(run2, settings, base=tiny_model, generate=False)
    res = publish_run(run2, settings, base=tiny_model)
    assert all(r.committed for r in res.repos)
    assert len(hub.repos) == 2  # the same repos, not new ones
    ds, model = hub.repo(DS, "dataset"), hub.repo(MODEL)
    assert len(new_commits(ds)) == 2 and len(new_commits(model)) == 2
    assert set(ds.tags) == {"run-101", "run-102"} and ds.tags["run-102"] == ds.head
    assert b"new answer" in ds.files["train.jsonl"].data


def test_transient_errors_are_retried_without_duplicate_commits(hub, tiny_model, adapter, tmp_path):
    run = validated_run(tmp_path / "run", tiny_model, adapter)
    hub.inject("POST", r"^/api/datasets/.*/commit/", 500, after=True)  # commit lands, response lost
    hub.inject("POST", r"^/api/models/.*/commit/", 429)  # rate limited before landing
    hub.inject("POST", r"^/api/models/.*/commit/", 503, after=True)  # then lands with a lost response
    hub.inject("POST", r"^/api/repos/create", 502)
    hub.inject("GET", r"/tree/", 500)
    hub.inject("POST", r"/tag/", 500, after=True)
    res = publish_run(run, load_settings(), dataset_repo=DS, model_repo=MODEL, base=tiny_model)
    assert all(f.times == 0 for f in hub.faults)
    ds, model = hub.repo(DS, "dataset"), hub.repo(MODEL)
    assert len(new_commits(ds)) == 1 and len(new_commits(model)) == 1
    assert set(ds.files) == DATASET_FILES and set(model.files) == MODEL_FILES
    assert ds.tags == {"run-101": ds.head} and model.tags == {"run-101": model.head}
    assert {r.repo_id: r.commit for r in res.repos} == {DS: ds.head, MODEL: model.head}


def test_persistent_errors_fail_clearly(hub, tiny_model, adapter, tmp_path):
    run = validated_run(tmp_path / "run", tiny_model, adapter)
    hub.inject("POST", r"/commit/", 500, times=100)
    settings = load_settings(overrides={"publish": {"retries": 2}})
    with pytest.raises(PublishError, match="commit failed"):
        publish_run(run, settings, dataset_repo=DS, model_repo=MODEL, base=tiny_model)
    assert new_commits(hub.repo(DS, "dataset")) == []
    assert hub.token not in str(hub.repos)


@pytest.mark.parametrize("why", ["eval", "validation", "unvalidated"])
def test_gate_refuses_and_uploads_nothing(hub, tiny_model, adapter, tmp_path, why):
    run = make_run(tmp_path / "run", tiny_model, adapter, eval_passed=why != "eval")
    if why != "unvalidated":
        validate_run(run, load_settings(), base=tiny_model, generate=False)
    if why == "validation":
        (run / "adapter" / "adapters.safetensors").write_bytes(b"\0" * 4)
        validate_run(run, load_settings(), base=tiny_model, generate=False)
    expected = {
        "eval": "evaluation gate did not pass",
        "validation": "validation did not pass",
        "unvalidated": "validation.json is missing",
    }[why]
    with pytest.raises(PublishError, match=expected):
        publish_run(run, load_settings(), dataset_repo=DS, model_repo=MODEL, base=tiny_model)
    assert hub.received == [] and hub.repos == {}
    assert expected in json.loads((run / "publish.json").read_text())["reason"]


def test_dry_run_writes_exactly_the_files_that_would_be_committed(hub, tiny_model, adapter, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")
    run = validated_run(tmp_path / "run", tiny_model, adapter)
    res = publish_run(run, load_settings(), dataset_repo=DS, model_repo=MODEL, base=tiny_model)
    assert res.dry_run and not res.published and hub.received == []
    ds_dir, model_dir = run / "publish" / "datasets--me--secai-dataset", run / "publish" / "models--me--secai-adapter"
    assert {p.name for p in ds_dir.iterdir()} == DATASET_FILES - {".gitattributes"}
    assert {p.name for p in model_dir.iterdir()} == MODEL_FILES - {".gitattributes"}
    for up in res.repos:
        folder = ds_dir if up.repo_type == "dataset" else model_dir
        import hashlib

        assert up.files == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_a_secret_in_any_file_blocks_the_upload(hub, tiny_model, adapter, tmp_path):
    run = validated_run(tmp_path / "run", tiny_model, adapter)
    leaked = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    with open(run / "dataset" / "valid.jsonl", "a") as fh:
        fh.write(json.dumps({"messages": [{"role": "user", "content": f"token {leaked}"}]}) + "\n")
    with pytest.raises(PublishError, match="valid.jsonl: holds a secret-looking value"):
        publish_run(run, load_settings(), dataset_repo=DS, model_repo=MODEL, base=tiny_model)
    assert hub.repos == {} and leaked.encode() not in hub.all_bytes()


def corpus_secrets() -> list[str]:
    values = [f["Secret"] for f in json.loads((DOJO / "gitleaks" / "gitleaks8_many.json").read_text())]
    trivy = json.loads((DOJO / "trivy" / "misconfigurations_and_secrets.json").read_text())
    for r in trivy.get("Results", []):
        for s in r.get("Secrets") or []:
            for line in (s.get("Code") or {}).get("Lines") or []:
                content = line.get("Content", "")
                if "=" in content and "*" not in content:
                    values.append(content.split("=", 1)[1].strip())
    lines = [ln.strip() for v in values for ln in v.splitlines() if len(ln.strip()) >= 8 and "PRIVATE KEY" not in ln]
    return sorted(set(lines))


@requires_corpus
def test_no_corpus_secret_reaches_the_hub(hub, tiny_model, adapter, tmp_path):
    from secai.findings import finding_json
    from secai.ingest.collect import collect

    secrets = corpus_secrets()
    assert len(secrets) >= 2
    found = collect(
        [DOJO / "gitleaks" / "gitleaks8_many.json", DOJO / "trivy" / "misconfigurations_and_secrets.json"],
        load_settings().limits,
    ).findings
    assert found
    run = make_run(tmp_path / "run", tiny_model, adapter)
    rows = [
        {
            "messages": [
                {"role": "user", "content": json.dumps(finding_json(f))},
                {"role": "assistant", "content": f.message or f.title or ""},
            ]
        }
        for f in found
    ]
    (run / "dataset" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run / "findings.json").write_text(json.dumps([finding_json(f) for f in found]))
    validate_run(run, load_settings(), base=tiny_model, generate=False)
    publish_run(run, load_settings(), dataset_repo=DS, model_repo=MODEL, base=tiny_model)
    assert len(hub.repo(DS, "dataset").files["train.jsonl"].data) > 1000
    sent = hub.all_bytes()
    assert [s for s in secrets if s.encode() in sent] == []


def test_fused_model_is_dequantized_and_loads(hub, tiny_model, adapter, tmp_path):
    run = validated_run(tmp_path / "run", tiny_model, adapter)
    res = publish_run(run, load_settings(), dataset_repo=DS, model_repo=MODEL, base=tiny_model, fuse=True)
    fused = hub.repo(MODEL + "-fused")
    assert {"config.json", "model.safetensors", "README.md", "tokenizer.json"} <= set(fused.files)
    assert "base_model_relation: finetune" in fused.files["README.md"].data.decode()
    assert [r.kind for r in res.repos] == ["dataset", "model", "fused"]
    out = tmp_path / "fused"
    out.mkdir()
    for p, f in fused.files.items():
        (out / p).write_bytes(f.data)
    from mlx_lm import generate, load

    model, tok = load(str(out))
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "<finding>\nSQL built from input in app/db.py\n</finding>"}],
        add_generation_prompt=True,
    )
    assert generate(model, tok, prompt=prompt, max_tokens=8).strip()


def test_cli_publish_dry_run(tiny_model, adapter, tmp_path, capsys):
    from secai.cli import main

    run = validated_run(tmp_path / "run", tiny_model, adapter)
    assert main(["publish", str(run), "--model", str(tiny_model), "--dataset-repo", DS, "--model-repo", MODEL]) == 0
    assert "models--me--secai-adapter" in capsys.readouterr().out
    assert json.loads((run / "publish.json").read_text())["dry_run"] is True
