"""Settings: built-in defaults < config file < `SECAI_*` environment < CLI flags.

The documented defaults live in `config/secai.yaml`; the pydantic models below are the schema
(a test keeps the two equal). Environment variables name a key as `SECAI_<SECTION>__<KEY>`, e.g.
`SECAI_FIX__BATCH_SIZE=8` (nested sections likewise: `SECAI_SCANNERS__SEMGREP__CONFIG`);
`SECAI_HOME` sets the data home.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from secai.errors import ConfigError

ENV_PREFIX = "SECAI_"
CONFIG_ENV = "SECAI_CONFIG"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Limits(_Section):
    """Caps on untrusted input."""

    max_file_mb: float = 100.0
    max_run_mb: float = 1024.0
    max_zip_entries: int = 5000
    max_zip_ratio: float = 200.0
    max_json_depth: int = 256
    #: Source files a bundle carries for the fix stage: per file, and all together.
    max_source_kb: float = 512.0
    max_sources_mb: float = 20.0


class ModelSettings(_Section):
    #: `auto` (Apple Silicon: a pinned coder model from the Hub; elsewhere or offline: embedded),
    #: `embedded`, a local MLX model folder, or a Hugging Face Hub id.
    name: str = "auto"
    #: A Hub model's commit, tag or branch; null: the commit pinned at its first pull.
    revision: str | None = None
    #: Where converted models are cached; default `<home>/models`.
    cache_dir: str | None = None
    #: Where Hub downloads are cached; default `<models>/hub` (a path such as ~/.cache/huggingface/hub shares yours).
    hub_cache: str | None = None
    #: Linux CPU only: re-run the CLI with Debian's OpenBLAS preloaded when it is installed.
    openblas_preload: bool = True
    #: `auto` keeps 4-bit weights on Apple Silicon and uses float32 on a CPU.
    dtype: Literal["auto", "float32", "bfloat16", "float16", "quantized"] = "auto"


class DatasetSettings(_Section):
    seed: int = 42
    valid_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    test_fraction: float = Field(0.15, ge=0.0, lt=1.0)
    #: Findings whose text looks like instructions to a model stay out of train/valid.
    exclude_flagged: bool = True
    #: Branches whose runs may feed training data (PR runs never do unless listed).
    trusted_branches: list[str] = Field(default_factory=lambda: ["main", "master"])
    license: str = "other"
    #: Triage examples in train/valid: at most this share of the split's fix examples (at least
    #: `triage_min`), every verdict and rule represented before the common ones fill the rest.
    triage_share: float = Field(0.25, ge=0.0)
    triage_min: int = Field(16, ge=0)


class TrainSettings(_Section):
    seed: int = 0
    rank: int = Field(8, ge=1)
    scale: float = 20.0
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    #: Transformer blocks (from the top) that get adapters; -1 for all.
    num_layers: int = 8
    keys: list[str] = Field(
        default_factory=lambda: [
            "self_attn.q_proj",
            "self_attn.k_proj",
            "self_attn.v_proj",
            "self_attn.o_proj",
            "mlp.gate_proj",
            "mlp.up_proj",
            "mlp.down_proj",
        ]
    )
    learning_rate: float = Field(5e-4, gt=0)
    batch_size: int = Field(4, ge=1)
    epochs: float = Field(1.0, gt=0)
    #: Upper bound on iterations whatever the dataset size.
    max_iters: int = Field(300, ge=1)
    min_iters: int = Field(30, ge=1)
    steps_per_eval: int = Field(10, ge=1)
    patience: int = Field(4, ge=1)
    max_seq_length: int = Field(1024, ge=64)
    grad_checkpoint: bool = False
    #: Run the frozen blocks below the adapted ones once per example and train from their output.
    cache_trunk: bool = True


class EvaluateSettings(_Section):
    gate: bool = True
    #: The tuned model's verified-fix rate must reach the base model's plus this much.
    margin: float = 0.1
    #: Held-out fixes scored (the latest ones); 0 for all.
    max_examples: int = Field(0, ge=0)


class VerdictSettings(_Section):
    """Triage verdicts learned from the team's labels (docs/triage.md)."""

    #: Held-out labels the tuned model must be scored on before its verdicts can be shown.
    min_cases: int = Field(10, ge=1)
    #: Accuracy the tuned model must add to the per-rule baseline's (one case of 48 is noise).
    margin: float = Field(0.05, ge=0.0)
    #: Held-out labels scored per system (the latest ones); 0 for all.
    max_cases: int = Field(64, ge=0)
    #: Findings of the comment that get the tuned model's verdict when it earned them (0: none).
    max_comment: int = Field(20, ge=0)
    #: Lines of code shown above and below the finding.
    context_lines: int = Field(4, ge=0)
    #: Tokens an answer may take (the two lines).
    max_tokens: int = Field(48, ge=8)


class MineSettings(_Section):
    """History mining (`secai-runner mine`, the `mine` stage)."""

    #: Scanners to run over the history; empty means every installed one of bandit, semgrep, checkov, trivy.
    scanners: list[str] = Field(default_factory=list)
    #: A disappeared finding is a fix only when the commit changed a line within this many lines of it.
    near_lines: int = Field(3, ge=0)
    #: Lines of context around the finding in the before/after windows.
    context_lines: int = Field(6, ge=0)
    #: Files larger than this are not scanned (skipped with a reason).
    max_blob_kb: int = Field(512, ge=1)
    #: Newest commits to mine; 0 for all.
    max_commits: int = Field(0, ge=0)
    #: Files per scanner process (one process scans many files, from many commits).
    batch_files: int = Field(500, ge=1)
    #: Scanner processes run at once.
    jobs: int = Field(2, ge=1)
    #: Seconds one scanner process may take.
    timeout: float = Field(900.0, gt=0)


class GitHubSettings(_Section):
    api_url: str = "https://api.github.com"
    artifact_patterns: list[str] = Field(default_factory=lambda: ["*"])
    comment_marker: str = "secai-report"
    retries: int = Field(5, ge=0)
    #: `fetch` also reads the repository's code scanning alerts (triage labels, docs/triage.md).
    code_scanning_alerts: bool = True


class PublishSettings(_Section):
    enabled: bool = True
    dataset_repo: str | None = None
    model_repo: str | None = None
    private: bool = True
    retries: int = Field(5, ge=0)


class ScannerSettings(_Section):
    #: The scanner's executable; null looks on PATH, then in `.venv-scanners/bin` next to the repo.
    path: str | None = None


class SemgrepSettings(ScannerSettings):
    #: A local rules file or folder (no registry). Without one semgrep verifies nothing.
    config: str | None = None


class ScannersSettings(_Section):
    """The scanners secai runs itself, offline, to verify fixes and to mine history."""

    #: Seconds one scanner process may take before it is killed and reported.
    timeout: float = Field(600.0, gt=0)
    #: Address space one scanner process may use, in MB (Linux; 0: no cap). A scanner that runs
    #: away on a patched file (trivy on a self-referencing Terraform block) then fails at once
    #: instead of swapping the machine until its timeout.
    max_memory_mb: int = Field(8192, ge=0)
    bandit: ScannerSettings = Field(default_factory=ScannerSettings)
    semgrep: SemgrepSettings = Field(default_factory=SemgrepSettings)
    checkov: ScannerSettings = Field(default_factory=ScannerSettings)
    trivy: ScannerSettings = Field(default_factory=ScannerSettings)


class FixSettings(_Section):
    """Proposing fixes and verifying them with the scanner that reported the finding."""

    #: Providers tried in this order for each finding; the first verified fix wins.
    providers: list[Literal["dependency", "codemod", "model"]] = Field(
        default_factory=lambda: ["dependency", "codemod", "model"]
    )
    #: Model samples per finding (best of k; every one is verified, the first verified is kept).
    candidates: int = Field(4, ge=1, le=64)
    #: Findings the model is asked about in one run, most severe first (0: every one); the rest
    #: get "not tried" (a backlog is worked through over several runs; a PR has few new findings).
    max_model_findings: int = Field(50, ge=0)
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    seed: int = 0
    #: Decode the answer's ```before block from the named lines only (whole lines, as they are); false
    #: lets the model write it freely (and copy lines from elsewhere, which no edit can use).
    constrain_before: bool = True
    #: Tokens a model answer may take (the rewritten lines and a one-line rationale).
    max_tokens: int = Field(160, ge=16)
    #: Prompt tokens at most; the file window shrinks to fit.
    max_prompt_tokens: int = Field(1024, ge=128)
    #: Sequences decoded together.
    batch_size: int = Field(32, ge=1)
    #: Lines of the file shown above and below the lines to rewrite.
    context_lines: int = Field(6, ge=0)
    #: Lines a model may be asked to rewrite at once (a finding spanning more gets no model proposal).
    max_target_lines: int = Field(24, ge=1)
    #: A fix changing more lines than this is rejected.
    max_changed_lines: int = Field(12, ge=1)
    #: Source files larger than this are skipped.
    max_file_kb: int = Field(512, ge=1)
    #: The `codemodder` executable; null looks on PATH, then in `.venv-codemodder/bin` (`make scanners`).
    codemodder: str | None = None


class Settings(_Section):
    #: Data home for the model cache, the SQLite store and run folders (default `~/.cache/secai`).
    home: str | None = None
    #: Run folders not touched for this many days are deleted (0 keeps them forever).
    retention_days: int = Field(30, ge=0)
    limits: Limits = Field(default_factory=Limits)
    model: ModelSettings = Field(default_factory=ModelSettings)
    dataset: DatasetSettings = Field(default_factory=DatasetSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    evaluate: EvaluateSettings = Field(default_factory=EvaluateSettings)
    verdict: VerdictSettings = Field(default_factory=VerdictSettings)
    mine: MineSettings = Field(default_factory=MineSettings)
    github: GitHubSettings = Field(default_factory=GitHubSettings)
    publish: PublishSettings = Field(default_factory=PublishSettings)
    scanners: ScannersSettings = Field(default_factory=ScannersSettings)
    fix: FixSettings = Field(default_factory=FixSettings)

    # -- derived paths ---------------------------------------------------------------------------
    @property
    def home_dir(self) -> Path:
        return Path(self.home).expanduser() if self.home else default_home()

    @property
    def models_dir(self) -> Path:
        return Path(self.model.cache_dir).expanduser() if self.model.cache_dir else self.home_dir / "models"

    @property
    def runs_dir(self) -> Path:
        return self.home_dir / "runs"

    @property
    def store_path(self) -> Path:
        return self.home_dir / "secai.sqlite3"


def default_home() -> Path:
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "secai"
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "secai"


def _problems(err: ValidationError, where: Callable[[tuple], str]) -> list[str]:
    """Every problem pydantic found, one line each; `where(loc)` names the file line or variable."""
    out = []
    for e in err.errors():
        loc = tuple(str(p) for p in e["loc"])
        key = ".".join(loc)
        if e["type"] == "extra_forbidden":
            out.append(f"{where(loc)}: unknown key '{key}'")
        else:
            out.append(f"{where(loc)}: invalid value for '{key}': {e['msg']}")
    return out


def _key_lines(text: str) -> dict[tuple, int]:
    """Line numbers (1-based) of every mapping key in a YAML text, by its key path."""
    lines: dict[tuple, int] = {}

    def walk(node, path: tuple) -> None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = path + (str(k.value),)
                lines[key] = k.start_mark.line + 1
                walk(v, key)

    try:
        walk(yaml.compose(text, Loader=yaml.SafeLoader), ())
    except yaml.YAMLError:
        pass
    return lines


def _line_of(lines: dict[tuple, int], loc: tuple) -> int | None:
    for n in range(len(loc), 0, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _env_name(loc: tuple) -> str:
    return ENV_PREFIX + "__".join(p.upper() for p in loc)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _env_overrides(environ: dict[str, str], problems: list[str] | None = None) -> dict[str, Any]:
    """`SECAI_*` variables as nested settings; a variable naming no section is added to
    `problems` (or raised at once when no list is given)."""
    data: dict[str, Any] = {}
    sections = set(Settings.model_fields)

    def bad(message: str) -> None:
        if problems is None:
            raise ConfigError(message)
        problems.append(message)

    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        if "__" in rest:
            section, *keys = rest.split("__")
            if section not in sections:
                bad(f"environment variable {name}: unknown section '{section}'")
                continue
            node = data.setdefault(section, {})
            for key in keys[:-1]:  # SECAI_SCANNERS__SEMGREP__CONFIG: a key of a nested section
                node = node.setdefault(key, {})
                if not isinstance(node, dict):
                    bad(f"environment variable {name}: '{key}' is set as a whole elsewhere")
                    break
            else:
                node[keys[-1]] = _env_value(value)
        elif rest == "home":
            data["home"] = value
        # Other SECAI_* names (e.g. SECAI_NO_OPENBLAS) are switches read where they apply.
    return data


def _env_value(value: str) -> Any:
    """Environment strings are YAML scalars or flow lists: `8`, `true`, `[a, b]`."""
    try:
        return yaml.safe_load(value) if value.strip() else value
    except yaml.YAMLError:
        return value


def _read_file(p: Path) -> tuple[dict[str, Any], dict[tuple, int]]:
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{p}: cannot read config: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: cannot read config: not UTF-8 text") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{p}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(p)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{where}: not valid YAML: {problem}") from None
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{p}: config must be a mapping of sections")
    return loaded, _key_lines(text)


def _load(
    path: str | Path | None, overrides: dict[str, Any] | None, environ: dict[str, str] | None
) -> tuple[Settings, dict[str, Any], dict[tuple, int], Path | None, dict[str, Any]]:
    environ = dict(os.environ) if environ is None else environ
    path = path or environ.get(CONFIG_ENV)
    data: dict[str, Any] = {}
    lines: dict[tuple, int] = {}
    p = Path(path) if path else None
    problems: list[str] = []
    if p is not None:
        data, lines = _read_file(p)
        try:
            Settings.model_validate(data)
        except ValidationError as e:
            problems += _problems(e, lambda loc: f"{p}:{n}" if (n := _line_of(lines, loc)) else str(p))
    env = _env_overrides(environ, problems)
    if env:
        try:
            Settings.model_validate(_merge(Settings().model_dump(), env))
        except ValidationError as e:
            problems += _problems(e, lambda loc: f"environment variable {_env_name(loc)}")
    if problems:
        raise ConfigError("\n".join(problems))
    data = _merge(data, env)
    if overrides:
        data = _merge(data, {k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings.model_validate(data), data, lines, p, env
    except ValidationError as e:
        raise ConfigError("\n".join(_problems(e, lambda loc: "command line"))) from None


def load_settings(
    path: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Build the settings. `path` (or `$SECAI_CONFIG`) names a YAML file; without one, the
    defaults are the built-in ones, which `config/secai.yaml` documents. Every problem of the
    file and of the environment is reported at once, each with its line or variable."""
    return _load(path, overrides, environ)[0]


def settings_with_sources(
    path: str | Path | None = None, environ: dict[str, str] | None = None
) -> tuple[Settings, dict[str, str]]:
    """The effective settings and, per dotted key, where its value came from: `default`,
    `FILE:LINE`, or the `SECAI_*` variable."""
    settings, _data, lines, p, env = _load(path, None, environ)
    sources: dict[str, str] = {}
    file_data = _read_file(p)[0] if p is not None else {}

    def flat(d: dict, prefix: tuple = ()) -> list[tuple]:
        out = []
        for k, v in d.items():
            if isinstance(v, dict) and v:
                out += flat(v, prefix + (k,))
            else:
                out.append(prefix + (k,))
        return out

    for loc in flat(settings.model_dump()):
        key = ".".join(loc)
        if _has(env, loc):
            sources[key] = _env_name(loc)
        elif _has(file_data, loc):
            sources[key] = f"{p}:{_line_of(lines, loc)}"
        else:
            sources[key] = "default"
    return settings, sources


def _has(d: dict, loc: tuple) -> bool:
    for k in loc:
        if not isinstance(d, dict) or k not in d:
            return False
        d = d[k]
    return True
