"""Whether a file still parses after an edit, by kind: Python, HCL, JSON, YAML, Dockerfile."""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
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
            # compile, not only parse: the compiler also refuses repeated keyword arguments,
            # `return` outside a function and the like (nothing is executed)
            compile(text, path, "exec", dont_inherit=True)
        elif kind == "json":
            json.loads(text)
        elif kind == "yaml":
            list(yaml.safe_load_all(text))
        elif kind == "hcl":
            import hcl2

            doc = hcl2.loads(text)
            if PurePosixPath(path).name.lower().endswith(".tf"):
                return _terraform_nesting_error(doc) or _terraform_self_reference(doc)
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


#: Blocks Terraform allows only at the top level of a file.
_TERRAFORM_TOP = frozenset(
    "resource data module variable output provider terraform locals moved import removed check".split()
)
#: Instructions whose first argument is a variable name (`ENV KEY=value`, `ARG NAME`, `LABEL k=v`).
_NAMED = {
    "ENV": re.compile(r"[A-Za-z_][\w.-]*(=|\s|$)"),
    "ARG": re.compile(r"[A-Za-z_]\w*(=|$)"),
    "LABEL": re.compile(r"[\w.\"'-]+="),
}


def _terraform_nesting_error(doc, depth: int = 0) -> str | None:
    """A top-level-only block (`resource`, `module`, ...) nested in another block parses as HCL but
    is not Terraform: the base model's junk 'fixed' an egress rule by wrapping it in a resource."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            if depth and key in _TERRAFORM_TOP and isinstance(value, list) and all(isinstance(v, dict) for v in value):
                return f"Terraform does not allow a {key} block inside another block"
            if why := _terraform_nesting_error(value, depth + 1):
                return why
    elif isinstance(doc, list):
        for item in doc:
            if why := _terraform_nesting_error(item, depth):
                return why
    return None


def _terraform_self_reference(doc) -> str | None:
    """A resource or data block that refers to itself (`bucket = aws_s3_bucket.b` inside
    `aws_s3_bucket.b`): Terraform refuses it as a cycle, and trivy 0.76's evaluator grows without
    bound on it (21 GB in minutes on a model's "fix")."""
    if not isinstance(doc, dict):
        return None
    for kind, prefix in (("resource", r"(?<![\w.])"), ("data", r"(?<![\w.])data\.")):
        for item in doc.get(kind) or []:
            if not isinstance(item, dict):
                continue
            for type_key, named in item.items():
                if not isinstance(named, dict):
                    continue
                for name_key, body in named.items():
                    t, n = str(type_key).strip('"'), str(name_key).strip('"')
                    if re.search(prefix + re.escape(f"{t}.{n}") + r"\b", json.dumps(body)):
                        return f"Terraform does not allow {'data.' if kind == 'data' else ''}{t}.{n} to refer to itself"
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
        rest = line.split(None, 1)[1].strip() if len(line.split(None, 1)) > 1 else ""
        if word in _NAMED and not _NAMED[word].match(rest):
            return f"Dockerfile line {number}: {word} needs a name first, not {rest[:40]!r}"
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


def python_problem(original: str, patched: str, regions: list[tuple[int, int, int, int]]) -> str | None:
    """For Python files that parse before and after: why the edit does more than rewrite its own
    lines, or None. `regions` are the edited line ranges (old start, old end, new start, new end).

    - every statement outside the edited lines is unchanged (an edit that turns a line into a
      decorator of the next function changes that function);
    - every name the file defined is still defined (deleting `PASSWORD = "..."` is not a fix);
    - no name is used that nothing defines (junk such as `gist-python-security` parses);
    - no call on the rewritten lines passes a command string with `shell=False`;
    - every variable a function (or the module) read is still read there: a fix that drops an
      argument's use ignores the input the code was written for.
    """
    import builtins

    try:
        before, after = ast.parse(original), ast.parse(patched)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if _outside(before, [(a, b) for a, b, _, _ in regions]) != _outside(after, [(c, d) for _, _, c, d in regions]):
        return "it changes code outside the rewritten lines"
    bound_before, used_before, star, imported = _names(before)
    bound_after, used_after, star_after, _ = _names(after)
    # an import may go when nothing uses it any more (a codemod swapping `random` for `secrets`)
    lost = sorted(n for n in bound_before - bound_after if n not in imported or n in used_after)
    if lost:
        return f"it removes the definition of {', '.join(lost[:3])}"
    unknown = sorted(used_after - bound_after - used_before - set(dir(builtins)))
    if unknown and not (star or star_after):
        return f"it uses undefined names: {', '.join(unknown[:3])}"
    if broken := _shell_off_on_a_string(after, [(c, d) for _, _, c, d in regions]):
        return broken
    ignored = sorted(n for _, n in _scoped_reads(before) - _scoped_reads(after) if n not in imported)
    if ignored:
        return f"it stops using {', '.join(ignored[:3])} (the rewritten code ignores a value the original read)"
    return None


def is_text(node: ast.expr) -> bool:
    """Whether an expression is evidently a string (a literal, an f-string, a concatenation or
    formatting of one)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        return is_text(node.left) or is_text(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return is_text(node.func.value)
    return False


def _shell_off_on_a_string(tree: ast.AST, regions: list[tuple[int, int]]) -> str | None:
    """A call on the rewritten lines that passes a command string with `shell=False`: without a shell
    the whole string names one program, so the call breaks (codemodder's `subprocess-shell-false`
    does this to `subprocess.call("tool " + name, shell=True)`)."""
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and node.args and is_text(node.args[0])):
            continue
        if not any(node.lineno <= hi and lo <= (node.end_lineno or node.lineno) for lo, hi in regions):
            continue
        for kw in node.keywords:
            if kw.arg == "shell" and isinstance(kw.value, ast.Constant) and kw.value.value is False:
                return f"line {node.lineno}: shell=False with a command string runs a program named by the whole string"
    return None


def _scoped_reads(tree: ast.AST) -> set[tuple[tuple[str, ...], str]]:
    """(enclosing functions, name) for every variable a function or the module both binds and
    reads: a parameter or local that a fix stops reading means the new code ignores its input
    (`subprocess.call(["tool", "x"])` for `subprocess.call("tool " + name, shell=True)`)."""
    out: set[tuple[tuple[str, ...], str]] = set()

    def visit(node: ast.AST, scope: tuple[str, ...], bound: set[str], reads: set[str]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                inner = (*scope, getattr(child, "name", "<lambda>"))
                args = child.args
                params = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
                params |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
                inner_bound, inner_reads = set(params), set()
                visit(child, inner, inner_bound, inner_reads)
                out.update((inner, n) for n in inner_bound & inner_reads)
                reads.update(inner_reads - inner_bound)  # closures read the outer scope's names
            else:
                if isinstance(child, ast.Name):
                    (reads if isinstance(child.ctx, ast.Load) else bound).add(child.id)
                visit(child, scope, bound, reads)

    bound: set[str] = set()
    reads: set[str] = set()
    visit(tree, (), bound, reads)
    out.update(((), n) for n in bound & reads)
    return out


def _span(node: ast.stmt) -> tuple[int, int]:
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return first, node.end_lineno or node.lineno


def _outside(tree: ast.AST, regions: list[tuple[int, int]]) -> Counter:
    """The statements that do not touch the edited lines, as structure (no line numbers)."""
    found: Counter = Counter()
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt):
            a, b = _span(node)
            if not any(a <= hi and lo <= b for lo, hi in regions):
                found[ast.dump(node)] += 1
    return found


def _names(tree: ast.AST) -> tuple[set[str], set[str], bool, set[str]]:
    """(names bound, names read, whether a star import hides bindings, names bound by imports)"""
    bound: set[str] = set()
    used: set[str] = set()
    imported: set[str] = set()
    star = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (used if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    star = True
                bound.add(alias.asname or alias.name.split(".")[0])
                imported.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            bound.update(node.names)
    return bound, used, star, imported
