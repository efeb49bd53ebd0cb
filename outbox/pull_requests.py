"""A PR's head as GitHub describes it, made into the push its workflow receives: the webhook, the
dashboard's one-click deploy and the drift reconcile all build it here, so each push carries the
same fields."""

from __future__ import annotations

from typing import Any

from workflows.signals import PushSignal


class NotACommit(ValueError):
    pass


def _is_sha(value: str) -> bool:
    return 7 <= len(value) <= 64 and all(c in "0123456789abcdef" for c in value.lower())


def pull_request_push(pull: dict[str, Any], base_repo_id: int, delivery_id: str) -> PushSignal:
    """A PR's head as GitHub describes it (a webhook's `pull_request`, or the REST API's pull, which
    has the same shape): every writer of a push builds it here, so each carries the same fields."""
    sha = str(pull["head"]["sha"])
    if not _is_sha(sha):
        raise NotACommit("pull_request.head.sha is not a commit sha")
    base = pull.get("base") or {}
    base_sha = str(base.get("sha") or "")
    return PushSignal(
        sha=sha,
        title=str(pull.get("title") or "")[:300],
        author=str((pull.get("user") or {}).get("login") or "")[:100],
        delivery_id=delivery_id,
        fork=head_is_fork(pull, base_repo_id),
        updated_at=str(pull.get("updated_at") or "")[:40],
        # Branch names are PR-controlled: kept short, shown, never used to fetch or run anything.
        head_ref=str(pull["head"].get("ref") or "")[:255],
        base_ref=str(base.get("ref") or "")[:255],
        # A malformed one is dropped: a fork then waits for approval (no base to compare with).
        base_sha=base_sha if _is_sha(base_sha) and base_sha.strip("0") else "",
    )


def head_is_fork(pull: dict[str, Any], base_repo_id: int) -> bool:
    """A head in another repository: a fork, or a fork deleted since (GitHub then sends `repo: null`)."""
    head_repo = (pull.get("head") or {}).get("repo")
    if not isinstance(head_repo, dict):
        return True
    return bool(head_repo.get("fork")) or int(head_repo.get("id") or 0) != base_repo_id
