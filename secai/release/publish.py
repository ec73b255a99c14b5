"""Publish a validated run to the Hugging Face Hub: the dataset repo (three splits + card) and the
model repo (adapter, config, training record, evaluation, loss curve, card), optionally a fused
model. Private by default, one commit per repo per upload, a `run-<id>` tag, retries that never
duplicate a commit, and nothing at all when a gate failed or a file would leak a secret.

`--dry-run` (and the default without `HF_TOKEN`) writes exactly the files that would be committed
into `<run>/publish/<type>s--<namespace>--<name>/`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from secai.config import Settings
from secai.errors import PublishError
from secai.ingest.redact import redact_text
from secai.log import known_tokens, mask_tokens
from secai.release.cards import check_model_card, model_card
from secai.release.validate import BaseInfo, resolve_base, run_facts
from secai.run import files as run_files
from secai.run.records import PublishResult, RepoUpload

log = logging.getLogger("secai")

T = TypeVar("T")
DRY_RUN_NAMESPACE = "your-namespace"
DATASET_FILES = ("train.jsonl", "valid.jsonl", "test.jsonl", "README.md")
MODEL_FILES = ("adapters.safetensors", "adapter_config.json", "training.json")
TEXT_SUFFIXES = (".json", ".jsonl", ".md", ".txt", ".yaml", ".yml", ".jinja")
#: Seconds before the first retry; doubles per attempt (tests lower it).
BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 60.0
TRANSIENT_STATUS = (429, 500, 502, 503, 504)
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


# -- gates ------------------------------------------------------------------------------------------
def gate_problems(run_dir: Path) -> list[str]:
    """Why this run may not be published (empty when validation and the evaluation gate passed)."""
    problems = []
    validation = run_files.read_validation(run_dir)
    if validation is None:
        problems.append(
            f"validation: {Path(run_dir) / run_files.VALIDATION} is missing or unreadable (run `secai-runner validate` first)"
        )
    elif not validation.passed:
        detail = "; ".join(validation.problems())
        problems.append("validation did not pass" + (f" ({detail})" if detail else ""))
    ev = run_files.read_eval(run_dir)
    if ev is None:
        problems.append(
            f"evaluation gate: {Path(run_dir) / run_files.EVAL} is missing or unreadable (run `secai-runner evaluate` first)"
        )
    elif not ev.gate.passed:
        problems.append(f"evaluation gate did not pass (margin {ev.gate.margin})")
    return problems


def secret_problems(files: dict[str, bytes]) -> list[str]:
    """Files that hold a secret: a known token's bytes anywhere, or text that the redaction layer
    would change."""
    problems = []
    tokens = [t.encode() for t in known_tokens()]
    for path, data in files.items():
        if any(t in data for t in tokens):
            problems.append(f"{path}: contains a token from the environment")
            continue
        if not path.endswith(TEXT_SUFFIXES):
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(f"{path}: not valid UTF-8 text")
            continue
        # JSON is checked string by string: in its escaped form `path:13\\nmessage` would look like
        # an assignment of a 6-character value, which the decoded text does not hold.
        lines = text.splitlines() if path.endswith(".jsonl") else [text]
        for i, ln in enumerate(lines):
            texts = _json_strings(ln) if path.endswith((".json", ".jsonl")) else [ln]
            if texts is None:
                texts = [ln]
            if any(redact_text(t) != t for t in texts):
                where = f" (line {i + 1})" if path.endswith(".jsonl") else ""
                problems.append(f"{path}: holds a secret-looking value{where}")
                break
    return problems


def _json_strings(text: str) -> list[str] | None:
    """Every string (keys too) of one JSON document; None when `text` is not JSON."""
    out: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for k, x in v.items():
                out.append(k)
                walk(x)

    try:
        walk(json.loads(text))
    except ValueError:
        return None
    return out


# -- what goes into each repo -----------------------------------------------------------------------
def _public_adapter_config(raw: bytes, base_model: str) -> bytes:
    """adapter_config.json without local filesystem paths (mlx-lm writes the machine's paths)."""
    config = json.loads(raw)
    for key in list(config):
        value = config[key]
        if isinstance(value, str) and (value.startswith(("/", "~")) or re.match(r"^[A-Za-z]:\\", value)):
            if key == "model":
                config[key] = base_model
            else:
                del config[key]
    return (json.dumps(config, indent=2) + "\n").encode()


def dataset_files(run_dir: Path) -> dict[str, bytes]:
    d = Path(run_dir) / "dataset"
    missing = [n for n in DATASET_FILES if not (d / n).is_file()]
    if missing:
        raise PublishError(f"{d}: missing {', '.join(missing)}")
    return {n: (d / n).read_bytes() for n in DATASET_FILES}


def model_files(run_dir: Path, card: str, base: BaseInfo) -> dict[str, bytes]:
    a = Path(run_dir) / "adapter"
    missing = [n for n in MODEL_FILES if not (a / n).is_file()]
    if not (Path(run_dir) / "eval.json").is_file():
        missing.append("../eval.json")
    if missing:
        raise PublishError(f"{a}: missing {', '.join(missing)}")
    files = {n: (a / n).read_bytes() for n in MODEL_FILES}
    files["adapter_config.json"] = _public_adapter_config(files["adapter_config.json"], base.model_id)
    files["eval.json"] = (Path(run_dir) / "eval.json").read_bytes()
    if (a / "loss.png").is_file():
        files["loss.png"] = (a / "loss.png").read_bytes()
    else:
        log.warning("%s: no loss.png; the model repo will not have a loss curve", a)
    files["README.md"] = card.encode()
    return files


def fuse_model(base: BaseInfo, adapter_dir: Path, out_dir: Path) -> None:
    """Merge the adapter into a dequantized copy of the base (fusing into 4-bit weights would
    re-quantize the sum and lose most of the adapter) and save it as an MLX model folder."""
    from mlx.utils import tree_unflatten
    from mlx_lm.utils import dequantize_model, load, save

    model, tokenizer, config = load(base.path, adapter_path=str(adapter_dir), return_config=True)
    fused = [(n, m.fuse(dequantize=True)) for n, m in model.named_modules() if hasattr(m, "fuse")]
    if not fused:
        raise PublishError(f"{adapter_dir}: no LoRA layers to fuse")
    model.update_modules(tree_unflatten(fused))
    model = dequantize_model(model)
    config.pop("quantization", None)
    config.pop("quantization_config", None)
    save(out_dir, base.path, model, tokenizer, config, donate_model=False)


def fused_files(run_dir: Path, base: BaseInfo, card: str) -> dict[str, bytes]:
    with tempfile.TemporaryDirectory(prefix="secai-fuse-") as tmp:
        fuse_model(base, Path(run_dir) / "adapter", Path(tmp))
        files = {p.relative_to(tmp).as_posix(): p.read_bytes() for p in sorted(Path(tmp).rglob("*")) if p.is_file()}
    files["README.md"] = card.encode()
    files["eval.json"] = (Path(run_dir) / "eval.json").read_bytes()
    return files


# -- retries ----------------------------------------------------------------------------------------
def _status(err: BaseException) -> int | None:
    resp = getattr(err, "response", None)
    return getattr(resp, "status_code", None)


def is_transient(err: BaseException) -> bool:
    import httpx2

    if isinstance(err, httpx2.TransportError):
        return True
    return _status(err) in TRANSIENT_STATUS


def _delay(err: BaseException, attempt: int) -> float:
    resp = getattr(err, "response", None)
    retry_after = getattr(resp, "headers", {}).get("Retry-After") if resp is not None else None
    base = min(MAX_BACKOFF_SECONDS, BACKOFF_SECONDS * 2**attempt)
    try:
        return max(base, min(MAX_BACKOFF_SECONDS, float(retry_after))) if retry_after else base
    except ValueError:
        return base


def _describe(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return mask_tokens(text)


def with_retries(fn: Callable[[], T], what: str, retries: int) -> T:
    for attempt in range(retries + 1):
        try:
            return fn()
        except PublishError:
            raise
        except Exception as e:  # noqa: BLE001  classified below; the client raises many types
            if not is_transient(e) or attempt == retries:
                raise PublishError(f"{what}: {_describe(e)}") from None
            delay = _delay(e, attempt)
            log.warning("%s: %s; retrying in %.1fs (%d/%d)", what, _describe(e), delay, attempt + 1, retries)
            time.sleep(delay)
    raise AssertionError("unreachable")


# -- one repo ---------------------------------------------------------------------------------------
def git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _remote_state(api, repo_id: str, repo_type: str, retries: int) -> dict[str, tuple[bool, str]]:
    """path -> (is LFS, sha256 for LFS files / git blob sha otherwise)."""
    entries = with_retries(
        lambda: list(api.list_repo_tree(repo_id, repo_type=repo_type, recursive=True)),
        f"{repo_id}: listing files",
        retries,
    )
    out = {}
    for e in entries:
        if hasattr(e, "blob_id"):
            out[e.path] = (True, e.lfs.sha256) if e.lfs else (False, e.blob_id)
    return out


def _diff(local: dict[str, bytes], remote: dict[str, tuple[bool, str]]) -> tuple[list[str], list[str]]:
    changed = []
    for path, data in local.items():
        cur = remote.get(path)
        if cur is None:
            changed.append(path)
        elif cur[1] != (hashlib.sha256(data).hexdigest() if cur[0] else git_blob_sha(data)):
            changed.append(path)
    stale = [p for p in remote if p not in local and p != ".gitattributes"]
    return changed, stale


def _head(api, repo_id: str, repo_type: str, retries: int) -> str:
    return with_retries(lambda: api.repo_info(repo_id, repo_type=repo_type).sha, f"{repo_id}: reading head", retries)


def _commit(api, up: RepoUpload, local: dict[str, bytes], message: str, description: str, retries: int) -> None:
    """One commit with exactly the changes; a retry first checks whether the last attempt landed."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    for attempt in range(retries + 1):
        remote = _remote_state(api, up.repo_id, up.repo_type, retries)
        changed, stale = _diff(local, remote)
        if not changed and not stale:
            up.commit = _head(api, up.repo_id, up.repo_type, retries)
            up.committed = attempt > 0  # an earlier attempt landed although its response was lost
            return
        ops = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=local[p]) for p in changed]
        ops += [CommitOperationDelete(path_in_repo=p) for p in stale]
        try:
            info = api.create_commit(
                up.repo_id,
                repo_type=up.repo_type,
                operations=ops,
                commit_message=message,
                commit_description=description,
            )
            up.commit, up.committed = info.oid, True
            return
        except Exception as e:  # noqa: BLE001  see with_retries
            if not is_transient(e) or attempt == retries:
                raise PublishError(f"{up.repo_id}: commit failed: {_describe(e)}") from None
            delay = _delay(e, attempt)
            log.warning(
                "%s: commit: %s; checking whether it landed, then retrying in %.1fs", up.repo_id, _describe(e), delay
            )
            time.sleep(delay)


def _tag(api, up: RepoUpload, tag: str, retries: int) -> None:
    refs = with_retries(lambda: api.list_repo_refs(up.repo_id, repo_type=up.repo_type), f"{up.repo_id}: refs", retries)
    if any(t.name == tag for t in refs.tags):
        up.tag = tag
        return

    def create():
        try:
            api.create_tag(
                up.repo_id, tag=tag, revision=up.commit, repo_type=up.repo_type, tag_message=f"secai run {tag}"
            )
        except Exception as e:  # noqa: BLE001
            if _status(e) == 409:  # an earlier attempt created it
                return
            raise

    with_retries(create, f"{up.repo_id}: tagging {tag}", retries)
    up.tag = tag


def upload_repo(
    api,
    up: RepoUpload,
    local: dict[str, bytes],
    *,
    private: bool,
    message: str,
    description: str,
    tag: str,
    retries: int,
) -> None:
    url = with_retries(
        lambda: api.create_repo(up.repo_id, repo_type=up.repo_type, private=private, exist_ok=True),
        f"{up.repo_id}: create",
        retries,
    )
    up.url = str(url)
    _commit(api, up, local, message, description, retries)
    _tag(api, up, tag, retries)
    log.info("%s: %s (%s)", up.repo_id, "new commit " + up.commit[:12] if up.committed else "unchanged", tag)


# -- the run ----------------------------------------------------------------------------------------
def _tag_name(run_id: str) -> str:
    return "run-" + (re.sub(r"[^A-Za-z0-9._-]+", "-", run_id).strip("-.") or "local")


def _dry_dir(run_dir: Path, up: RepoUpload) -> Path:
    ns, name = up.repo_id.split("/", 1)
    return Path(run_dir) / "publish" / f"{up.repo_type}s--{ns}--{name}"


def _check_repo_id(repo_id: str, flag: str) -> str:
    if not _REPO_ID.match(repo_id):
        raise PublishError(f"{flag} {repo_id!r}: expected namespace/name")
    return repo_id


def publish_run(
    run_dir: Path,
    settings: Settings,
    *,
    dataset_repo: str | None = None,
    model_repo: str | None = None,
    dry_run: bool | None = None,
    fuse: bool = False,
    base: Any = None,
    api: Any = None,
) -> PublishResult:
    run_dir = Path(run_dir)
    from secai.release.token import hub_token

    token = hub_token()
    dry_run = (token is None) if dry_run is None else dry_run
    meta = run_files.read_run_meta(run_dir)
    run_id = meta.run_id or run_dir.name
    result = PublishResult(run_dir=str(run_dir), run_id=run_id, dry_run=dry_run, published=False)

    def refuse(reason: str) -> PublishError:
        result.reason = reason
        run_files.write_publish(run_dir, result)
        return PublishError(f"{run_dir}: not publishing: {reason}")

    problems = gate_problems(run_dir)
    if problems:
        raise refuse("; ".join(problems))
    dataset_repo = dataset_repo or settings.publish.dataset_repo
    model_repo = model_repo or settings.publish.model_repo
    if not (dataset_repo or model_repo):
        if not dry_run:
            raise refuse(
                "no dataset or model repo configured (publish.dataset_repo / publish.model_repo, "
                "or --dataset-repo / --model-repo)"
            )
        dataset_repo, model_repo = f"{DRY_RUN_NAMESPACE}/secai-dataset", f"{DRY_RUN_NAMESPACE}/secai-adapter"
    if dataset_repo:
        _check_repo_id(dataset_repo, "--dataset-repo")
    if model_repo:
        _check_repo_id(model_repo, "--model-repo")

    info = resolve_base(run_dir, settings, base)
    plan: list[tuple[RepoUpload, dict[str, bytes]]] = []
    if dataset_repo:
        plan.append((RepoUpload(kind="dataset", repo_id=dataset_repo, repo_type="dataset"), dataset_files(run_dir)))
    if model_repo:
        facts = run_facts(run_dir, info, dataset_repo=dataset_repo, model_repo=model_repo)
        card = model_card(facts)
        untrue = check_model_card(card, facts)
        if untrue:
            raise refuse("model card: " + "; ".join(untrue))
        plan.append((RepoUpload(kind="model", repo_id=model_repo, repo_type="model"), model_files(run_dir, card, info)))
        if fuse:
            fused_repo = f"{model_repo}-fused"
            ffacts = run_facts(run_dir, info, dataset_repo=dataset_repo, model_repo=fused_repo, fused=True)
            fcard = model_card(ffacts)
            untrue = check_model_card(fcard, ffacts)
            if untrue:
                raise refuse("fused model card: " + "; ".join(untrue))
            plan.append(
                (RepoUpload(kind="fused", repo_id=fused_repo, repo_type="model"), fused_files(run_dir, info, fcard))
            )

    leaks = [f"{up.repo_id}/{p}" for up, files in plan for p in secret_problems(files)]
    if leaks:
        raise refuse("secret scan: " + "; ".join(leaks))

    for up, files in plan:
        up.files = {p: hashlib.sha256(d).hexdigest() for p, d in sorted(files.items())}

    if dry_run:
        for up, files in plan:
            out = _dry_dir(run_dir, up)
            if out.exists():
                shutil.rmtree(out)
            for p, data in files.items():
                (out / p).parent.mkdir(parents=True, exist_ok=True)
                (out / p).write_bytes(data)
            up.dry_run_dir = str(out)
            log.info("dry run: %d files for %s in %s", len(files), up.repo_id, out)
    else:
        if token is None:
            raise refuse("no Hugging Face token: set HF_TOKEN or run `hf auth login` (or use --dry-run)")
        if api is None:
            from huggingface_hub import HfApi

            api = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, token=token)
        source = meta.repo or "a local scan"
        sha = meta.head_sha or "unknown"
        tag = _tag_name(run_id)
        for up, files in plan:
            message = f"secai: {up.kind} from {source}@{sha[:12]} (run {run_id})"
            description = f"source: {source}\ncommit: {sha}\nrun: {run_id}\nfiles: {len(files)}\n"
            upload_repo(
                api,
                up,
                files,
                private=settings.publish.private,
                message=redact_text(message),
                description=redact_text(description),
                tag=tag,
                retries=settings.publish.retries,
            )
        result.published = True
    result.repos = [up for up, _ in plan]
    run_files.write_publish(run_dir, result)
    return result
