"""Whether a maintainer's approval applies to the fork sha waiting for one. Pure functions of the
signal and the wanted push, so the signal handler and the update's validator give the same answer."""

from __future__ import annotations

from datetime import UTC, datetime

from workflows.signals import ApproveSignal, PushSignal


def approval_problem(signal: ApproveSignal, desired: PushSignal | None) -> str | None:
    """Why an approval does not apply to the sha waiting for one, or None when it does."""
    if desired is None:
        return "there is no commit waiting for approval."
    if not desired.fork:
        return "this pull request does not come from a fork; there is nothing to approve."
    short = desired.sha[:12]
    if signal.sha:
        if len(signal.sha) < 7 or not desired.sha.lower().startswith(signal.sha.lower()):
            wrong = signal.sha[:40]
            return f"`{wrong}` is not this pull request's newest commit (`{short}`); nothing was approved."
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
