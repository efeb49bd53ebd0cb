"""What a GitHub delivery asks of us: which PR workflow, what (an outbox intent), with which argument.

Pure functions over the parsed payload, so the webhook route stays a few lines and this is easy to test.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from outbox.intents import Intent
from outbox.pull_requests import NotACommit, pull_request_push
from workflows.lifetime import DURATION_HELP, extension_hours
from workflows.markdown import code_span
from workflows.signals import CloseSignal, CommandSignal, PushSignal, RefusalSignal

PUSH_ACTIONS = frozenset({"opened", "reopened", "synchronize", "ready_for_review"})
# The words a `/preview` comment may use (the PR's own syntax, shown to people); the workflow carries
# them out for people with push access to the repository.
COMMANDS = frozenset({"redeploy", "destroy", "approve", "keep", "unpin", "extend", "reset-db"})
USAGE = (
    "use `/preview redeploy`, `/preview destroy`, `/preview approve`, `/preview keep`, "
    "`/preview unpin`, `/preview extend 3d` or `/preview reset-db`"
)
COMMAND = re.compile(r"\A/preview(?:[ \t]+(\S+))?(?:[ \t]+(\S+))?[ \t]*\Z", re.IGNORECASE)


class MalformedPayload(ValueError):
    pass


def push_signal(pull: dict[str, Any], base_repo_id: int, delivery_id: str) -> PushSignal:
    try:
        return pull_request_push(pull, base_repo_id, delivery_id)
    except NotACommit as error:
        raise MalformedPayload(str(error)) from None


@dataclass(frozen=True)
class PullRequestEvent:
    repo_id: int
    pr_number: int
    intent: Intent
    args: dict[str, Any]


def pull_request_event(
    action: str | None, payload: dict[str, Any], delivery_id: str
) -> PullRequestEvent | None:
    """What a `pull_request` delivery asks, or None for actions we do not act on."""
    if action not in PUSH_ACTIONS and action != "closed":
        return None
    try:
        pull = payload["pull_request"]
        number = int(payload.get("number") or pull["number"])
        repo_id = int(payload["repository"]["id"])
        if action == "closed":
            close = CloseSignal(delivery_id=delivery_id, merged=bool(pull.get("merged")))
            return PullRequestEvent(repo_id, number, Intent.CLOSE, asdict(close))
        push = push_signal(pull, repo_id, delivery_id)
    except MalformedPayload:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise MalformedPayload(f"pull_request payload is missing {error}") from None
    return PullRequestEvent(repo_id, number, Intent.PUSH, asdict(push))


def issue_comment_event(
    action: str | None, payload: dict[str, Any], delivery_id: str
) -> PullRequestEvent | None:
    """A `/preview …` command in a new comment on a pull request, or None for any other comment."""
    if action != "created":
        return None
    try:
        issue, comment = payload["issue"], payload["comment"]
        if not issue.get("pull_request"):
            return None  # a comment on a plain issue
        if (comment.get("user") or {}).get("type") == "Bot":
            return None  # our own sticky comment, or another bot's
        match = COMMAND.match(str(comment.get("body") or "").strip().split("\n", 1)[0].strip())
        if match is None:
            return None
        number = int(issue["number"])
        repo_id = int(payload["repository"]["id"])
        who = str((comment.get("user") or {}).get("login") or "")[:100]
        created_at = str(comment.get("created_at") or "")[:40]
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise MalformedPayload(f"issue_comment payload is missing {error}") from None
    command, argument = (match.group(1) or "").lower(), match.group(2) or ""
    # Refused without asking GitHub about its author: it would be refused whoever wrote it.
    reason = ""
    if command not in COMMANDS:
        unknown = (
            f"{code_span('/preview ' + command)} is not a command" if command else "a command is missing"
        )
        reason = f"{unknown}; {USAGE}."
    elif command == "extend" and extension_hours(argument) is None:
        given = code_span(f"/preview extend {argument}".strip())
        reason = f"{given} was not carried out: it needs {DURATION_HELP}."
    if reason:
        refusal = RefusalSignal(requested_by=who, command=command, reason=reason, request_id=delivery_id)
        return PullRequestEvent(repo_id, number, Intent.REFUSE, asdict(refusal))
    # Who may run it is GitHub's to say (push access to the repository), asked by the workflow in an
    # activity: this handler makes no outbound call, and `author_association` is not a permission
    # (an organization MEMBER may have no access to this repository).
    signal = CommandSignal(
        command=command, argument=argument[:100], requested_by=who, request_id=delivery_id,
        created_at=created_at,
    )  # fmt: skip
    return PullRequestEvent(repo_id, number, Intent.COMMAND, asdict(signal))
