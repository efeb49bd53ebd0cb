"""Whether a maintainer's approval applies to the fork sha waiting for one. Pure functions of the
signal and the wanted push, so the signal handler and the update's validator give the same answer."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from workflows.markdown import code_span
from workflows.signals import ApproveSignal, PushSignal

FULL_SHA = re.compile(r"\A[0-9a-fA-F]{40}\Z")


def approval_problem(signal: ApproveSignal, desired: PushSignal | None) -> str | None:
    """Why an approval does not apply to the sha waiting for one, or None when it does."""
    if desired is None:
        return "there is no commit waiting for approval."
    if not desired.fork:
        return "this pull request does not come from a fork; there is nothing to approve."
    short = desired.sha[:12]
    if signal.sha:
        # Never a prefix: a short one (7 characters are 28 bits) can be matched by a look-alike commit
        # ground out and force-pushed after the maintainer reviewed the real one.
        if not FULL_SHA.match(signal.sha):
            return (
                f"{code_span(signal.sha)} is not a full commit sha; approve with all 40 characters of "
                f"`{short}…`, or `/preview approve` alone for the newest commit. Nothing was approved."
            )
        if desired.sha.lower() != signal.sha.lower():
            return (
                f"{code_span(signal.sha)} is not this pull request's newest commit (`{short}`); "
                "nothing was approved."
            )
        return None
    # Without a sha, an approval only covers what the maintainer could have seen: a push that GitHub
    # stamped at or after the approval's time is a commit they did not look at.
    approved_at, pushed_at = _instant(signal.created_at), _instant(desired.updated_at)
    if approved_at is None or (pushed_at is not None and approved_at <= pushed_at):
        return f"commit `{short}` was pushed after your approval; comment `/preview approve` again."
    return None


def _instant(value: str) -> datetime | None:
    try:
        instant = datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        return None
    # GitHub's times carry a zone; a bare one is taken as UTC rather than failing the comparison.
    return instant.replace(tzinfo=instant.tzinfo or UTC) if instant else None
