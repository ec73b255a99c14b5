#!/usr/bin/env bash
# Used by action.yml (command: process): the Python that runs secai with its `ml` extra, from the
# hash-pinned requirements/runner.txt. Nothing a job leaves behind is used by the next one:
# - with SECAI_VENV set (the runner's environment; runner/setup-macos.sh --runner-venv builds it
#   as an administrator), that venv, only if it was built from this action and no file in it is
#   owned by, or writable for, the job's user (runner/prebuilt_venv.py); otherwise the job stops;
# - without it, a fresh venv in $RUNNER_TEMP for this job alone (the runner empties RUNNER_TEMP).
# Inputs (environment): ACTION_PATH, INPUT_PYTHON, SECAI_VENV; writes `python=` to $GITHUB_OUTPUT.
set -euo pipefail

py="${INPUT_PYTHON:-python3}"
if ! command -v "$py" >/dev/null 2>&1; then
  echo "::error::secai: $py not found on the runner; install Python 3.11+ or set the python input"
  exit 1
fi
"$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "secai needs Python 3.11 or newer on the runner")'

if [ -n "${SECAI_VENV:-}" ]; then
  if ! why="$("$py" "$ACTION_PATH/runner/prebuilt_venv.py" check "$SECAI_VENV" "$ACTION_PATH" 2>&1)"; then
    echo "::error::$why"
    exit 1
  fi
  echo "python=$SECAI_VENV/bin/python" >> "$GITHUB_OUTPUT"
  exit 0
fi

venv="$RUNNER_TEMP/secai-venv"
rm -rf "$venv"
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
  -r "$ACTION_PATH/requirements/runner.txt"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation "$ACTION_PATH"
echo "python=$venv/bin/python" >> "$GITHUB_OUTPUT"
