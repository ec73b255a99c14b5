"""The normalized bundle that `collect` hands from a GitHub-hosted job to the self-hosted runner.

A bundle folder holds:
- `bundle.json`: where the findings come from (repo, commit, PR, run, fork or not) and counts;
- `findings.json`: the normalized findings (`secai-runner parse --format json` shape);
- `parse.json`: the reports read and the problems met (`{"reports": [...], "problems": [...]}`).

A bundle crosses a trust boundary (an artifact read by another job), so reading one validates
every field and caps the sizes; it is data, never code.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from secai.errors import InputError
from secai.findings import Finding, count_by_severity
from secai.run.folder import atomic_write_json
from secai.run.meta import RunMeta

SCHEMA = "secai-bundle/1"
META_FILE = "bundle.json"
FINDINGS_FILE = "findings.json"
PARSE_FILE = "parse.json"

_REPO_RE = re.compile(r"[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}")
_SHA_RE = re.compile(r"[0-9a-fA-F]{7,64}")
_SERVER_RE = re.compile(r"https?://[A-Za-z0-9.-]{1,200}(:[0-9]{1,5})?(/[A-Za-z0-9._~-]{1,100}){0,5}")
_MAX_META_BYTES = 1 << 20


class BundleMeta(BaseModel):
    """`bundle.json`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_: Literal["secai-bundle/1"] = Field(SCHEMA, alias="schema")
    repo: str | None = None
    sha: str | None = None
    ref: str | None = Field(None, max_length=300)
    branch: str | None = Field(None, max_length=300)
    pr: int | None = Field(None, ge=1, lt=10**9)
    run_id: int | None = Field(None, ge=1)
    event: str | None = Field(None, max_length=64)
    is_fork: bool = False
    #: The branch a pull request targets: its report compares with that branch's latest run.
    base_branch: str | None = Field(None, max_length=300)
    #: `GITHUB_SERVER_URL` (github.com or a GHES host): links to code lines and to the run.
    server_url: str | None = None
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    tool_counts: dict[str, int] = Field(default_factory=dict)
    severity_counts: dict[str, int] = Field(default_factory=dict)

    @field_validator("repo")
    @classmethod
    def _repo(cls, v: str | None) -> str | None:
        if v is not None and not _REPO_RE.fullmatch(v):
            raise ValueError(f"{v[:120]!r} is not owner/name")
        return v

    @field_validator("server_url")
    @classmethod
    def _server(cls, v: str | None) -> str | None:
        if v is not None and not _SERVER_RE.fullmatch(v):
            raise ValueError(f"{v[:120]!r} is not a GitHub server URL")
        return v

    @property
    def run_url(self) -> str | None:
        if self.server_url and self.repo and self.run_id:
            return f"{self.server_url}/{self.repo}/actions/runs/{self.run_id}"
        return None

    @field_validator("sha")
    @classmethod
    def _sha(cls, v: str | None) -> str | None:
        if v is not None and not _SHA_RE.fullmatch(v):
            raise ValueError(f"{v[:80]!r} is not a commit id")
        return v

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    def run_meta(self) -> RunMeta:
        """What the run folder built from this bundle records (and `may_train` judges)."""
        return RunMeta(
            repo=self.repo,
            run_id=str(self.run_id or ""),
            head_sha=self.sha,
            branch=self.branch,
            pr=self.pr,
            event=self.event,
            is_fork=self.is_fork,
            base_branch=self.base_branch,
            html_url=self.run_url,
        )


class Bundle(BaseModel):
    meta: BundleMeta
    findings: list[Finding]
    parse: dict[str, Any] = Field(default_factory=dict)

    @property
    def errors(self) -> list[dict]:
        return [p for p in self.parse.get("problems", []) if p.get("level") == "error"]


def tool_counts(findings: list[Finding]) -> dict[str, int]:
    return dict(sorted(Counter(f.tool for f in findings).items()))


def severity_counts(findings: list[Finding]) -> dict[str, int]:
    return count_by_severity(findings)


def write_bundle(out: str | Path, meta: BundleMeta, findings: list[Finding], parse: dict[str, Any]) -> BundleMeta:
    """Write the three bundle files into `out` (created if needed); returns the metadata written."""
    from secai.findings import finding_json

    out = Path(out)
    meta = meta.model_copy(update={"tool_counts": tool_counts(findings), "severity_counts": severity_counts(findings)})
    atomic_write_json(out / FINDINGS_FILE, [finding_json(f) for f in findings])
    atomic_write_json(out / PARSE_FILE, parse)
    atomic_write_json(out / META_FILE, meta.to_json())
    return meta


def _load_json(path: Path, max_bytes: int) -> Any:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError(path, f"{size} bytes, over the {max_bytes} byte limit for a bundle file")
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        raise InputError(path, "missing; not a secai bundle") from None
    except OSError as e:
        raise InputError(path, f"cannot read ({e.strerror or e})") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(path, f"not valid JSON ({e})") from None


def _first_error(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"invalid {where or 'content'}: {first['msg']}"


def read_meta(folder: str | Path) -> BundleMeta:
    path = Path(folder) / META_FILE
    data = _load_json(path, _MAX_META_BYTES)
    if not isinstance(data, dict):
        raise InputError(path, "expected a JSON object")
    if data.get("schema") != SCHEMA:
        raise InputError(path, f"schema {str(data.get('schema'))[:40]!r} is not {SCHEMA!r}")
    try:
        return BundleMeta.model_validate(data)
    except ValidationError as e:
        raise InputError(path, _first_error(e)) from None


def read_bundle(folder: str | Path, max_mb: float = 100.0) -> Bundle:
    """Read and validate a bundle folder; every problem is an `InputError` naming the file."""
    folder = Path(folder)
    meta = read_meta(folder)
    max_bytes = int(max_mb * 1024 * 1024)
    fpath = folder / FINDINGS_FILE
    raw = _load_json(fpath, max_bytes)
    if not isinstance(raw, list):
        raise InputError(fpath, "expected a JSON array of findings")
    findings = []
    for i, item in enumerate(raw):
        try:
            findings.append(Finding.model_validate(item))
        except ValidationError as e:
            raise InputError(fpath, f"finding {i}: {_first_error(e)}") from None
    ppath = folder / PARSE_FILE
    parse = _load_json(ppath, max_bytes) if ppath.exists() else {}
    if not isinstance(parse, dict):
        raise InputError(ppath, "expected a JSON object")
    return Bundle(meta=meta, findings=findings, parse=parse)
