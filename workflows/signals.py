"""What reaches a PreviewWorkflow from outside: its input, signals and the state query's answer.

Every field has a default so that fields can be added later without breaking running workflows or
saved histories.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from workflows.activity_io import ReportInput, SettledDeployment
from workflows.notification_io import PreviewEvent
from workflows.vocabulary import Phase

# The workflow type's registered name: what the Temporal UI shows and saved histories carry.
WORKFLOW_NAME = "PreviewWorkflow"


class SignalName(StrEnum):
    """PreviewWorkflow's signals by name, for the few places a name cannot be a method reference:
    signal-with-start's `start_signal`, and outbox rows that store which signal to send."""

    PUSH = "push"
    CLOSE = "close"
    REDEPLOY = "redeploy"
    DESTROY = "destroy"
    APPROVE = "approve"
    REFUSE = "refuse"
    COMMAND = "command"
    # A build slot of the project came free (activities/build_slots.py): a waiting deployment asks again.
    SLOT_FREE = "slot_free"
    LIFETIME = "lifetime"
    # Sleep and wake (local platform): from the proxy (wake) and the max_live_previews activity (sleep).
    WAKE = "wake"
    SLEEP = "sleep"
    # `/preview reset-db` and the dashboard's button: the PR's database made afresh, then a redeploy.
    RESET_DATABASE = "reset_database"


# The state query and the dashboard's approval (an update, so the caller hears whether it took).
STATE_QUERY = "state"
APPROVE_UPDATE = "approve_commit"


def workflow_id_for(project_id: str, pr_number: int) -> str:
    # Derived from project and PR only, so every event for a PR reaches the same workflow.
    return f"preview-{project_id}-pr-{pr_number}"


@dataclass
class PushSignal:
    """A new head for the PR (opened, reopened, synchronize, ready_for_review)."""

    sha: str = ""
    title: str = ""
    author: str = ""
    delivery_id: str = ""
    # The head is in another repository (a fork, or a fork since deleted): its code is untrusted until
    # a maintainer approves this sha, unless the project's fork policy says otherwise.
    fork: bool = False
    # pull_request.updated_at of the delivery: an approval given before it cannot be for this sha.
    updated_at: str = ""
    # The PR's head and base branches and the base's sha: a fork's previewd.toml is read at its base
    # until its head is approved. The refs are PR-controlled text: shown, or told to commands as
    # environment variables (PREVIEWD_BRANCH), never part of a command line.
    head_ref: str = ""
    base_ref: str = ""
    base_sha: str = ""


@dataclass
class CloseSignal:
    delivery_id: str = ""
    merged: bool = False
    # Why, when it was not the PR that closed (the App's installation went away, say).
    reason: str = ""


@dataclass
class ManualSignal:
    """redeploy / destroy asked for by a person (dashboard, API, PR comment)."""

    requested_by: str = ""
    request_id: str = ""


@dataclass
class ApproveSignal:
    """A maintainer lets a fork's sha be built with the project's secrets."""

    # The approved sha, all 40 characters; empty: the sha waiting for approval, provided no push came
    # after `created_at` (workflows/approval.py).
    sha: str = ""
    requested_by: str = ""
    request_id: str = ""
    # "comment" or "dashboard"
    source: str = ""
    # When the approval was given (the comment's created_at), ISO 8601.
    created_at: str = ""


@dataclass
class RefusalSignal:
    """A `/preview` command that was not carried out; the PR is told why."""

    requested_by: str = ""
    command: str = ""
    reason: str = ""
    request_id: str = ""


@dataclass
class CommandSignal:
    """A `/preview` comment, not yet trusted: the workflow asks GitHub whether `requested_by` may push
    to the repository (activity `github.permission`) before carrying it out."""

    # "redeploy", "destroy", "approve", "keep", "unpin", "extend" (anything else is refused by the web
    # app already).
    command: str = ""
    # The comment's second word: the sha an approval is for, the duration of an extension.
    argument: str = ""
    requested_by: str = ""
    request_id: str = ""
    # The comment's created_at, ISO 8601 (an approval without a sha covers commits pushed before it).
    created_at: str = ""


class LifetimeAction(StrEnum):
    KEEP = "keep"
    UNPIN = "unpin"
    EXTEND = "extend"


@dataclass
class LifetimeSignal:
    """Keep (pin), unpin or extend a PR's preview, asked for by someone with push access (dashboard,
    API, or a `/preview` comment once GitHub vouched for its author)."""

    action: LifetimeAction = LifetimeAction.KEEP
    # For EXTEND: how much longer (workflows/lifetime.py bounds it).
    hours: int = 0
    requested_by: str = ""
    request_id: str = ""


# A history entry's status for a teardown that failed: the deployment's row keeps its own status
# (the Fly reconciler removes the app later), so this one is the history's alone.
DESTROY_FAILED = "destroy failed"


@dataclass
class HistoryEntry:
    deployment_id: str = ""
    sha: str = ""
    # A DeploymentStatus, or DESTROY_FAILED.
    status: str = ""
    at: str = ""
    error: str | None = None


@dataclass
class PreviewState:
    project_id: str = ""
    pr_number: int = 0
    phase: Phase = Phase.IDLE
    desired: PushSignal | None = None
    last_push: PushSignal | None = None
    # Counts the changes of what is wanted (a push of another sha, a redeploy, a close, a destroy). A
    # deployment remembers the generation it started in; a different one means it was superseded.
    generation: int = 0
    # The sha whose deployment was last started; a failed sha is not retried until a push of another
    # sha or a redeploy (which clears it).
    attempted_sha: str | None = None
    deployed_sha: str | None = None
    url: str | None = None
    app_name: str | None = None
    current_deployment_id: str | None = None
    building_deployment_id: str | None = None
    # The host-specific task queue whose worker runs the live preview (local platform).
    host_queue: str | None = None
    close_requested: bool = False
    # Why the run is closing when it was not the PR that closed (say, the App was uninstalled).
    close_reason: str = ""
    destroy_requested_by: str | None = None
    pushes_seen: int = 0
    # Fork shas a maintainer approved (newest last), and who approved each.
    approved_shas: list[str] = field(default_factory=list)
    approved_by: list[str] = field(default_factory=list)
    recent_delivery_ids: list[str] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    # `/preview` comments waiting for GitHub's word on who wrote them, oldest first.
    pending_commands: list[CommandSignal] = field(default_factory=list)
    # The generation a redeploy asked for: built even when no watch path changed.
    forced_generation: int = -1
    # The last thing the PR was told: a notice (a refused command) is added to it, so the sticky
    # comment keeps its status rows, across continue-as-new too.
    last_report: ReportInput | None = None
    # Deployments that ended and whose end GitHub has not been brought to yet, oldest first; sent with
    # every report until one gets through (workflows/pr_reporter.py).
    unsettled: list[SettledDeployment] = field(default_factory=list)
    # A fork's sha whose commit status says it waits for approval (nothing was deployed for it).
    held_back_sha: str | None = None
    # While the deployment waits for its project's build slot: the builds running or waiting before it.
    builds_ahead: int | None = None
    # Counts `slot_free` signals: a change ends the wait before the next ask (workflows/build_queue.py).
    slot_nudges: int = 0
    # Expiry (workflows/expiry.py). Times are ISO 8601 in UTC, "" when unset. The clock counts from
    # the later of `expiry_counted_from` (the last push, redeploy or unpin) and the preview's last
    # request, and never ends before `extended_until`. Kept here so its timer outlives a continue-as-new.
    expiry_counted_from: str = ""
    extended_until: str = ""
    # When the live preview expires as last worked out ("" : it does not, or nothing is live).
    expires_at: str = ""
    # The expiry the PR was warned about, so a warning is given once per deadline.
    expiry_warned_for: str = ""
    # Bumped by everything that moves the expiry (a push, a redeploy, keep, unpin, extend).
    expiry_generation: int = 0
    # Set by the expiry clock when the preview is due; the run loop tears it down.
    expire_requested: bool = False
    # Who pinned the preview (`/preview keep`): it never expires until unpinned; survives new pushes.
    pinned_by: str = ""
    # The length of a "day" as last read (ExpiryFacts.day_seconds): what `/preview extend 3d` counts in.
    day_seconds: float = 86400.0
    # Sleep and wake (workflows/sleeper.py). `can_sleep`: the platform can stop the live preview and
    # start it again (the local platform). `asleep`: it is stopped now. `awake_since`: when it went
    # live or last woke (ISO 8601), idleness counts from it. `idle_check_at`: when the durable timer
    # looks at its idleness next (None: no check pending).
    can_sleep: bool = False
    asleep: bool = False
    awake_since: str = ""
    idle_check_at: str | None = None
    wake_requested: bool = False
    sleep_requested: bool = False
    # The next deployment drops the PR's database first (workflows/preview.py reset_database).
    database_reset_requested: bool = False
    # Notifications (workflows/preview_events.py): how the last deployment that ended ended ("ready",
    # "failed", "" after a teardown), so a ready after a failure is "recovered"; and the events whose
    # NotificationWorkflow has not started yet, oldest first.
    last_outcome: str = ""
    pending_events: list[PreviewEvent] = field(default_factory=list)


@dataclass
class PreviewInput:
    project_id: str = ""
    pr_number: int = 0
    # Set when the workflow continues as new.
    state: PreviewState | None = None
