"""Fork detection and `/preview` comment commands (web/github_events.py)."""

from __future__ import annotations

from typing import Any

import pytest

from outbox.intents import Intent
from tests.unit.test_github_events import opened
from web.github_events import MalformedPayload, issue_comment_event, pull_request_event


def fork_of(payload: dict[str, Any]) -> dict[str, Any]:
    head_repo = payload["pull_request"]["head"]["repo"]
    head_repo.update(id=999001, fork=True, full_name="visitor/Hello-World")
    return payload


def test_a_head_in_the_same_repository_is_not_a_fork() -> None:
    event = pull_request_event("opened", opened(), "d")
    assert event is not None and event.args["fork"] is False


@pytest.mark.parametrize(
    "change",
    [
        fork_of,
        lambda p: p["pull_request"]["head"].update(repo=None) or p,  # the fork was deleted
        lambda p: p["pull_request"]["head"]["repo"].update(id=5) or p,  # another repo, fork flag unset
    ],
    ids=["fork", "deleted-fork", "other-repository"],
)
def test_heads_from_other_repositories_are_forks(change: Any) -> None:
    event = pull_request_event("synchronize", change(opened()), "d")
    assert event is not None and event.args["fork"] is True


def comment(body: str, association: str = "MEMBER", on_pr: bool = True, **extra: Any) -> dict[str, Any]:
    issue: dict[str, Any] = {"number": 7, "title": "t"}
    if on_pr:
        issue["pull_request"] = {"url": "https://api.github.com/repos/o/r/pulls/7"}
    return {
        "action": "created",
        "issue": issue,
        "comment": {"id": 1, "body": body, "user": {"login": "alice", "type": "User"},
                    "author_association": association, "created_at": "2026-11-25T10:00:00Z", **extra},
        "repository": {"id": 42, "full_name": "o/r"},
    }  # fmt: skip


@pytest.mark.parametrize("association", ["OWNER", "MEMBER", "COLLABORATOR", "NONE", "CONTRIBUTOR", ""])
def test_every_command_goes_to_the_workflow_whatever_author_association_says(association: str) -> None:
    """author_association is not a permission (a MEMBER may lack push): the workflow asks GitHub."""
    redeploy = issue_comment_event("created", comment("/preview redeploy", association), "d1")
    assert redeploy is not None
    assert (redeploy.repo_id, redeploy.pr_number, redeploy.intent) == (42, 7, Intent.COMMAND)
    assert redeploy.args == {"command": "redeploy", "argument": "", "requested_by": "alice",
                             "request_id": "d1", "created_at": "2026-11-25T10:00:00Z"}  # fmt: skip
    destroy = issue_comment_event("created", comment("  /Preview DESTROY \nthanks", association), "d2")
    assert destroy is not None and destroy.intent == Intent.COMMAND and destroy.args["command"] == "destroy"


def test_approve_carries_the_sha_and_the_comment_time() -> None:
    event = issue_comment_event("created", comment("/preview approve abc1234"), "d")
    assert event is not None and event.intent == Intent.COMMAND
    assert event.args == {"command": "approve", "argument": "abc1234", "requested_by": "alice",
                          "request_id": "d", "created_at": "2026-11-25T10:00:00Z"}  # fmt: skip


def test_an_unknown_command_gets_help() -> None:
    event = issue_comment_event("created", comment("/preview deploy-now", "NONE"), "d")
    assert event is not None and event.intent == Intent.REFUSE
    assert "is not a command" in event.args["reason"] and "/preview approve" in event.args["reason"]


def test_a_backtick_in_an_unknown_command_cannot_leave_its_code_span() -> None:
    event = issue_comment_event("created", comment("/preview x`**bold**[link](http://evil)`"), "d")
    assert event is not None and event.intent == Intent.REFUSE
    reason = event.args["reason"]
    assert reason.startswith("`` /preview x`**bold**[link](http://evil)` `` is not a command")


@pytest.mark.parametrize(
    "payload",
    [
        comment("looks good to me"),
        comment("please run /preview redeploy"),  # not at the start of the comment
        comment("/previewer redeploy"),
        comment("/preview redeploy", on_pr=False),  # a plain issue
        comment("/preview redeploy", user={"login": "previewd[bot]", "type": "Bot"}),
    ],
)
def test_other_comments_are_not_commands(payload: dict[str, Any]) -> None:
    assert issue_comment_event("created", payload, "d") is None


def test_edits_and_deletions_are_not_commands() -> None:
    assert issue_comment_event("edited", comment("/preview destroy"), "d") is None
    assert issue_comment_event("deleted", comment("/preview destroy"), "d") is None


def test_a_malformed_comment_payload_is_a_clear_error() -> None:
    with pytest.raises(MalformedPayload, match="issue_comment payload is missing"):
        issue_comment_event("created", {"action": "created", "issue": {"pull_request": {}}}, "d")


@pytest.mark.parametrize(("body", "command", "argument"), [
    ("/preview keep", "keep", ""), ("/preview unpin", "unpin", ""), ("/preview extend 3d", "extend", "3d"),
    ("/preview extend 12H", "extend", "12H"), ("/preview extend 1w", "extend", "1w"),
])  # fmt: skip
def test_lifetime_commands_go_to_the_workflow(body: str, command: str, argument: str) -> None:
    event = issue_comment_event("created", comment(body), "d")
    assert event is not None and event.intent == Intent.COMMAND
    assert (event.args["command"], event.args["argument"]) == (command, argument)


@pytest.mark.parametrize(
    "body",
    [
        "/preview extend",
        "/preview extend soon",
        "/preview extend 91d",
        "/preview extend 0d",
        "/preview extend 14w",
    ],
)
def test_an_extension_without_a_bounded_duration_is_refused_with_help(body: str) -> None:
    event = issue_comment_event("created", comment(body), "d")
    assert event is not None and event.intent == Intent.REFUSE
    reason = event.args["reason"]
    assert "was not carried out" in reason and "`12h`, `3d` or `1w`, at most 90 days" in reason
