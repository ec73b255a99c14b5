#!/usr/bin/env bash
# Set up this Apple Silicon Mac for secai. Safe to run again. Every package is hash-pinned
# (requirements/runner.txt); see runner/README.md for the security design.
#
#   runner/setup-macos.sh [--repo OWNER/NAME] [--venv DIR] [--python PYTHON] [--launchd] [--skip-model]
#   sudo runner/setup-macos.sh --runner-venv DIR [--models DIR] [--python PYTHON]
#
#   --repo        the repository this Mac serves (used in the printed commands and by --launchd)
#   --venv        where to install secai for you and the watch agent (default: ~/.secai/venv)
#   --python      Python 3.11+ to build the venv with (default: python3)
#   --launchd     also install the polling agent (`secai-runner watch`) as a launchd agent
#   --skip-model  do not download the base model now (it is fetched and verified on first use)
#   --runner-venv as root: build the read-only venv that Actions jobs use (SECAI_VENV)
#   --models      as root, with --runner-venv: pull the base model into this read-only folder
set -euo pipefail

die() {
  echo "setup-macos.sh: $*" >&2
  exit 1
}

usage() {
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
}

repo=""
venv="${SECAI_VENV:-$HOME/.secai/venv}"
python="python3"
launchd=false
model=true
runner_venv=""
models=""
while [ $# -gt 0 ]; do
  case "$1" in
    --repo) [ $# -ge 2 ] || die "--repo needs OWNER/NAME"; repo="$2"; shift 2 ;;
    --venv) [ $# -ge 2 ] || die "--venv needs a folder"; venv="$2"; shift 2 ;;
    --python) [ $# -ge 2 ] || die "--python needs an interpreter"; python="$2"; shift 2 ;;
    --launchd) launchd=true; shift ;;
    --skip-model) model=false; shift ;;
    --runner-venv) [ $# -ge 2 ] || die "--runner-venv needs a folder"; runner_venv="$2"; shift 2 ;;
    --models) [ $# -ge 2 ] || die "--models needs a folder"; models="$2"; shift 2 ;;
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
if [ -n "$models" ] && [ -z "$runner_venv" ]; then
  die "--models goes with --runner-venv"
fi
if [ -n "$runner_venv" ] && [ "$(id -u)" != 0 ]; then
  die "--runner-venv must run as root (sudo), so that the jobs' user cannot change what it builds"
fi

command -v "$python" >/dev/null 2>&1 || die "$python not found; install Python 3.11 or newer (python.org or Homebrew) or pass --python"
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || die "$("$python" -V 2>&1) is too old; secai needs Python 3.11 or newer (pass --python)"

src="$(cd "$(dirname "$0")/.." && pwd)"
[ -f "$src/pyproject.toml" ] || die "cannot find the secai source next to this script ($src)"

# Every dependency hash-pinned from requirements/runner.txt; then secai itself, resolving nothing.
install_secai() {
  "$1/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
    -r "$src/requirements/runner.txt"
  "$1/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation "$src"
}

# -- the read-only venv and models for Actions jobs (as root) ----------------------------------------
if [ -n "$runner_venv" ]; then
  echo "Building the jobs' venv $runner_venv (owned by root, read-only to everyone else)"
  rm -rf "$runner_venv"
  mkdir -p "$(dirname "$runner_venv")"
  "$python" -m venv "$runner_venv"
  install_secai "$runner_venv"
  "$python" "$src/runner/prebuilt_venv.py" stamp "$src" > "$runner_venv/secai-stamp"
  if [ -n "$models" ]; then
    echo "Pulling the base model into $models"
    mkdir -p "$models"
    SECAI_MODEL__CACHE_DIR="$models" "$runner_venv/bin/secai-runner" model pull
    chown -R root:wheel "$models"
    chmod -R go-w "$models"
  fi
  chown -R root:wheel "$runner_venv"
  chmod -R go-w "$runner_venv"
  cat <<MSG

Done. In the .env file of each runner of the secai group (next to its run.sh), set:
  SECAI_VENV=$runner_venv${models:+
  SECAI_MODEL__CACHE_DIR=$models}
The action's process step then uses them only while no file in them belongs to the jobs' user.
Run this again (as root) after updating the secai action.
MSG
  exit 0
fi

# -- secai with the ml extra, for you and the watch agent ----------------------------------------------
if [ ! -x "$venv/bin/python" ]; then
  echo "Creating the venv $venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv"
fi
echo "Installing secai with the ml extra (MLX) into $venv"
install_secai "$venv"
runner="$venv/bin/secai-runner"
"$runner" --version

if [ "$model" = true ]; then
  echo "Pulling the base model (model.name auto: the pinned coder model from the Hub; once, verified)"
  "$runner" model pull
fi

# -- the polling agent (optional) --------------------------------------------------------------------
if [ "$launchd" = true ]; then
  # The agent reads its token from this user's login keychain through /usr/bin/security, which any
  # process of the same user can run: an Actions runner (whose jobs run workflow code) must never
  # run as this user.
  if [ -f "$HOME/actions-runner/.runner" ] || pgrep -u "$(id -u)" -f Runner.Listener >/dev/null 2>&1; then
    die "refusing --launchd: an Actions runner runs as $USER, and its jobs could read the agent's token; use a dedicated user for the agent"
  fi
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
  echo "It reads the GitHub token from the login keychain of $USER (a user that runs nothing else)."
  echo "Store a fine-grained token (this repository only: Actions read, Pull requests write) once with:"
  echo "  security add-generic-password -U -s secai-github -a \"\$USER\" -T /usr/bin/security -w"
  echo "then restart the agent: launchctl kickstart -k $domain/com.secai.watch"
fi

# -- registration as a GitHub Actions runner ----------------------------------------------------------
shown_repo="${repo:-OWNER/REPO}"
org="${shown_repo%%/*}"
cat <<MSG

secai is installed. To run the action's process step on this Mac as an Actions job (an
organization's repository; step by step in runner/README.md):

  1. Organization settings > Actions > Runner groups: a group "secai" with repository access to
     $shown_repo only and workflow access to the selected workflow
     $shown_repo/.github/workflows/secai-privileged.yml@refs/heads/main only.
  2. Repository settings > Actions > General: "Require approval for all outside collaborators".
  3. As a dedicated user without admin rights (not you, not the watch agent's user), unpack the
     runner in a folder of its own and register it with a registration token:

     ./config.sh --url https://github.com/$org --token <TOKEN> --runnergroup secai \\
       --no-default-labels --labels secai --ephemeral --unattended

     Build its read-only venv and model as root: sudo runner/setup-macos.sh --runner-venv
     /opt/secai/venv --models /opt/secai/models, and set SECAI_VENV / SECAI_MODEL__CACHE_DIR in
     the runner's .env.
  4. Start it with ./run.sh; an ephemeral runner takes one job, so register it again after each
     (runner/README.md shows a just-in-time loop).

The privileged workflow sends jobs to it with: runs-on: { group: secai, labels: [secai] }
A personal account has no runner groups: never register a self-hosted runner for a public
repository there; use the polling agent (--launchd) instead.
MSG
