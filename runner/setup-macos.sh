#!/usr/bin/env bash
# Set up this Apple Silicon Mac as the secai runner. Safe to run again: it reuses the venv,
# upgrades secai in place, keeps the converted model, and reinstalls the launchd agent.
#
#   runner/setup-macos.sh [--repo OWNER/NAME] [--venv DIR] [--python PYTHON] [--launchd] [--skip-model]
#
#   --repo      the repository this runner serves (used in the printed commands and by --launchd)
#   --venv      where to install secai (default: ~/.secai/venv)
#   --python    Python 3.11+ to build the venv with (default: python3)
#   --launchd   also install the polling agent (`secai-runner watch`) as a launchd agent
#   --skip-model  do not download the base model now (it is fetched and verified on first use)
set -euo pipefail

die() {
  echo "setup-macos.sh: $*" >&2
  exit 1
}

usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
}

repo=""
venv="${SECAI_VENV:-$HOME/.secai/venv}"
python="python3"
launchd=false
model=true
while [ $# -gt 0 ]; do
  case "$1" in
    --repo) [ $# -ge 2 ] || die "--repo needs OWNER/NAME"; repo="$2"; shift 2 ;;
    --venv) [ $# -ge 2 ] || die "--venv needs a folder"; venv="$2"; shift 2 ;;
    --python) [ $# -ge 2 ] || die "--python needs an interpreter"; python="$2"; shift 2 ;;
    --launchd) launchd=true; shift ;;
    --skip-model) model=false; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

# -- the host -------------------------------------------------------------------------------------
os="$(uname -s)"
[ "$os" = Darwin ] || die "refusing to run: this sets up a macOS (Apple Silicon) runner, and this host is $os"
arch="$(uname -m)"
if [ "$arch" != arm64 ]; then
  if [ "$(sysctl -n hw.optional.arm64 2>/dev/null || echo 0)" = 1 ]; then
    die "refusing to run: this shell runs under Rosetta ($arch); start a native arm64 shell and run it again"
  fi
  die "refusing to run: secai's runner needs Apple Silicon (arm64), and this Mac is $arch"
fi
if [ -n "$repo" ] && ! [[ "$repo" =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]]; then
  die "--repo must be OWNER/NAME, got '$repo'"
fi
if [ "$launchd" = true ] && [ -z "$repo" ]; then
  die "--launchd needs --repo OWNER/NAME"
fi

command -v "$python" >/dev/null 2>&1 || die "$python not found; install Python 3.11 or newer (python.org or Homebrew) or pass --python"
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || die "$("$python" -V 2>&1) is too old; secai needs Python 3.11 or newer (pass --python)"

src="$(cd "$(dirname "$0")/.." && pwd)"
[ -f "$src/pyproject.toml" ] || die "cannot find the secai source next to this script ($src)"

# -- secai with the ml extra ------------------------------------------------------------------------
if [ ! -x "$venv/bin/python" ]; then
  echo "Creating the venv $venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv"
fi
echo "Installing secai with the ml extra (MLX) into $venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "${src}[ml]"
runner="$venv/bin/secai-runner"
"$runner" --version

if [ "$model" = true ]; then
  echo "Pulling the base model (model.name auto: the pinned coder model from the Hub; once, verified)"
  "$runner" model pull
fi

# -- the polling agent (optional) --------------------------------------------------------------------
if [ "$launchd" = true ]; then
  agents="$HOME/Library/LaunchAgents"
  plist="$agents/com.secai.watch.plist"
  logs="$HOME/Library/Logs/secai"
  mkdir -p "$agents" "$logs"
  "$venv/bin/python" - "$src/runner/com.secai.watch.plist" "$plist" "$runner" "$repo" "$logs" "$HOME" <<'PY'
import sys
from xml.sax.saxutils import escape
template, dest, runner, repo, logs, home = sys.argv[1:]
text = open(template, encoding="utf-8").read()
for key, value in {"SECAI_RUNNER": runner, "REPO": repo, "LOG_DIR": logs, "HOME": home}.items():
    text = text.replace(f"@{key}@", escape(value))
with open(dest, "w", encoding="utf-8") as fh:
    fh.write(text)
PY
  plutil -lint "$plist" >/dev/null || die "$plist: not a valid property list"
  domain="gui/$(id -u)"
  launchctl bootout "$domain" "$plist" 2>/dev/null || true
  launchctl bootstrap "$domain" "$plist"
  echo "Installed the launchd agent $plist (logs: $logs/watch.log)."
  echo "It reads the GitHub token from your login keychain. Store it once with:"
  echo "  security add-generic-password -U -s secai-github -a \"\$USER\" -w"
  echo "then restart the agent: launchctl kickstart -k $domain/com.secai.watch"
fi

# -- registration as a GitHub Actions runner ----------------------------------------------------------
shown_repo="${repo:-OWNER/REPO}"
cat <<MSG

secai is installed. To run it as a job of your workflows (the "process" command of the action),
register this Mac as a self-hosted runner of $shown_repo:

  1. In the repository settings, under Actions > Runners, choose "New self-hosted runner",
     macOS, ARM64. Download and unpack the runner it offers into a folder of its own, and copy
     the registration token it shows (valid for one hour).
  2. In that folder run:

     ./config.sh --url https://github.com/$shown_repo --token <TOKEN> --labels self-hosted,macOS,ARM64,secai

     Add --ephemeral to take exactly one job per registration (recommended).
  3. Start it with ./run.sh, or as a service with ./svc.sh install && ./svc.sh start.

Workflows then send jobs to it with: runs-on: [self-hosted, macOS, ARM64, secai]
Only use it for private repositories or with the fork-safe workflow_run pattern (runner/README.md).
MSG
