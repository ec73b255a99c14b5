#!/usr/bin/env bash
# A just-in-time runner loop: for each job a fresh single-use registration, then the runner takes
# exactly one job and unregisters itself; the loop registers the next one. Installed by
# `sudo runner/setup-macos.sh --runner-loop ...` as a LaunchDaemon that runs as root, so the
# organization token that creates registrations stays with root while each job runs as the
# runner's own unprivileged user (which never sees that token).
#
#   jit-runner.sh --url https://github.com/ORG --runner-dir DIR --runner-user USER --token-file FILE
#                 [--group secai] [--labels secai] [--name PREFIX] [--once]
#
#   --url          the organization's URL on github.com or on a GitHub Enterprise Server
#                  (https://ghes.example.com/ORG); the API is api.github.com or https://HOST/api/v3
#   --runner-dir   the unpacked actions runner (run.sh), owned by --runner-user
#   --runner-user  the dedicated user each job runs as (no admin rights, no secrets)
#   --token-file   a root-only file (mode 600) holding a token that may create runner registrations
#                  (a GitHub App installation token or a fine-grained token: organization
#                  self-hosted runners, read and write)
#   --group        the runner group (default secai); --labels: comma-separated (default secai)
#   --once         one registration and one job, then exit (for a test or a manual run)
set -euo pipefail

die() {
  echo "jit-runner.sh: $*" >&2
  exit 1
}

url="" dir="" user="" token_file="" group="secai" labels="secai" prefix="secai-$(hostname -s 2>/dev/null || echo mac)"
once=false
while [ $# -gt 0 ]; do
  case "$1" in
    --url) [ $# -ge 2 ] || die "--url needs a URL"; url="$2"; shift 2 ;;
    --runner-dir) [ $# -ge 2 ] || die "--runner-dir needs a folder"; dir="$2"; shift 2 ;;
    --runner-user) [ $# -ge 2 ] || die "--runner-user needs a user"; user="$2"; shift 2 ;;
    --token-file) [ $# -ge 2 ] || die "--token-file needs a file"; token_file="$2"; shift 2 ;;
    --group) [ $# -ge 2 ] || die "--group needs a name"; group="$2"; shift 2 ;;
    --labels) [ $# -ge 2 ] || die "--labels needs labels"; labels="$2"; shift 2 ;;
    --name) [ $# -ge 2 ] || die "--name needs a prefix"; prefix="$2"; shift 2 ;;
    --once) once=true; shift ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
if [ -z "$url" ] || [ -z "$dir" ] || [ -z "$user" ] || [ -z "$token_file" ]; then
  die "--url, --runner-dir, --runner-user and --token-file are required"
fi
[[ "$url" =~ ^(https?)://([A-Za-z0-9.-]+(:[0-9]+)?)/([A-Za-z0-9_.-]+)/?$ ]] \
  || die "--url must be https://HOST/ORG (github.com or a GHES host), got '$url'"
scheme="${BASH_REMATCH[1]}" host="${BASH_REMATCH[2]}" org="${BASH_REMATCH[4]}"
if [ "$host" = github.com ]; then
  api="https://api.github.com"
else
  api="${SECAI_GITHUB_API_URL:-$scheme://$host/api/v3}"
fi
[ -x "$dir/run.sh" ] || die "$dir/run.sh not found: unpack the actions runner there first"
[ -f "$token_file" ] || die "$token_file not found"
if [ "$(stat -c %a "$token_file" 2>/dev/null || stat -f %Lp "$token_file")" != 600 ]; then
  die "$token_file must be readable by its owner only (chmod 600)"
fi

# GitHub's JSON read by Python (no shell parsing of untrusted text); the token goes to curl on
# stdin as a header, never on a command line.
py="$(command -v python3)" || die "python3 not found"
gh_api() {
  local method="$1" path="$2" body="${3:-}"
  printf 'Authorization: Bearer %s\n' "$(cat "$token_file")" \
    | curl --silent --show-error --fail --max-time 60 -X "$method" -H @- \
      -H "Accept: application/vnd.github+json" -H "X-GitHub-Api-Version: 2022-11-28" \
      ${body:+--data "$body"} "$api$path"
}

group_id() {
  gh_api GET "/orgs/$org/actions/runner-groups?per_page=100" \
    | "$py" -c 'import json, sys
groups = json.load(sys.stdin).get("runner_groups", [])
print(next((g["id"] for g in groups if g.get("name") == sys.argv[1]), ""))' "$group"
}

# One job, as the runner's own user (root's loop switches to it; a loop run as that user runs it).
run_one() {
  if [ "$(id -un)" = "$user" ]; then
    (cd "$dir" && ./run.sh --jitconfig "$1")
  else
    (cd "$dir" && sudo -n -u "$user" -H ./run.sh --jitconfig "$1")
  fi
}

delay=5
while true; do
  ok=false
  if gid="$(group_id)" && [ -n "$gid" ]; then
    name="$prefix-$(date +%s)-$$"
    body="$("$py" -c 'import json, sys
print(json.dumps({"name": sys.argv[1], "runner_group_id": int(sys.argv[2]),
                  "labels": [l for l in sys.argv[3].split(",") if l], "work_folder": "_work"}))' \
      "$name" "$gid" "$labels")"
    if config="$(gh_api POST "/orgs/$org/actions/runners/generate-jitconfig" "$body" \
        | "$py" -c 'import json, sys; print(json.load(sys.stdin)["encoded_jit_config"])')"; then
      echo "jit-runner.sh: registered $name in group $group; waiting for one job"
      ok=true
      run_one "$config" || echo "jit-runner.sh: the runner exited with $?" >&2
    else
      echo "jit-runner.sh: could not create a registration" >&2
    fi
  else
    echo "jit-runner.sh: runner group '$group' not found in $org, or the API failed" >&2
  fi
  if [ "$once" = true ]; then
    [ "$ok" = true ] || exit 1
    break
  fi
  if [ "$ok" = true ]; then
    delay=5
    sleep 2
  else
    echo "jit-runner.sh: retrying in ${delay}s" >&2
    sleep "$delay"
    delay=$(( delay < 300 ? delay * 2 : 300 ))
  fi
done
