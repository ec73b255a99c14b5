#!/usr/bin/env bash
# Regenerate examples/artifacts/ by running real scanners on examples/vulnerable-app/, offline.
# The outputs are laid out like `gh run download`: one folder per artifact name.
# Scanners live in their own venv (.venv-scanners/ at the repo root), never in the project venv.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
app="$here/vulnerable-app"
out="$here/artifacts"
venv="${SCANNER_VENV:-$root/.venv-scanners}"
python="${PYTHON:-python3}"

if [[ ! -x "$venv/bin/python" ]]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes -r "$root/requirements/scanners.txt"
bin="$venv/bin"

# Scanners exit non-zero when they find something; FINDINGS_STATUS is that scanner's status for
# "found issues" (1 for most, 255 for safety 1.x). Any other non-zero status is a failure.
tolerate_findings() {
  local status=0
  "$@" || status=$?
  if (( status != 0 && status != ${FINDINGS_STATUS:-1} )); then
    echo "regenerate: '$1' failed with status $status" >&2
    exit "$status"
  fi
}

rm -rf "$out"
mkdir -p "$out"/{bandit-results,semgrep-results,checkov-results,trivy-config,detect-secrets,safety-results}

# Every scanner runs with the app folder as its working directory so reported paths are relative.
cd "$app"

tolerate_findings "$bin/bandit" -q -r . -f json -o "$out/bandit-results/bandit.json"
tolerate_findings "$bin/bandit" -q -r . -f sarif -o "$out/bandit-results/bandit.sarif"

tolerate_findings "$bin/semgrep" scan --metrics=off --disable-version-check --no-git-ignore --quiet \
  --config "$here/semgrep-rules.yml" --json -o "$out/semgrep-results/semgrep.json" .
cat > "$out/semgrep-results/README.md" <<'MD'
Semgrep results for examples/vulnerable-app, produced with the local rules in
examples/semgrep-rules.yml. This file is not a report; secai skips it.
MD

# No --quiet: with it checkov's JSON keeps only failed checks, dropping the skipped ones
# (`#checkov:skip=` with its reason) that the SARIF twin lists as suppressed results.
checkov_tmp="$(mktemp -d)"
trap 'rm -rf "$checkov_tmp"' EXIT
tolerate_findings "$bin/checkov" -d . --compact --skip-download \
  -o json -o sarif --output-file-path "$checkov_tmp" > /dev/null
mv "$checkov_tmp/results_json.json" "$out/checkov-results/checkov.json"
mv "$checkov_tmp/results_sarif.sarif" "$out/checkov-results/results_sarif.sarif"

trivy_cache="$(mktemp -d)"
trap 'rm -rf "$checkov_tmp" "$trivy_cache"' EXIT
for fmt in json sarif; do
  "$bin/trivy" config --quiet --cache-dir "$trivy_cache" --skip-check-update \
    --format "$fmt" --output "$out/trivy-config/trivy-config.$fmt" .
done

"$bin/detect-secrets" scan --all-files . > "$out/detect-secrets/.secrets.baseline"

db="$("$bin/python" -c 'import importlib.util, os; print(os.path.dirname(importlib.util.find_spec("safety_db").origin))')"
FINDINGS_STATUS=255 tolerate_findings "$bin/safety" check --db "$db" -r requirements.txt --json > "$out/safety-results/safety.json"

# Absolute paths of this machine never go into the committed outputs. Semgrep also prefixes
# rule ids with the rules file's folder as a dotted path (`work.main.examples.<id>`); dropping it
# gives the ids semgrep reports when the rules file sits in the scanned folder.
"$bin/python" - "$out" "$app" "$here" <<'PY'
import pathlib, sys
out, app, rules_dir = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
rule_prefix = rules_dir.strip("/").replace("/", ".") + "."
for f in out.rglob("*"):
    if f.is_file():
        text = f.read_text(encoding="utf-8")
        cleaned = text.replace(app + "/", "").replace(app, ".")
        if f.name == "semgrep.json":
            cleaned = cleaned.replace('"' + rule_prefix, '"')
        if cleaned != text:
            f.write_text(cleaned, encoding="utf-8")
PY

find "$out" -type f | sort
