#!/usr/bin/env bash
# Regenerate the scanner outputs of tests/data that real scanners make offline (see README.md).
# Needs the scanner venv of examples/regenerate.sh (bandit 1.9.4, semgrep 1.185.0, checkov 3.3.30).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${SCANNER_VENV:-$here/../../.venv-scanners}/bin"
semgrep=("$bin/semgrep" scan --metrics=off --disable-version-check --quiet)

cd "$here/src/columns"
"$bin/bandit" -q -r . -f json -o "$here/columns/bandit-1.9.4.json" || true
"$bin/bandit" -q -r . -f sarif -o "$here/columns/bandit-1.9.4.sarif" || true
"${semgrep[@]}" --config semgrep-rules.yml --json -o "$here/columns/semgrep-1.185.0.json" cols.py
"${semgrep[@]}" --config semgrep-rules.yml --sarif -o "$here/columns/semgrep-1.185.0.sarif" cols.py

cd "$here/src/supply-chain"
"${semgrep[@]}" --config semgrep-rules.yml --json -o "$here/semgrep/semgrep-1.185.0-supply-chain.json" main.py requirements.txt

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && "$bin/checkov" -d . -o json --quiet 2>/dev/null > "$here/checkov/checkov-3.3.30-nothing-to-scan.json")
cat > "$tmp/main.tf" <<'TF'
resource "aws_s3_bucket_public_access_block" "logs" {
  bucket                  = "logs"
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}
TF
(cd "$tmp" && "$bin/checkov" -d . -o json --quiet --framework terraform 2>/dev/null > "$here/checkov/checkov-3.3.30-no-failed-checks.json")
