"""Shared test fixtures. Real scanner outputs are read in place from ../shared/corpus."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
MPO = CORPUS / "mpo-api-authn-server"
DOJO = CORPUS / "defectdojo"
EXAMPLES = ROOT / "examples"

sys.path.insert(0, str(Path(__file__).resolve().parent))

CORPUS_MISSING = (
    f"{CORPUS}: the shared corpus of real scanner outputs is not here (a clone of the repository alone); "
    "tests that read it are skipped"
)


def corpus_present() -> bool:
    return CORPUS.is_dir()


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The shared corpus of real scanner outputs (../shared/corpus), read in place.

    Tests that read it depend on this fixture (mark them `@requires_corpus`); without the corpus
    they are skipped with the reason, except in CI (`CI=true`), where a missing corpus is a failure.
    """
    if not corpus_present():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(CORPUS_MISSING.replace("are skipped", "cannot run, and CI needs every test"))
        pytest.skip(CORPUS_MISSING)
    return CORPUS


requires_corpus = pytest.mark.usefixtures("corpus")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets its own SECAI_HOME; no test touches a real data home or a public host.

    The converted embedded model is shared (read-only) through SECAI_MODEL__CACHE_DIR when the
    suite was started with one; see `embedded_model_dir`.
    """
    home = tmp_path_factory.mktemp("secai-home")
    monkeypatch.setenv("SECAI_HOME", str(home))
    for var in ("GITHUB_TOKEN", "GH_TOKEN", "HF_TOKEN", "GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT", "SECAI_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    yield home


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from tiny_model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def shared_models_dir() -> Path:
    """Where `make model` converted the embedded model (the project's .secai-home by default)."""
    return Path(os.environ.get("SECAI_TEST_MODELS", ROOT / ".secai-home" / "models"))
