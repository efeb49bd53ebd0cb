"""Inputs and results of the activities PreviewWorkflow calls, and their registered names."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from workflows.vocabulary import DeploymentStatus, ReportPhase, Settlement


class ActivityName:
    CREATE_DEPLOYMENT = "store.create_deployment"
    SET_STATUS = "store.set_status"
    ACTIVATE = "store.activate"
    FAIL_DEPLOYMENT = "store.fail_deployment"
    MARK_DESTROYED = "store.mark_destroyed"
    FORK_POLICY = "store.fork_policy"
    EXPIRY_FACTS = "store.expiry_facts"
    CLAIM_HOST_QUEUE = "host.claim_queue"
    TAKE_BUILD_SLOT = "build_slots.take"
    LEAVE_BUILD_QUEUE = "build_slots.leave"
    CLONE = "source.clone"
    CONFIG_CHANGED = "source.config_changed"
    BUILD = "build.run"
    DEPLOY = "platform.deploy"
    RETIRE = "platform.retire"
    DESTROY = "platform.destroy"
    # Sleep and wake (local platform, activities/local/sleep.py).
    SLEEP_IF_IDLE = "sleep.if_idle"
    SLEEP_NOW = "sleep.now"
    WAKE = "sleep.wake"
    LIVE_LIMIT = "sleep.live_limit"


class ErrorType(StrEnum):
    """Every ApplicationError type previewd raises, so the workflow can tell them apart."""

    BUILD_FAILED = "BuildFailed"
    BUILD_TIMED_OUT = "BuildTimedOut"
    CLONE_FAILED = "CloneFailed"
    START_FAILED = "StartFailed"
    BAD_CONFIG = "BadConfig"
    PROJECT_GONE = "ProjectGone"
    # Fly.io: the platform said no, in a way retrying will not change.
    FLY_REJECTED = "FlyRejected"
    APP_NAME_TAKEN = "AppNameTaken"
    NO_CAPACITY = "NoCapacity"
    # GitHub refused a report (a 4xx other than rate limits): retrying will not change its mind.
    GITHUB_REJECTED = "GitHubRejected"
    # Transient: Temporal retries these, honouring the service's Retry-After as the next delay.
    FLY_UNAVAILABLE = "FlyUnavailable"
    GITHUB_UNAVAILABLE = "GitHubUnavailable"


RETRYABLE = frozenset({ErrorType.FLY_UNAVAILABLE, ErrorType.GITHUB_UNAVAILABLE})
NON_RETRYABLE = [str(error) for error in ErrorType if error not in RETRYABLE]


@dataclass
class CreateDeploymentInput:
    deployment_id: str = ""
    project_id: str = ""
    pr_number: int = 0
    pr_title: str = ""
    pr_author: str = ""
    pr_branch: str = ""
    commit_sha: str = ""
    workflow_id: str = ""
    # The PR's app name once known; the first deployment of a PR allocates it.
    app_name: str | None = None


@dataclass
class CreateDeploymentResult:
    app_name: str = ""
    app_url: str = ""


@dataclass
class SetStatusInput:
    deployment_id: str = ""
    status: DeploymentStatus = DeploymentStatus.PENDING
    message: str | None = None


@dataclass
class ActivateInput:
    deployment_id: str = ""
    previous_deployment_id: str | None = None
    app_url: str = ""


@dataclass
class FailDeploymentInput:
    deployment_id: str = ""
    error: str = ""


@dataclass
class FailDeploymentResult:
    log_tail: list[str] | None = None


@dataclass
class MarkDestroyedInput:
    deployment_ids: list[str] | None = None
    reason: str = ""
    # DESTROYED, or EXPIRED for a preview that went unused for too long.
    status: DeploymentStatus = DeploymentStatus.DESTROYED


@dataclass
class ExpiryFactsInput:
    project_id: str = ""
    # The PR's app: its route says when the proxy last passed it a request (local platform).
    app_name: str = ""


@dataclass
class ExpiryFacts:
    """What the expiry clock needs from outside the workflow, read afresh each time it wakes."""

    # The project's `expire_after_days` in seconds; 0: its previews never expire.
    after_seconds: float = 0.0
    # How long a "day" is: 86400, except under the test knob PREVIEWD_EXPIRY_UNIT_SECONDS.
    day_seconds: float = 86400.0
    # When the proxy last passed the preview a request, ISO 8601; "" when never, or on Fly (no proxy
    # of ours sees its requests: expiry counts from the last push there).
    last_request_at: str = ""


@dataclass
class ClaimHostQueueResult:
    host_queue: str = ""
    build_queue: str = ""


# A deployment waiting for a build slot asks again at least this often (workflows/build_queue.py): a
# waiting row silent for much longer belongs to a run that is gone (activities/build_slots.py).
LONGEST_SLOT_RECHECK = timedelta(seconds=30)


@dataclass
class BuildSlotInput:
    """A deployment asking for (or giving back) its project's build slot."""

    deployment_id: str = ""
    project_id: str = ""
    # The asking run: a slot whose run is gone is reclaimed (models/build_slots.py).
    workflow_id: str = ""
    run_id: str = ""


@dataclass
class BuildSlotAnswer:
    granted: bool = False
    # The project's builds running or waiting before this one, while it waits.
    ahead: int = 0


@dataclass
class DeploymentRef:
    """Names one deployment for the activities that act on its files and processes."""

    deployment_id: str = ""
    project_id: str = ""
    pr_number: int = 0
    commit_sha: str = ""
    app_name: str = ""
    # The sha whose previewd.toml is trusted ("": commit_sha): a fork's base until its head is approved.
    config_sha: str = ""
    # The live preview's sha, if another: a push that changes no watch path since it is skipped.
    live_sha: str = ""


@dataclass
class CloneResult:
    # No watch path changed since the live sha: nothing is built, the live preview stays.
    skipped: bool = False
    message: str = ""


@dataclass
class ConfigChangeInput:
    """Does a fork's head change previewd.toml from its base?"""

    project_id: str = ""
    head_sha: str = ""
    base_sha: str = ""


@dataclass
class DeployResult:
    app_url: str = ""
    # The platform can put this preview to sleep and wake it (the local platform; Fly stops its own
    # machines): the workflow then times its idleness.
    sleeps: bool = False


@dataclass
class DestroyInput:
    project_id: str = ""
    pr_number: int = 0
    app_name: str = ""
    deployment_ids: list[str] | None = None


GITHUB_REPORT = "github.report"
GITHUB_PERMISSION = "github.permission"


@dataclass
class PermissionInput:
    """Whose permission on the project's repository to read (a GitHub login)."""

    project_id: str = ""
    login: str = ""


@dataclass
class SettledDeployment:
    """A deployment of the PR that has ended, and how: GitHub is brought to match it by the next report
    that gets through, whatever that report's own phase (workflows/pr_reporter.py)."""

    deployment_id: str = ""
    sha: str = ""
    outcome: Settlement = Settlement.SUPERSEDED
    # The sha that took its place (superseded, replaced); empty when nothing did (a close, a destroy).
    by_sha: str = ""


@dataclass
class ReportInput:
    """What the PR should be told: the phase of one deployment of one sha."""

    project_id: str = ""
    pr_number: int = 0
    sha: str = ""
    deployment_id: str = ""
    # None: a notice on a PR that was told nothing else yet; the comment then has no status rows.
    phase: ReportPhase | None = None
    url: str | None = None
    error: str | None = None
    log_tail: list[str] | None = None
    # Queued behind this many of the project's builds (running or waiting before it).
    builds_ahead: int | None = None
    # A line for the people on the PR (a refused command, an approval that came too late).
    notice: str | None = None
    # Only the sticky comment changes (a notice): the deployment and commit statuses stay as they are.
    comment_only: bool = False
    # Deployments that ended since the last report that got through: finalized on GitHub first.
    settled: list[SettledDeployment] | None = None
    # Nothing new to say on the comment or about a current deployment: only `settled` is sent.
    settle_only: bool = False


@dataclass
class IdleCheckInput:
    """Whether the PR's live preview has been idle long enough to sleep."""

    ref: DeploymentRef = field(default_factory=DeploymentRef)
    # When it went live or last woke (ISO 8601, workflow time): idleness counts from the later of
    # this and its last request.
    awake_since: str = ""


@dataclass
class IdleCheckResult:
    slept: bool = False
    # Not asleep: check again after this many seconds (the idle time left, or an hour when the
    # project's previews never sleep, so a changed setting is noticed).
    check_again_seconds: float = 0.0


@dataclass
class LiveLimitInput:
    """A preview of the project went live or woke: put the least recently used others to sleep
    beyond the project's max_live_previews."""

    project_id: str = ""
    # The one that just went live or woke: never the one put to sleep.
    app_name: str = ""
