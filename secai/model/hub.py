"""Pinned, verified model downloads from the Hugging Face Hub, through `huggingface_hub`.

A Hub model is always used at one commit: the revision given (`model.revision`, `model pull
--revision`), else the commit pinned at its first pull (a pin record in `<models>/hub-pins/`), else
the Hub's current `main`, which the first pull then pins. The first pull asks the Hub for the
file list with sizes, git blob ids and LFS sha256s (`model_info(files_metadata=True)`), downloads
only the files mlx-lm needs (`snapshot_download` at that commit with `allow_patterns`, into
`model.hub_cache` or `<models>/hub`), then hashes every file and compares it with what the Hub
reported (and with any hash secai itself pins, as for the default Mac model). A file that does not
match is removed from the cache and the pull fails; `huggingface_hub` itself only checks sizes.
Every later use re-hashes the snapshot against the pin record before loading it and makes no
network request, so a repeated run downloads nothing and works offline.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from pathlib import Path

from pydantic import BaseModel, Field

from secai.config import Settings
from secai.errors import ModelError

log = logging.getLogger("secai")

#: What mlx-lm needs to load a model (no `*.py`: secai never runs a repository's code).
ALLOW_PATTERNS = [
    "*.json",
    "model*.safetensors",
    "tokenizer.model",
    "*.tiktoken",
    "tiktoken.model",
    "*.txt",
    "*.jinja",
    "README.md",
]
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_HASH_CHUNK = 1 << 20


class PinnedFile(BaseModel):
    size: int
    #: LFS files: the sha256 of the content, as the Hub reports it.
    sha256: str | None = None
    #: Regular files: the git blob sha1, as the Hub reports it.
    git_sha1: str | None = None


class HubPin(BaseModel):
    repo_id: str
    revision: str
    files: dict[str, PinnedFile]
    license: str | None = None
    pulled_at: float = Field(default_factory=time.time)


class HubSnapshot(BaseModel):
    repo_id: str
    revision: str
    path: Path
    #: Files fetched over the network by this call (empty when everything came from the cache).
    downloaded: list[str] = Field(default_factory=list)
    license: str | None = None


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hub_cache(settings: Settings) -> Path:
    return Path(settings.model.hub_cache).expanduser() if settings.model.hub_cache else settings.models_dir / "hub"


def _endpoint() -> str | None:
    return os.environ.get("HF_ENDPOINT") or None


def _pin_path(settings: Settings, repo_id: str) -> Path:
    return settings.models_dir / "hub-pins" / (repo_id.replace("/", "--") + ".json")


def read_pin(settings: Settings, repo_id: str) -> HubPin | None:
    try:
        pin = HubPin.model_validate_json(_pin_path(settings, repo_id).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return pin if pin.repo_id == repo_id and _COMMIT.match(pin.revision) else None


def _write_pin(settings: Settings, pin: HubPin) -> None:
    path = _pin_path(settings, pin.repo_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(pin.model_dump_json(indent=2), encoding="utf-8")
    os.replace(tmp, path)


def _git_blob_sha1(path: Path) -> str:
    h = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_HASH_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_HASH_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


# Files already hashed by this process, by (path, size, mtime): a run resolves its model several times.
_VERIFIED: set[tuple[str, int, int, str]] = set()


def _mismatch(path: Path, want: PinnedFile) -> str | None:
    """Why the file at `path` is not the pinned one (None when it is)."""
    try:
        st = path.stat()
    except OSError:
        return "missing"
    key = (str(path), st.st_size, st.st_mtime_ns, want.sha256 or want.git_sha1 or "")
    if key in _VERIFIED:
        return None
    if st.st_size != want.size:
        return f"has {st.st_size} bytes, expected {want.size}"
    if want.sha256:
        got = _sha256(path)
        if got != want.sha256:
            return f"has sha256 {got[:16]}…, expected {want.sha256[:16]}…"
    elif want.git_sha1:
        got = _git_blob_sha1(path)
        if got != want.git_sha1:
            return f"has git blob sha {got[:12]}…, expected {want.git_sha1[:12]}…"
    else:
        return "has no hash to check against"
    _VERIFIED.add(key)
    return None


def _remove_from_cache(path: Path) -> None:
    """Drop a snapshot file and the blob it points to, so the next pull downloads it again."""
    try:
        blob = path.resolve() if path.is_symlink() else None
        path.unlink(missing_ok=True)
        if blob is not None:
            blob.unlink(missing_ok=True)
    except OSError as e:
        log.warning("%s: could not remove the unverified file from the cache (%s)", path, e.strerror)


def verify_snapshot(folder: Path, pin: HubPin, *, remove_bad: bool = False) -> None:
    """Every pinned file is present with its pinned hash; otherwise a one-line ModelError."""
    for name, want in sorted(pin.files.items()):
        why = _mismatch(folder / name, want)
        if why:
            if remove_bad and why != "missing":
                _remove_from_cache(folder / name)
            raise ModelError(
                f"{pin.repo_id}@{pin.revision[:12]}: {name} {why}"
                + ("; removed it from the cache, refusing to load the model" if remove_bad and why != "missing" else "")
            )


def _snapshot(repo_id: str, revision: str, settings: Settings, *, local_only: bool) -> Path:
    from huggingface_hub import snapshot_download

    return Path(
        snapshot_download(
            repo_id,
            revision=revision,
            allow_patterns=ALLOW_PATTERNS,
            cache_dir=str(hub_cache(settings)),
            local_files_only=local_only,
            endpoint=_endpoint(),
            etag_timeout=10,
        )
    )


def cached_snapshot(repo_id: str, settings: Settings, revision: str | None = None) -> HubSnapshot | None:
    """The pinned snapshot of `repo_id`, verified, without any network request (None when it is
    not fully cached or `revision` names another commit than the pin)."""
    pin = read_pin(settings, repo_id)
    if pin is None or (revision and revision != pin.revision):
        return None
    try:
        folder = _snapshot(repo_id, pin.revision, settings, local_only=True)
    except Exception:  # huggingface_hub raises LocalEntryNotFoundError / IncompleteSnapshotError
        return None
    if any(not (folder / name).exists() for name in pin.files):
        return None
    verify_snapshot(folder, pin, remove_bad=True)
    return HubSnapshot(repo_id=repo_id, revision=pin.revision, path=folder, license=pin.license)


def _first_line(e: Exception) -> str:
    return ((str(e).strip().splitlines() or [type(e).__name__])[0])[:200]


def remote_pin(repo_id: str, revision: str, *, timeout: float = 10.0) -> HubPin:
    """The commit `revision` resolves to and the size and hash the Hub reports for every file
    secai would download (one `model_info(files_metadata=True)` call)."""
    from huggingface_hub import HfApi
    from huggingface_hub.utils import filter_repo_objects

    info = HfApi(endpoint=_endpoint()).model_info(repo_id, revision=revision, files_metadata=True, timeout=timeout)
    files: dict[str, PinnedFile] = {}
    siblings = {s.rfilename: s for s in info.siblings or []}
    for name in filter_repo_objects(sorted(siblings), allow_patterns=ALLOW_PATTERNS):
        s = siblings[name]
        if s.lfs is not None:
            files[name] = PinnedFile(size=int(s.lfs.size), sha256=s.lfs.sha256)
        elif s.size is not None and s.blob_id:
            files[name] = PinnedFile(size=int(s.size), git_sha1=s.blob_id)
        else:
            raise ModelError(f"{repo_id}@{revision}: the Hub reported no size or hash for {name}")
    if "config.json" not in files or not any(n.startswith("model") and n.endswith(".safetensors") for n in files):
        raise ModelError(
            f"{repo_id}@{revision}: not an MLX model repository (no config.json and model*.safetensors); "
            "convert it with `mlx_lm.convert` or pick an mlx-community repository"
        )
    license = None
    card = getattr(info, "card_data", None)
    if card is not None:
        license = getattr(card, "license", None) or (card.get("license") if hasattr(card, "get") else None)
    return HubPin(repo_id=repo_id, revision=str(info.sha), files=files, license=license)


def pull(
    repo_id: str,
    settings: Settings,
    revision: str | None = None,
    *,
    pinned_sha256: dict[str, str] | None = None,
) -> HubSnapshot:
    """`repo_id` at one commit in the Hub cache, every file verified (see the module doc).

    `revision` (a commit, tag or branch) moves the pin; without it the pinned commit is used, and a
    repository pulled for the first time is pinned at its current `main`. `pinned_sha256` are
    hashes secai itself knows for some files; they must agree with the Hub's and the download."""
    cached = cached_snapshot(repo_id, settings, revision)
    if cached is not None:
        return cached
    pin = read_pin(settings, repo_id)
    want = revision or (pin.revision if pin else "main")
    alternatives = "use --model embedded (works offline) or --model PATH to a local MLX model folder"
    if hub_offline():
        raise ModelError(
            f"model {repo_id!r}@{want}: the Hugging Face Hub is offline (HF_HUB_OFFLINE) and it is not cached; "
            f"{alternatives}"
        )
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    try:
        remote = remote_pin(repo_id, want)
    except ModelError:
        raise
    except RevisionNotFoundError:
        raise ModelError(f"model {repo_id!r}: the Hub has no revision {want!r}") from None
    except RepositoryNotFoundError:  # also a gated repository the token cannot read
        raise ModelError(
            f"model {repo_id!r}: not found on the Hugging Face Hub (or private/gated and HF_TOKEN cannot read it)"
        ) from None
    except Exception as e:  # connection errors, timeouts, the Hub down: many types
        raise ModelError(
            f"model {repo_id!r}@{want}: cannot reach it on the Hugging Face Hub ({_first_line(e)}); {alternatives}"
        ) from None
    for name, digest in (pinned_sha256 or {}).items():
        reported = remote.files.get(name)
        if reported is None or reported.sha256 != digest:
            raise ModelError(
                f"{repo_id}@{remote.revision[:12]}: the Hub reports {name} with sha256 "
                f"{(reported.sha256 or 'none')[:16] if reported else 'missing'}…, but secai pins {digest[:16]}…"
            )
    before = {n for n in remote.files if _cached_blob(repo_id, remote, n, settings)}
    try:
        folder = _snapshot(repo_id, remote.revision, settings, local_only=False)
    except Exception as e:  # see remote_pin
        raise ModelError(f"model {repo_id!r}@{remote.revision[:12]}: download failed ({_first_line(e)})") from None
    verify_snapshot(folder, remote, remove_bad=True)
    _write_pin(settings, remote)
    downloaded = sorted(set(remote.files) - before)
    log.info(
        "model %s pinned at %s: %d files verified (%d downloaded)",
        repo_id,
        remote.revision[:12],
        len(remote.files),
        len(downloaded),
    )
    return HubSnapshot(
        repo_id=repo_id, revision=remote.revision, path=folder, downloaded=downloaded, license=remote.license
    )


def _cached_blob(repo_id: str, pin: HubPin, name: str, settings: Settings) -> bool:
    """Whether the cache already holds `name` of that commit (to report what a pull downloaded)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, name, cache_dir=str(hub_cache(settings)), revision=pin.revision)
    return isinstance(found, str)
