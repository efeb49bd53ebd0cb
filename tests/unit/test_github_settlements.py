"""The report activity's GitHub side against the loopback GitHub fake: one GitHub Deployment per
previewd deployment, settlements that bring every ended deployment to a final state whatever the
report's own phase, no going back from a final state, and retries that change nothing."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from activities.github.app_auth import GitHubApp
from activities.github.client import GitHubApi
from activities.github.report import Reporter
from tests.fakes.github_api import FakeGitHub, FakeGitHubServer, create_fake_github
from workflows.activity_io import ReportInput, SettledDeployment
from workflows.vocabulary import ReportPhase, Settlement

REPO = "acme/app"
INSTALLATION = 5
PR = 31
SHA1, SHA2, SHA3 = "1" * 40, "2" * 40, "3" * 40
BASE_URL = "http://previewd.test"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PRIVATE = KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)
PUBLIC = KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    fake = create_fake_github(app_id=11, public_key_pem=PUBLIC, seed=31)
    fake.add_installation(INSTALLATION, repos=[REPO])
    yield fake


@pytest.fixture
async def reporter(fake: FakeGitHub) -> AsyncIterator[Reporter]:
    with FakeGitHubServer(fake) as server:
        api = GitHubApi(server.url)
        app = GitHubApp(app_id="11", private_key_pem=PRIVATE, api=api)
        try:
            token = await app.installation_token(INSTALLATION)
            yield Reporter(app, token, REPO, BASE_URL, OrderedDict())
        finally:
            await api.aclose()


def report(deployment_id: str, sha: str, phase: ReportPhase | None, **more: Any) -> ReportInput:
    return ReportInput(
        project_id="p", pr_number=PR, sha=sha, deployment_id=deployment_id, phase=phase, **more
    )


def settled(deployment_id: str, sha: str, outcome: Settlement, by_sha: str = "") -> SettledDeployment:
    return SettledDeployment(deployment_id=deployment_id, sha=sha, outcome=outcome, by_sha=by_sha)


def states(fake: FakeGitHub, sha: str) -> list[list[str]]:
    """Each GitHub Deployment of `sha` on the PR (oldest first): its states, oldest first."""
    ours = [d for d in fake.deployments.get(REPO, []) if d["sha"] == sha and d["environment"] == f"pr-{PR}"]
    return [[s["state"] for s in fake.deployment_statuses[d["id"]]] for d in ours]


def commit(fake: FakeGitHub, sha: str) -> list[tuple[str, str]]:
    return [(s["state"], s["description"]) for s in fake.commit_statuses.get((REPO, sha), [])]


async def test_a_superseded_deployment_ends_inactive_and_its_sha_an_error(
    fake: FakeGitHub, reporter: Reporter
) -> None:
    fake.set_pull(REPO, PR, head_sha=SHA2)
    await reporter.send(report("d1", SHA1, ReportPhase.BUILDING))
    # sha1's own phases stop here; the next report is about sha2 and carries sha1's end.
    await reporter.send(
        report("d2", SHA2, ReportPhase.QUEUED, settled=[settled("d1", SHA1, Settlement.SUPERSEDED, SHA2)])
    )
    assert states(fake, SHA1) == [["in_progress", "inactive"]]
    assert commit(fake, SHA1)[-1] == ("error", f"superseded by {SHA2[:7]}")
    assert states(fake, SHA2) == [["queued"]] and commit(fake, SHA2)[-1][0] == "pending"
    # A late retry of sha1's older report neither reopens its deployment nor its commit status.
    await reporter.send(report("d1", SHA1, ReportPhase.BUILDING))
    assert states(fake, SHA1) == [["in_progress", "inactive"]]
    assert commit(fake, SHA1)[-1][0] == "error"


async def test_a_sha_superseded_before_any_report_gets_an_error_status_and_no_deployment(
    fake: FakeGitHub, reporter: Reporter
) -> None:
    await reporter.send(
        report("", "", None, settle_only=True, settled=[settled("d1", SHA1, Settlement.SUPERSEDED, SHA2)])
    )
    assert states(fake, SHA1) == []
    assert commit(fake, SHA1) == [("error", f"superseded by {SHA2[:7]}")]
    assert fake.comments.get((REPO, PR)) is None  # a settlement alone says nothing on the comment


async def test_a_live_sha_whose_ready_was_collapsed_ends_success_then_inactive(
    fake: FakeGitHub, reporter: Reporter
) -> None:
    fake.set_pull(REPO, PR, head_sha=SHA2, state="closed")
    await reporter.send(report("d1", SHA1, ReportPhase.DEPLOYING))
    ending = [settled("d1", SHA1, Settlement.REPLACED, SHA2), settled("d2", SHA2, Settlement.DESTROYED)]
    await reporter.send(report("d2", SHA2, ReportPhase.DESTROYED, settled=ending))
    assert states(fake, SHA1) == [["in_progress", "success", "inactive"]]
    assert commit(fake, SHA1)[-1] == ("success", f"Preview was live; replaced by {SHA2[:7]}")
    # sha2's phases all collapsed into its destruction: nothing was created for it, nothing pending.
    assert states(fake, SHA2) == []
    assert commit(fake, SHA2) == [("success", "Preview was live; since torn down")]
    assert "Destroyed" in fake.comments[(REPO, PR)][0]["body"]


async def test_a_retried_report_posts_nothing_twice(fake: FakeGitHub, reporter: Reporter) -> None:
    fake.set_pull(REPO, PR, head_sha=SHA3)
    await reporter.send(report("d3", SHA3, ReportPhase.READY, url="http://pr-31.test"))
    await reporter.send(report("d1", SHA1, ReportPhase.BUILDING))
    failed = report(
        "d1", SHA1, ReportPhase.FAILED, error="boom", settled=[settled("d1", SHA1, Settlement.FAILED)]
    )
    await reporter.send(failed)
    edits = fake.comment_edits
    await reporter.send(failed)  # a retry: the same body, statuses already final
    assert fake.comment_edits == edits
    assert states(fake, SHA1) == [["in_progress", "failure"]]
    assert [state for state, _ in commit(fake, SHA1)] == ["pending", "failure"]
    assert states(fake, SHA3) == [["success"]]


async def test_a_redeployed_sha_gets_a_deployment_per_attempt(fake: FakeGitHub, reporter: Reporter) -> None:
    fake.set_pull(REPO, PR, head_sha=SHA1)
    await reporter.send(report("d1", SHA1, ReportPhase.READY, url="http://pr-31.test"))
    await reporter.send(report("d2", SHA1, ReportPhase.BUILDING))
    await reporter.send(report("d2", SHA1, ReportPhase.READY, url="http://pr-31.test",
                               settled=[settled("d1", SHA1, Settlement.REPLACED, SHA1)]))  # fmt: skip
    assert states(fake, SHA1) == [["success", "inactive"], ["in_progress", "success"]]
    assert commit(fake, SHA1)[-1] == ("success", "Preview ready")
