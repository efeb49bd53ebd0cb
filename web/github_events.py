"""What a GitHub delivery asks of us: which PR workflow, which signal, with which argument.

Pure functions over the parsed payload, so the webhook route stays a few lines and this is easy to test.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from workflows.signals import CloseSignal, PushSignal

PUSH_ACTIONS = frozenset({"opened", "reopened", "synchronize", "ready_for_review"})


class MalformedPayload(ValueError):
    pass


@dataclass(frozen=True)
class PullRequestEvent:
    repo_id: int
    pr_number: int
    signal: str
    args: dict[str, Any]


def pull_request_event(
    action: str | None, payload: dict[str, Any], delivery_id: str
) -> PullRequestEvent | None:
    """The signal a `pull_request` delivery maps to, or None for actions we do not act on."""
    if action not in PUSH_ACTIONS and action != "closed":
        return None
    try:
        pull = payload["pull_request"]
        number = int(payload.get("number") or pull["number"])
        repo_id = int(payload["repository"]["id"])
        if action == "closed":
            close = CloseSignal(delivery_id=delivery_id, merged=bool(pull.get("merged")))
            return PullRequestEvent(repo_id, number, "close", asdict(close))
        sha = str(pull["head"]["sha"])
        title = str(pull.get("title") or "")
        author = str((pull.get("user") or {}).get("login") or "")
    except (KeyError, TypeError, ValueError) as error:
        raise MalformedPayload(f"pull_request payload is missing {error}") from None
    if len(sha) < 7 or not all(c in "0123456789abcdef" for c in sha.lower()):
        raise MalformedPayload("pull_request.head.sha is not a commit sha")
    push = PushSignal(sha=sha, title=title[:300], author=author[:100], delivery_id=delivery_id)
    return PullRequestEvent(repo_id, number, "push", asdict(push))
