"""The run folder: atomic writes and the stage manifest (see docs/run-folder.md).

A stage is skipped when the manifest records it as done with the same input hash and every
output it recorded still has the recorded hash. Outputs are written to a temporary name and
renamed, so a killed process leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

MANIFEST = "manifest.json"


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise OSError(e.errno, e.strerror, str(path)) from None  # name the file, not the temp name
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def hash_tree(paths: Iterable[str | Path]) -> str:
    """One hash over files (or every file under folders), by relative name and content."""
    h = hashlib.sha256()
    for p in paths:
        p = Path(p)
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else ([p] if p.exists() else [])
        h.update(f"<{p.name}>".encode())
        for f in files:
            rel = f.relative_to(p).as_posix() if p.is_dir() else f.name
            h.update(rel.encode() + b"\0" + sha256_file(f).encode() + b"\n")
    return h.hexdigest()


def hash_value(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


class StageRecord(BaseModel):
    status: str  # done | failed | skipped
    inputs: str = ""
    outputs: dict[str, str] = Field(default_factory=dict)  # relative path -> sha256
    started_at: float = 0.0
    seconds: float = 0.0
    note: str = ""


class Manifest(BaseModel):
    stages: dict[str, StageRecord] = Field(default_factory=dict)

    @classmethod
    def load(cls, run_dir: Path) -> Manifest:
        p = Path(run_dir) / MANIFEST
        if not p.exists():
            return cls()
        try:
            return cls.model_validate_json(p.read_text(encoding="utf-8"))
        except ValueError:
            return cls()  # a manifest we cannot read only costs a recomputation

    def save(self, run_dir: Path) -> None:
        atomic_write_text(Path(run_dir) / MANIFEST, self.model_dump_json(indent=2) + "\n")

    def is_current(self, run_dir: Path, stage: str, inputs: str) -> bool:
        rec = self.stages.get(stage)
        if rec is None or rec.status not in ("done", "skipped") or rec.inputs != inputs:
            return False
        for rel, digest in rec.outputs.items():
            f = Path(run_dir) / rel
            if not f.is_file() or sha256_file(f) != digest:
                return False
        return True

    def damaged(self, run_dir: Path, stage: str) -> list[str]:
        """Outputs a completed stage recorded that are now missing or changed."""
        rec = self.stages.get(stage)
        if rec is None or rec.status != "done":
            return []
        return [
            rel
            for rel, digest in rec.outputs.items()
            if not (Path(run_dir) / rel).is_file() or sha256_file(Path(run_dir) / rel) != digest
        ]

    def record(
        self,
        run_dir: Path,
        stage: str,
        inputs: str,
        outputs: Iterable[str | Path],
        status: str,
        started: float,
        note: str = "",
    ) -> StageRecord:
        run_dir = Path(run_dir)
        out: dict[str, str] = {}
        for o in outputs:
            o = Path(o)
            o = o if o.is_absolute() else run_dir / o
            files = sorted(f for f in o.rglob("*") if f.is_file()) if o.is_dir() else ([o] if o.is_file() else [])
            for f in files:
                out[f.relative_to(run_dir).as_posix()] = sha256_file(f)
        rec = StageRecord(
            status=status,
            inputs=inputs,
            outputs=out,
            started_at=started,
            seconds=round(time.time() - started, 3),
            note=note,
        )
        self.stages[stage] = rec
        self.save(run_dir)
        return rec


def new_run_dir(runs_dir: Path, label: str = "local") -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    base = Path(runs_dir) / f"{stamp}-{label}"
    path = base
    n = 1
    while path.exists():
        n += 1
        path = Path(f"{base}-{n}")
    path.mkdir(parents=True)
    return path


def latest_run_dir(runs_dir: Path) -> Path | None:
    runs = [p for p in Path(runs_dir).glob("*") if p.is_dir()] if Path(runs_dir).exists() else []
    return max(runs, key=lambda p: p.stat().st_mtime) if runs else None


def make_private(folder: str | Path) -> Path:
    """Create `folder` (and its parents) if needed and make it readable by its owner alone (0700):
    the data home holds raw reports, findings and the store."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if folder.stat().st_uid == os.getuid():
        folder.chmod(0o700)
    return folder


def prune_runs(runs_dir: str | Path, days: int, now: float | None = None) -> list[Path]:
    """Delete run folders under `runs_dir` not modified for `days` days (none when `days` is 0);
    returns what was deleted."""
    runs_dir = Path(runs_dir)
    if days <= 0 or not runs_dir.is_dir():
        return []
    cutoff = (now or time.time()) - days * 86400
    gone = []
    for folder in sorted(p for p in runs_dir.iterdir() if p.is_dir() and not p.is_symlink()):
        newest = max((f.stat().st_mtime for f in (folder, *folder.iterdir())), default=0.0)
        if newest < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            gone.append(folder)
    return gone
