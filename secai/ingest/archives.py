"""Safe extraction of artifact zips.

Zip entries are untrusted: an entry may try to escape the destination (`../x`, `/etc/x`,
`C:\\x`), be a symlink or a device, claim a small size and inflate to gigabytes, or come in the
tens of thousands. Each such entry is refused with a message naming the archive and the entry;
the other entries are still extracted.
"""

from __future__ import annotations

import os
import shutil
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from secai.config import Limits
from secai.errors import UnsafeArchive

_CHUNK = 1 << 16


@dataclass
class ExtractResult:
    files: list[Path] = field(default_factory=list)
    problems: list[UnsafeArchive] = field(default_factory=list)
    bytes_written: int = 0


def _safe_member_path(name: str) -> PurePosixPath | None:
    """The member's relative path, or None when it is absolute or escapes."""
    if not name or "\x00" in name:
        return None
    norm = name.replace("\\", "/")
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        return None
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        return None
    return PurePosixPath(*parts)


def _member_kind(info: zipfile.ZipInfo) -> str:
    mode = (info.external_attr >> 16) & 0xFFFF
    if mode and stat.S_ISLNK(mode):
        return "symlink"
    if mode and (stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        return "device"
    if info.filename.endswith("/"):  # ZipInfo.is_dir() fails on the empty name a NUL leaves
        return "dir"
    return "file"


def extract_zip(
    archive: str | Path,
    dest: str | Path,
    limits: Limits | None = None,
    budget_bytes: int | None = None,
) -> ExtractResult:
    """Extract `archive` into `dest`, refusing unsafe entries one by one.

    Raises `UnsafeArchive` only when the archive as a whole cannot be read or has too many
    entries; per-entry problems are returned in `ExtractResult.problems`.
    """
    limits = limits or Limits()
    archive = Path(archive)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    max_file = int(limits.max_file_mb * 1024 * 1024)
    budget = int(limits.max_run_mb * 1024 * 1024) if budget_bytes is None else budget_bytes
    result = ExtractResult()
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as e:
        # NotImplementedError: a damaged header can claim a zip version zipfile does not support.
        raise UnsafeArchive(archive, f"not a readable zip archive ({e})") from None
    with zf:
        try:
            infos = zf.infolist()
        except Exception as e:  # pragma: no cover - zipfile reads the directory in the constructor
            raise UnsafeArchive(archive, f"unreadable zip directory ({e})") from None
        if len(infos) > limits.max_zip_entries:
            raise UnsafeArchive(
                archive, f"{len(infos)} entries exceed the limit of {limits.max_zip_entries}; nothing extracted"
            )
        for info in infos:
            where = f"{archive}!{info.filename}"
            kind = _member_kind(info)
            rel = _safe_member_path(info.filename)
            if rel is None:
                result.problems.append(UnsafeArchive(where, "entry path is absolute or escapes the folder; skipped"))
                continue
            if kind in ("symlink", "device"):
                result.problems.append(UnsafeArchive(where, f"entry is a {kind}; skipped"))
                continue
            target = (root / rel).resolve()
            if root != target and root not in target.parents:
                result.problems.append(UnsafeArchive(where, "entry resolves outside the folder; skipped"))
                continue
            if kind == "dir":
                try:
                    target.mkdir(parents=True, exist_ok=True)
                except OSError as e:  # a file of the same name came first
                    result.problems.append(UnsafeArchive(where, f"cannot create folder ({e.strerror or e}); skipped"))
                continue
            if info.file_size > max_file:
                result.problems.append(
                    UnsafeArchive(
                        where, f"entry is {info.file_size} bytes, over the {limits.max_file_mb:g} MB limit; skipped"
                    )
                )
                continue
            if (
                info.compress_size
                and info.file_size / info.compress_size > limits.max_zip_ratio
                and info.file_size > 1 << 20
            ):
                result.problems.append(
                    UnsafeArchive(
                        where,
                        f"compression ratio {info.file_size / info.compress_size:.0f}:1 looks like a zip bomb; skipped",
                    )
                )
                continue
            if result.bytes_written + info.file_size > budget:
                result.problems.append(UnsafeArchive(where, "run size limit reached; skipped"))
                continue
            problem = _copy_member(zf, info, target, max_file, budget - result.bytes_written, where)
            if isinstance(problem, UnsafeArchive):
                result.problems.append(problem)
                continue
            result.bytes_written += problem
            result.files.append(target)
    return result


def _copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, max_file: int, budget: int, where: str):
    """Stream one member, counting real bytes (headers may lie about sizes)."""
    tmp = target.with_name(target.name + ".part")
    written = 0
    cap = min(max_file, budget)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(info) as src, open(tmp, "wb") as out:
            while True:
                chunk = src.read(_CHUNK)
                if not chunk:
                    break
                written += len(chunk)
                if written > cap:
                    raise UnsafeArchive(where, "entry inflates beyond the size limit; skipped")
                out.write(chunk)
        os.replace(tmp, target)
    except UnsafeArchive as e:
        _unlink(tmp)
        return e
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as e:
        _unlink(tmp)
        return UnsafeArchive(where, f"unreadable entry ({type(e).__name__}: {e}); skipped")
    return written


def _unlink(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:  # e.g. a folder of that name, made by an earlier entry
        pass


ZIP_MAGIC = b"PK\x03\x04"


def is_zip(path: str | Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == ZIP_MAGIC
    except OSError:
        return False


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
