"""How long a preview lives: `/preview extend` durations, and when an expiry falls due.

Pure functions with no imports beyond the standard library: the web app validates a command with them
before it reaches the workflow, and the workflow (in Temporal's sandbox) decides with the same ones.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

# `/preview extend 3d`: a whole number of hours, days or weeks.
DURATION = re.compile(r"\A([1-9][0-9]{0,3})([hdw])\Z", re.IGNORECASE)
HOURS_PER_UNIT = {"h": 1, "d": 24, "w": 24 * 7}
# An extension reaches at most this far past now: a forgotten preview still goes away in the end.
MAX_EXTENSION_DAYS = 90
DURATION_HELP = f"a duration such as `12h`, `3d` or `1w`, at most {MAX_EXTENSION_DAYS} days"


def extension_hours(text: str) -> int | None:
    """`12h`, `3d`, `1w` as hours; None for anything else or more than MAX_EXTENSION_DAYS."""
    match = DURATION.match(text.strip())
    if match is None:
        return None
    hours = int(match[1]) * HOURS_PER_UNIT[match[2].lower()]
    return hours if hours <= MAX_EXTENSION_DAYS * 24 else None


def deadline(
    *,
    counted_from: datetime,
    last_request: datetime | None,
    after: timedelta,
    extended_until: datetime | None,
) -> datetime:
    """When a preview expires: `after` past the later of its last push and its last request, unless
    someone extended it further."""
    start = max(counted_from, last_request) if last_request else counted_from
    due = start + after
    return max(due, extended_until) if extended_until else due


def shown(moment: datetime) -> str:
    """A moment as the PR comment says it: UTC to the minute."""
    return moment.strftime("%Y-%m-%d %H:%M UTC")
