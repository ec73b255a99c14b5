"""Listing a repository's code scanning alerts with PyGithub (`fetch`); the alert model and the
run folder's `alerts.json` live in `secai.triage.alerts`. A repository where code scanning is off,
has no analysis, or whose token lacks `security_events` (HTTP 403/404) gives a one-line note, never
a failure."""

from __future__ import annotations

from secai.errors import GitHubError
from secai.triage.alerts import MAX_ALERTS

#: Statuses that mean "no code scanning here (or not for this token)": a note, not a failure.
_NOT_AVAILABLE = {403, 404}


def fetch_alerts(client, repo: str) -> tuple[list[dict] | None, str]:
    """Every alert of `repo` (raw REST JSON, all pages) and a one-line note; None (with the reason)
    when code scanning is not available to this token."""
    from github import GithubException

    from secai.github.client import describe

    try:
        pages = client.repo(repo).get_codescan_alerts()
        raw = []
        for alert in pages:
            raw.append(alert.raw_data)
            if len(raw) >= MAX_ALERTS:
                break
    except GithubException as e:
        if e.status in _NOT_AVAILABLE:
            return None, f"{repo}: no code scanning alerts read ({describe(e)})"
        raise GitHubError(f"{repo}: listing code scanning alerts: {describe(e)}") from None
    except GitHubError as e:
        if any(f"HTTP {s}" in str(e) for s in _NOT_AVAILABLE):
            return None, f"{repo}: no code scanning alerts read ({e})"
        raise
    states: dict[str, int] = {}
    for a in raw:
        s = str(a.get("state")) if isinstance(a, dict) else "?"
        states[s] = states.get(s, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "none"
    return raw, f"{repo}: {len(raw)} code scanning alert(s) ({summary})"
