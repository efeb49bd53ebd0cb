"""The words previewd uses for where a preview stands, one enum per concept, and the one place that
maps between them.

- `Phase`: where a PR's workflow is (its `state` query, the dashboard's open-PR list, the API).
- `DeploymentStatus`: where one deployment (one built sha) is, as stored in `deployments.status`.
- `ReportPhase`: what the PR is told (sticky comment, GitHub deployment and commit statuses). Its
  "ready" is the workflow's "active": GitHub's vocabulary, not ours.

Plain `StrEnum`s with no imports beyond the standard library: workflow code imports this module in
Temporal's sandbox, and a member compares equal to its string, so stored rows and saved histories
read back unchanged.
"""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    IDLE = "idle"
    QUEUED = "queued"
    # A fork's sha waits for a maintainer (policy "approve").
    AWAITING_APPROVAL = "awaiting_approval"
    # A fork's sha is never built (policy "never").
    FORK_BLOCKED = "fork_blocked"
    BUILDING = "building"
    DEPLOYING = "deploying"
    ACTIVE = "active"
    FAILED = "failed"
    DESTROYED = "destroyed"
    CLOSED = "closed"


class DeploymentStatus(StrEnum):
    PENDING = "pending"
    BUILDING = "building"
    DEPLOYING = "deploying"
    ACTIVE = "active"
    FAILED = "failed"
    DESTROYED = "destroyed"
    # A newer push replaced this sha before it went live.
    SUPERSEDED = "superseded"
    # It was live, and a newer sha of the same PR took its place.
    REPLACED = "replaced"
    # No watch path changed since the live sha: not built, the live preview stays.
    SKIPPED = "skipped"


FINAL_STATUSES = frozenset(
    {
        DeploymentStatus.FAILED,
        DeploymentStatus.DESTROYED,
        DeploymentStatus.SUPERSEDED,
        DeploymentStatus.REPLACED,
        DeploymentStatus.SKIPPED,
    }
)


class ReportPhase(StrEnum):
    QUEUED = "queued"
    BUILDING = "building"
    DEPLOYING = "deploying"
    READY = "ready"
    FAILED = "failed"
    DESTROYED = "destroyed"
    AWAITING_APPROVAL = "awaiting_approval"
    FORK_BLOCKED = "fork_blocked"
    # Not a phase of the workflow (its preview stays active): told of a sha that was not built.
    SKIPPED = "skipped"


class Settlement(StrEnum):
    """How a deployment ended, as GitHub must be left for it whatever the workflow's reports collapsed:
    every GitHub Deployment previewd creates reaches a final state, and no commit status stays pending."""

    # It went live while a newer sha was already wanted: success, but the comment does not announce it.
    LIVE = "live"
    # It was live and a newer sha took its place: success, then inactive.
    REPLACED = "replaced"
    # Something else was wanted before it went live: inactive; its commit status an error.
    SUPERSEDED = "superseded"
    FAILED = "failed"
    # It was live and the preview was torn down (PR closed, destroyed): success, then inactive.
    DESTROYED = "destroyed"
    # No watched path changed: not built, the live preview stays; inactive, its commit status success.
    SKIPPED = "skipped"


# What the PR is told when its workflow reaches a phase. Phases that are not news (idle, closed: the
# close is told as "destroyed") have no entry.
REPORT_FOR_PHASE: dict[Phase, ReportPhase] = {
    Phase.QUEUED: ReportPhase.QUEUED,
    Phase.AWAITING_APPROVAL: ReportPhase.AWAITING_APPROVAL,
    Phase.FORK_BLOCKED: ReportPhase.FORK_BLOCKED,
    Phase.BUILDING: ReportPhase.BUILDING,
    Phase.DEPLOYING: ReportPhase.DEPLOYING,
    Phase.ACTIVE: ReportPhase.READY,
    Phase.FAILED: ReportPhase.FAILED,
    Phase.DESTROYED: ReportPhase.DESTROYED,
}

# The deployment row's status while the workflow is in a phase that has a deployment being worked on.
STATUS_FOR_PHASE: dict[Phase, DeploymentStatus] = {
    Phase.QUEUED: DeploymentStatus.PENDING,
    Phase.BUILDING: DeploymentStatus.BUILDING,
    Phase.DEPLOYING: DeploymentStatus.DEPLOYING,
    Phase.ACTIVE: DeploymentStatus.ACTIVE,
    Phase.FAILED: DeploymentStatus.FAILED,
    Phase.DESTROYED: DeploymentStatus.DESTROYED,
}


def report_for(phase: Phase) -> ReportPhase | None:
    return REPORT_FOR_PHASE.get(phase)
