#!/usr/bin/env bash
# Used by action.yml (command: process): a venv with secai and its `ml` extra, cached on the
# self-hosted runner and rebuilt only when the action's source changes.
# Inputs (environment): ACTION_PATH, INPUT_PYTHON; writes `python=` to $GITHUB_OUTPUT.
set -euo pipefail

py="${INPUT_PYTHON:-python3}"
if ! command -v "$py" >/dev/null 2>&1; then
  echo "::error::secai: $py not found on the runner; install Python 3.11+ or set the python input"
  exit 1
fi
"$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "secai needs Python 3.11 or newer on the runner")'

key="$("$py" - "$ACTION_PATH" <<'PY'
import hashlib, pathlib, platform, sys
root = pathlib.Path(sys.argv[1])
h = hashlib.sha256(f"{sys.version}|{platform.machine()}".encode())
for p in sorted([root / "pyproject.toml", *(root / "secai").rglob("*")]):
    if p.is_file() and "__pycache__" not in p.parts:
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes())
print(h.hexdigest()[:16])
PY
)"

cache="${SECAI_VENV_CACHE:-${RUNNER_TOOL_CACHE:-$HOME/.cache}/secai-venv}"
venv="$cache/$key"
mkdir -p "$cache"
if [ ! -x "$venv/bin/python" ]; then
  # Build beside the final place and rename, so a concurrent job never sees half a venv.
  # The venv is used through `python -m`, which keeps working after the rename.
  tmp="$(mktemp -d "$cache/.build.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  "$py" -m venv "$tmp"
  "$tmp/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$tmp/bin/python" -m pip install --quiet --disable-pip-version-check "${ACTION_PATH}[ml]"
  mv "$tmp" "$venv" 2>/dev/null || rm -rf "$tmp"
  trap - EXIT
fi
echo "python=$venv/bin/python" >> "$GITHUB_OUTPUT"
