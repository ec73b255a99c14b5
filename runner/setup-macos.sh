#!/usr/bin/env bash
# Set up this Apple Silicon Mac for secai. Safe to run again. Every package is hash-pinned
# (requirements/runner.txt); see runner/README.md for the security design.
#
#   runner/setup-macos.sh [--repo OWNER/NAME] [--venv DIR] [--python PYTHON] [--launchd] [--skip-model]
#   sudo runner/setup-macos.sh --runner-venv DIR [--models DIR] [--python PYTHON]
#   sudo runner/setup-macos.sh --runner-loop --url URL --runner-dir DIR --runner-user USER
#   runner/setup-macos.sh --check [--venv DIR] [--repo OWNER/NAME]
#
#   --repo        the repository this Mac serves (used in the printed commands and by --launchd)
#   --venv        where to install secai for you and the watch agent (default: ~/.secai/venv); a
#                 read-only venv built with --runner-venv is used as it is: one venv for both
#   --python      Python 3.11+ to build the venv with (default: the newest python3.1x found, then
#                 Homebrew's, then uv's; uv or Homebrew installs one when none is found)
#   --launchd     also install the polling agent (`secai-runner watch`) as a launchd agent
#   --skip-model  do not download the base model now (it is fetched and verified on first use)
#   --runner-venv as root: build the read-only venv that Actions jobs use (SECAI_VENV)
#   --models      as root, with --runner-venv: pull the base model into this read-only folder
#   --runner-loop as root: a LaunchDaemon that registers a just-in-time runner for each job
#                 (runner/jit-runner.sh), the job running as --runner-user; with --url (the
#                 organization on github.com or a GHES host: https://HOST/ORG), --runner-dir
#                 (the unpacked runner) and the token in /etc/secai/runner-token (mode 600)
#   --github-url  github.com or your GHES URL, for the printed registration commands
#   --check       report what is missing, change nothing (exit 1 when something is)
set -euo pipefail

die() {
  echo "setup-macos.sh: $*" >&2
  exit 1
}

usage() {
  sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'
}

repo=""
venv="${SECAI_VENV:-$HOME/.secai/venv}"
python=""
launchd=false
check=false
runner_loop=false
loop_url=""
runner_dir=""
runner_user=""
github_url="https://github.com"
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
    --runner-loop) runner_loop=true; shift ;;
    --url) [ $# -ge 2 ] || die "--url needs https://HOST/ORG"; loop_url="$2"; shift 2 ;;
    --runner-dir) [ $# -ge 2 ] || die "--runner-dir needs a folder"; runner_dir="$2"; shift 2 ;;
    --runner-user) [ $# -ge 2 ] || die "--runner-user needs a user"; runner_user="$2"; shift 2 ;;
    --github-url) [ $# -ge 2 ] || die "--github-url needs a URL"; github_url="${2%/}"; shift 2 ;;
    --check) check=true; shift ;;
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

if ! [[ "$github_url" =~ ^https?://[A-Za-z0-9.-]+(:[0-9]+)?$ ]]; then
  die "--github-url must be https://HOST (github.com or your GHES), got '$github_url'"
fi

# -- Python 3.11+ ----------------------------------------------------------------------------------
# macOS's own python3 is often 3.9: take the newest 3.11+ on PATH, then Homebrew's, then uv's.
py_ok() {
  command -v "$1" >/dev/null 2>&1 && "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null
}
find_python() {
  local p
  for p in python3.13 python3.12 python3.11 python3 \
    /opt/homebrew/bin/python3.13 /opt/homebrew/bin/python3.12 /opt/homebrew/bin/python3.11; do
    if py_ok "$p"; then command -v "$p"; return 0; fi
  done
  if command -v uv >/dev/null 2>&1 && p="$(uv python find '>=3.11' 2>/dev/null)" && py_ok "$p"; then
    echo "$p"; return 0
  fi
  return 1
}
if [ -n "$python" ]; then
  command -v "$python" >/dev/null 2>&1 || die "$python not found; install Python 3.11 or newer or drop --python"
  py_ok "$python" || die "$("$python" -V 2>&1) is too old; secai needs Python 3.11 or newer (pass --python)"
elif ! python="$(find_python)"; then
  if [ "$check" = true ]; then
    python=""
  elif command -v uv >/dev/null 2>&1; then
    echo "No Python 3.11+ found; installing Python 3.12 with uv"
    uv python install 3.12 || die "uv could not install Python 3.12"
    python="$(uv python find 3.12)"
  elif command -v brew >/dev/null 2>&1; then
    echo "No Python 3.11+ found; installing python@3.12 with Homebrew"
    brew install python@3.12 || die "brew could not install python@3.12"
    python="$(brew --prefix)/bin/python3.12"
  else
    die "no Python 3.11 or newer: install uv (https://docs.astral.sh/uv/) or Homebrew, or pass --python"
  fi
fi

src="$(cd "$(dirname "$0")/.." && pwd)"
[ -f "$src/pyproject.toml" ] || die "cannot find the secai source next to this script ($src)"

# -- --check: what is there and what is missing; nothing is changed ------------------------------------
if [ "$check" = true ]; then
  missing=0
  ok() { echo "ok       $*"; }
  miss() { echo "missing  $*"; missing=$((missing + 1)); }
  note() { echo "note     $*"; }
  ok "macOS on Apple Silicon ($(uname -m))"
  if [ -n "$python" ]; then
    ok "Python 3.11+: $python ($("$python" -V 2>&1))"
  else
    miss "Python 3.11 or newer (install uv or Homebrew; then this script installs Python 3.12)"
  fi
  if [ -x "$venv/bin/secai-runner" ]; then
    ok "secai in $venv: $("$venv/bin/secai-runner" --version 2>&1)"
  else
    miss "secai in $venv (run $0 without --check)"
  fi
  if [ -n "${SECAI_VENV:-}" ]; then
    if [ -n "$python" ] && why="$("$python" "$src/runner/prebuilt_venv.py" check "$SECAI_VENV" "$src" 2>&1)"; then
      ok "the jobs' read-only venv SECAI_VENV=$SECAI_VENV"
    else
      miss "a usable jobs' venv at SECAI_VENV=$SECAI_VENV: ${why:-no Python to check it} (sudo $0 --runner-venv $SECAI_VENV)"
    fi
  else
    note "SECAI_VENV is not set: each job builds a fresh venv (faster: sudo $0 --runner-venv /opt/secai/venv)"
  fi
  if [ -f "$HOME/Library/LaunchAgents/com.secai.watch.plist" ]; then
    ok "the polling agent (com.secai.watch)"
  else
    note "no polling agent (optional: $0 --repo OWNER/NAME --launchd, as the agent's own user)"
  fi
  if [ -f /Library/LaunchDaemons/com.secai.runner.plist ]; then
    ok "the just-in-time runner loop (com.secai.runner)"
    if [ ! -f /etc/secai/runner-token ]; then
      miss "the registration token file /etc/secai/runner-token (mode 600, root)"
    fi
  else
    note "no just-in-time runner loop (optional: sudo $0 --runner-loop --url $github_url/ORG --runner-dir DIR --runner-user USER)"
  fi
  echo "$missing missing"
  [ "$missing" -eq 0 ] || exit 1
  exit 0
fi

# Every dependency hash-pinned from requirements/runner.txt; then secai itself, resolving nothing.
install_secai() {
  "$1/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
    -r "$src/requirements/runner.txt"
  "$1/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation "$src"
}

# -- the just-in-time runner loop (as root) -------------------------------------------------------------
if [ "$runner_loop" = true ]; then
  [ "$(id -u)" = 0 ] || die "--runner-loop must run as root (sudo): the loop holds the token that registers runners"
  if [ -z "$loop_url" ] || [ -z "$runner_dir" ] || [ -z "$runner_user" ]; then
    die "--runner-loop needs --url https://HOST/ORG, --runner-dir DIR and --runner-user USER"
  fi
  [[ "$loop_url" =~ ^https?://[A-Za-z0-9.-]+(:[0-9]+)?/[A-Za-z0-9_.-]+/?$ ]] || die "--url must be https://HOST/ORG, got '$loop_url'"
  id "$runner_user" >/dev/null 2>&1 || die "no user $runner_user"
  if [ "$runner_user" = root ] || dseditgroup -o checkmember -m "$runner_user" admin >/dev/null 2>&1; then
    die "--runner-user must be a dedicated user without admin rights (jobs run workflow code as it)"
  fi
  [ -x "$runner_dir/run.sh" ] || die "$runner_dir/run.sh not found: unpack the actions runner there first"
  libexec=/usr/local/libexec/secai
  install -d -o root -g wheel -m 755 "$libexec"
  install -o root -g wheel -m 755 "$src/runner/jit-runner.sh" "$libexec/jit-runner.sh"
  install -d -o root -g wheel -m 700 /etc/secai
  plist=/Library/LaunchDaemons/com.secai.runner.plist
  "$python" - "$src/runner/com.secai.runner.plist" "$plist" "$libexec/jit-runner.sh" "$loop_url" "$runner_dir" "$runner_user" <<'PY'
import sys
from xml.sax.saxutils import escape
template, dest, jit, url, folder, user = sys.argv[1:]
text = open(template, encoding="utf-8").read()
for key, value in {"JIT_RUNNER": jit, "URL": url, "RUNNER_DIR": folder, "RUNNER_USER": user}.items():
    text = text.replace(f"@{key}@", escape(value))
with open(dest, "w", encoding="utf-8") as fh:
    fh.write(text)
PY
  chown root:wheel "$plist"
  chmod 644 "$plist"
  plutil -lint "$plist" >/dev/null || die "$plist: not a valid property list"
  if [ ! -f /etc/secai/runner-token ]; then
    echo "Store the token that may create runner registrations (organization self-hosted runners:"
    echo "read and write) once, readable by root only, then run this again:"
    echo "  sudo install -o root -g wheel -m 600 /dev/stdin /etc/secai/runner-token   # paste, Ctrl-D"
    exit 0
  fi
  launchctl bootout system "$plist" 2>/dev/null || true
  launchctl bootstrap system "$plist"
  echo "Installed $plist: one just-in-time registration per job, each job as $runner_user (logs: /var/log/secai-runner.log)."
  exit 0
fi

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
if [ -f "$venv/secai-stamp" ] && [ ! -w "$venv/bin" ]; then
  # The read-only venv built by --runner-venv: the jobs and the watch agent share it as it is.
  echo "Using the read-only venv $venv (built with --runner-venv as root)"
else
  if [ ! -x "$venv/bin/python" ]; then
    echo "Creating the venv $venv"
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv"
  fi
  echo "Installing secai with the ml extra (MLX) into $venv"
  install_secai "$venv"
fi
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

     ./config.sh --url $github_url/$org --token <TOKEN> --runnergroup secai \\
       --no-default-labels --labels secai --ephemeral --unattended

     Build its read-only venv and model as root: sudo runner/setup-macos.sh --runner-venv
     /opt/secai/venv --models /opt/secai/models, and set SECAI_VENV / SECAI_MODEL__CACHE_DIR in
     the runner's .env.
  4. Start it with ./run.sh; an ephemeral runner takes one job. To register a new one for every
     job, let root's launchd loop do it (just-in-time registrations; the token stays with root):
     sudo $0 --runner-loop --url $github_url/$org --runner-dir DIR --runner-user USER

The privileged workflow sends jobs to it with: runs-on: { group: secai, labels: [secai] }
A personal account has no runner groups: never register a self-hosted runner for a public
repository there; use the polling agent (--launchd) instead.
MSG
