"""Echoed text stays inside its code span, whatever backticks or line breaks it holds."""

from __future__ import annotations

import re

import pytest

from workflows.approval import approval_problem
from workflows.markdown import code_span
from workflows.signals import ApproveSignal, PushSignal

SHA = "0123456789abcdef0123456789abcdef01234567"


def _closes_only_at_the_end(span: str) -> bool:
    fence = re.match(r"`+", span)
    assert fence is not None
    inner = span[len(fence.group()) : -len(fence.group())]
    # CommonMark: a span closes at the first backtick run of exactly the opening's length.
    return span.endswith(fence.group()) and all(
        len(run) != len(fence.group()) for run in re.findall(r"`+", inner)
    )


@pytest.mark.parametrize(
    "text", ["abc", "a`b", "``", "`start", "end`", "x```y`` z", "line\n> quote\r\n# head", "", "a" * 500]
)
def test_a_code_span_cannot_be_left(text: str) -> None:
    span = code_span(text)
    assert _closes_only_at_the_end(span) and "\n" not in span and len(span) < 80


def test_approve_takes_only_the_full_sha_and_echoes_what_was_typed_safely() -> None:
    fork = PushSignal(sha=SHA, fork=True, updated_at="2026-11-25T09:00:00Z")
    assert approval_problem(ApproveSignal(sha=SHA), fork) is None
    assert approval_problem(ApproveSignal(sha=SHA.upper()), fork) is None
    for short in (SHA[:7], SHA[:12], SHA[:39]):
        problem = approval_problem(ApproveSignal(sha=short), fork)
        assert problem is not None and "full commit sha" in problem, short
    wrong = approval_problem(ApproveSignal(sha="f" * 40), fork)
    assert wrong is not None and "not this pull request's newest commit" in wrong
    sneaky = approval_problem(ApproveSignal(sha="`](http://evil)`"), fork)
    assert sneaky is not None and "`` `](http://evil)` ``" in sneaky


def test_the_comment_links_to_the_logs_and_never_prints_them() -> None:
    from activities.github.pr_comment import comment_body
    from workflows.activity_io import ReportInput
    from workflows.vocabulary import ReportPhase

    report = ReportInput(
        pr_number=3, sha=SHA, deployment_id="d-1", phase=ReportPhase.FAILED, error="build failed",
        log_tail=["DATABASE_URL=postgres://app:hunter22@db/app", "npm ERR!"],
    )  # fmt: skip
    body = comment_body(report, "https://previewd.example/deployments/d-1")
    assert "hunter22" not in body and "npm ERR!" not in body
    assert "[deployment logs](https://previewd.example/deployments/d-1)" in body
