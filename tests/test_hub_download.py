"""Pinned, verified Hub downloads against the loopback Hub (tests/hubserver.py), through the real
huggingface_hub client: exactly the allowed files once, nothing on a repeated run, a file whose
hash differs from what the Hub reports refused and dropped, offline use from the cache afterwards,
and `model.name: auto` choosing by platform and reachability."""

from __future__ import annotations

import hashlib
import json

import pytest
from hubserver import HubServer
from tiny_model import make_tiny_model

from secai.config import load_settings
from secai.errors import ModelError

REPO = "mlx-community/tiny-qwen2-coder"
COMMIT = "c0ffee" + "0" * 34
NEEDED = [
    "README.md",
    "config.json",
    "model.safetensors",
    "model.safetensors.index.json",
    "tokenizer.json",
    "tokenizer_config.json",
]


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    folder = make_tiny_model(tmp_path_factory.mktemp("hub-model") / "tiny", arch="qwen2")
    (folder / "README.md").write_text("---\nlicense: apache-2.0\nlibrary_name: mlx\n---\n# tiny\n")
    (folder / "modeling_evil.py").write_text("import os\nos.system('echo pwned')\n")  # never downloaded
    (folder / "pytorch_model.bin").write_bytes(b"\0" * 64)  # not what mlx-lm loads
    return folder


@pytest.fixture
def hub(monkeypatch, model_folder):
    import huggingface_hub.constants as constants

    with HubServer() as server:
        server.add_model(REPO, model_folder, commit=COMMIT)
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        yield server


def go_offline(monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def downloaded_names(hub, since: int = 0) -> list[str]:
    """The repository files whose bodies were served (regular files by path, LFS by content)."""
    lfs = {f.sha256: p for p, f in hub.repo(REPO).files.items() if f.lfs}
    names = []
    for path in hub.downloads()[since:]:
        if path.startswith("/lfs-files/"):
            names.append(lfs[path.split("/")[2].split("?")[0]])
        else:
            names.append(path.split("/resolve/", 1)[1].split("/", 1)[1])
    return sorted(names)


def test_pull_downloads_the_allowed_files_once_then_nothing(hub, capsys):
    from secai.cli import main

    assert main(["model", "pull", REPO, "--base-only"]) == 0
    assert f"{REPO} ({COMMIT})" in capsys.readouterr().out
    assert downloaded_names(hub) == NEEDED
    settings = load_settings()
    pin = json.loads((settings.models_dir / "hub-pins" / "mlx-community--tiny-qwen2-coder.json").read_text())
    assert pin["revision"] == COMMIT and sorted(pin["files"]) == NEEDED and pin["license"] == "apache-2.0"
    weights = hub.repo(REPO).files["model.safetensors"]
    assert pin["files"]["model.safetensors"]["sha256"] == hashlib.sha256(weights.data).hexdigest()
    assert pin["files"]["config.json"]["git_sha1"] == hub.repo(REPO).files["config.json"].oid

    requests = len(hub.received)
    assert main(["model", "pull", REPO, "--base-only"]) == 0  # a repeated run asks the Hub nothing
    assert len(hub.received) == requests


def test_the_cached_model_works_offline_and_loads(hub, monkeypatch, capsys):
    from secai.cli import main
    from secai.model.base import load, resolve_model

    assert main(["model", "pull", REPO, "--base-only"]) == 0
    go_offline(monkeypatch)
    requests = len(hub.received)
    assert main(["model", "info", REPO]) == 0
    out = capsys.readouterr().out
    assert "architecture     qwen2" in out and COMMIT in out
    r = resolve_model(REPO, load_settings())
    assert r.source == "hub" and r.revision == COMMIT and r.path.name == COMMIT
    assert sorted(p.name for p in r.path.iterdir()) == NEEDED
    model, tok = load(r)
    assert type(model).__module__ == "mlx_lm.models.qwen2"
    assert len(hub.received) == requests


@pytest.mark.parametrize("name, why", [("model.safetensors", "sha256"), ("tokenizer_config.json", "git blob sha")])
def test_a_file_whose_hash_differs_is_refused_and_dropped(hub, name, why):
    from secai.model.base import resolve_model
    from secai.model.hub import hub_cache, read_pin

    settings = load_settings()
    hub.corrupt(REPO, name)
    with pytest.raises(ModelError) as e:
        resolve_model(REPO, settings)
    msg = str(e.value)
    assert "\n" not in msg and name in msg and why in msg and "refusing" in msg
    assert read_pin(settings, REPO) is None
    snapshot = hub_cache(settings) / "models--mlx-community--tiny-qwen2-coder" / "snapshots" / COMMIT
    assert not (snapshot / name).exists()

    hub.corrupted.clear()  # the Hub serves the right bytes again: the next pull fetches just that file
    before = len(hub.downloads())
    assert resolve_model(REPO, settings).revision == COMMIT
    assert downloaded_names(hub, since=before) == [name]


def test_the_pin_holds_until_a_revision_is_asked_for(hub, capsys):
    from secai.cli import main
    from secai.model.base import resolve_model
    from secai.model.hub import read_pin

    settings = load_settings()
    assert resolve_model(REPO, settings).revision == COMMIT
    repo = hub.repo(REPO)
    newer = dict(repo.files)
    newer["config.json"] = type(newer["config.json"])(newer["config.json"].data.replace(b"{", b"{ ", 1), False)
    repo.commits.append(type(repo.commits[0])("d" * 40, "update", "", 0.0, newer))
    requests = len(hub.received)
    assert resolve_model(REPO, settings).revision == COMMIT  # pinned: main moving changes nothing
    assert len(hub.received) == requests
    assert main(["model", "pull", REPO, "--revision", "main", "--base-only"]) == 0
    assert read_pin(settings, REPO).revision == "d" * 40
    assert resolve_model(REPO, settings).revision == "d" * 40


def test_secai_s_own_pinned_hash_must_agree(hub):
    from secai.model.hub import pull

    with pytest.raises(ModelError, match="secai pins"):
        pull(REPO, load_settings(), COMMIT, pinned_sha256={"model.safetensors": "0" * 64})


def test_offline_and_not_cached_is_a_one_line_error(monkeypatch):
    from secai.model.base import resolve_model

    go_offline(monkeypatch)
    with pytest.raises(ModelError, match="offline") as e:
        resolve_model(REPO, load_settings())
    assert "\n" not in str(e.value) and "--model embedded" in str(e.value)


# -- model.name: auto --------------------------------------------------------------------------------


def test_auto_is_the_embedded_model_on_this_linux_machine():
    from secai.model.base import EMBEDDED, choose_auto

    settings = load_settings()
    assert settings.model.name == "auto"
    choice = choose_auto(settings)
    assert choice.name == EMBEDDED and choice.reason.startswith("not Apple Silicon (linux")


def test_model_info_shows_the_auto_choice(shared_models_dir, monkeypatch, capsys):
    from secai.cli import main

    monkeypatch.setenv("SECAI_MODEL__CACHE_DIR", str(shared_models_dir))
    assert main(["model", "info"]) == 0
    out = capsys.readouterr().out
    assert "choice           auto: not Apple Silicon" in out and "HuggingFaceTB/SmolLM2-135M-Instruct" in out


@pytest.fixture
def mac_default(hub, model_folder, monkeypatch):
    """Apple Silicon, with the Mac default pointed at the loopback Hub's tiny model."""
    from secai.model import base

    monkeypatch.setattr(base, "apple_silicon", lambda: True)
    monkeypatch.setattr(base, "MAC_DEFAULT_MODEL", REPO)
    monkeypatch.setattr(base, "MAC_DEFAULT_REVISION", COMMIT)
    digest = hashlib.sha256((model_folder / "model.safetensors").read_bytes()).hexdigest()
    monkeypatch.setattr(base, "MAC_DEFAULT_SHA256", {"model.safetensors": digest})
    return hub


def test_auto_on_apple_silicon_pulls_the_pinned_hub_model_once(mac_default, caplog):
    from secai.model.base import resolve_model

    settings = load_settings()
    with caplog.at_level("INFO", logger="secai"):
        r = resolve_model("auto", settings)
    assert r.name == "auto" and r.source == "hub" and r.model_id == REPO and r.revision == COMMIT
    assert r.note == f"Apple Silicon: {REPO}@{COMMIT[:12]} from the Hub"
    assert [m for m in caplog.messages if m.startswith("model auto:")] == [f"model auto: {r.note}"]
    requests = len(mac_default.received)
    again = resolve_model("auto", settings)
    assert again.note.endswith("(cached)") and again.path == r.path and len(mac_default.received) == requests


def test_auto_on_apple_silicon_falls_back_when_the_hub_cannot_be_reached(mac_default, monkeypatch):
    from secai.model.base import EMBEDDED, choose_auto

    settings = load_settings()
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    choice = choose_auto(settings)
    assert choice.name == EMBEDDED and "Hub cannot be reached" in choice.reason
    go_offline(monkeypatch)
    choice = choose_auto(settings)
    assert choice.name == EMBEDDED and "HF_HUB_OFFLINE" in choice.reason


@pytest.mark.parametrize(
    "repo, revision, expected",
    [
        ("mlx-community/no-such-model", None, "not found on the Hugging Face Hub"),
        (REPO, "f" * 40, "the Hub has no revision"),
    ],
)
def test_a_missing_repository_or_revision_is_named(hub, repo, revision, expected):
    from secai.model.hub import pull

    with pytest.raises(ModelError, match=expected) as e:
        pull(repo, load_settings(), revision)
    assert "\n" not in str(e.value)
