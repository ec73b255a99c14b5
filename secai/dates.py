"""Dates as recorded by git, scanners and GitHub (ISO 8601, any zone) as comparable points in time."""

from __future__ import annotations

from datetime import UTC, datetime


def when(date: str | None) -> datetime:
    """An ISO 8601 date as a point in time (dates in different zones compare correctly); the
    earliest time for a missing or unreadable date."""
    try:
        d = datetime.fromisoformat((date or "").replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return d if d.tzinfo else d.replace(tzinfo=UTC)
