"""The one sticky secai comment on a pull request: build the run's report and upsert it."""

from __future__ import annotations

from pathlib import Path

from secai.config import Settings


def post_comment(run_dir: Path, repo: str, pr: int, settings: Settings, client=None):
    """Rebuild the report of `run_dir` and upsert it on `repo#pr`."""
    from secai.github.client import GitHub
    from secai.report.build import marker_comment, write_reports

    body, _ = write_reports(run_dir, settings, repo=repo)
    own = client is None
    client = client or GitHub(settings)
    try:
        return client.upsert_comment(repo, pr, body, marker_comment(settings, repo))
    finally:
        if own:
            client.close()
