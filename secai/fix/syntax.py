"""Whether a file still parses after an edit, by kind: Python, HCL, JSON, YAML, Dockerfile."""

from __future__ import annotations

import ast
import json
import re
from pathlib import PurePosixPath

import yaml

from secai.scanners.iac import is_dockerfile

_DOCKER_INSTRUCTIONS = frozenset(
    "FROM RUN CMD LABEL MAINTAINER EXPOSE ENV ADD COPY ENTRYPOINT VOLUME USER WORKDIR ARG ONBUILD "
    "STOPSIGNAL HEALTHCHECK SHELL".split()
)
_HEREDOC_RE = re.compile(r"<<-?[\"']?([A-Za-z_]\w*)")


def kind_of(path: str) -> str | None:
    name = PurePosixPath(path).name.lower()
    if name.endswith((".py", ".pyw")):
        return "python"
    if name.endswith(".tf.json") or name.endswith(".json"):
        return "json"
    if name.endswith((".tf", ".hcl", ".tfvars")):
        return "hcl"
    if name.endswith((".yaml", ".yml")):
        return "yaml"
    if is_dockerfile(PurePosixPath(path).name):
        return "dockerfile"
    return None


def syntax_error(path: str, text: str) -> str | None:
    """Why `text` does not parse as the kind of file `path` names; None when it does (or when
    secai has no parser for that kind)."""
    kind = kind_of(path)
    try:
        if kind == "python":
            ast.parse(text)
        elif kind == "json":
            json.loads(text)
        elif kind == "yaml":
            list(yaml.safe_load_all(text))
        elif kind == "hcl":
            import hcl2

            hcl2.loads(text)
        elif kind == "dockerfile":
            return _dockerfile_error(text)
    except SyntaxError as e:
        return f"Python syntax error at line {e.lineno}: {e.msg}"
    except RecursionError:
        return f"{kind} nested too deeply"
    except Exception as e:  # each parser has its own error types
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        return f"{kind} does not parse: {first[:160]}"
    return None


def _dockerfile_error(text: str) -> str | None:
    """Every instruction starts with a known keyword (continuations and heredocs followed)."""
    lines = text.replace("\r\n", "\n").split("\n")
    i = 0
    seen_from = False
    while i < len(lines):
        line = lines[i].strip()
        number = i + 1
        i += 1
        if not line or line.startswith("#"):
            continue
        word = line.split(None, 1)[0].upper()
        if word not in _DOCKER_INSTRUCTIONS:
            return f"Dockerfile line {number}: unknown instruction {word[:40]!r}"
        if not seen_from and word not in ("FROM", "ARG"):  # docker build: no stage before a FROM
            return f"Dockerfile line {number}: {word} before the first FROM"
        seen_from = seen_from or word == "FROM"
        logical = line
        while logical.endswith("\\") and i < len(lines):
            nxt = lines[i].strip()
            i += 1
            if nxt and not nxt.startswith("#"):  # comments and blank lines inside a continuation
                logical = nxt
        for tag in _HEREDOC_RE.findall(line):
            while i < len(lines) and lines[i].strip() != tag:
                i += 1
            if i >= len(lines):
                return f"Dockerfile line {number}: heredoc {tag} is not closed"
            i += 1
    return None if seen_from else "Dockerfile has no FROM instruction"
