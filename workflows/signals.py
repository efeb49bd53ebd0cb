"""What reaches a PreviewWorkflow from outside: its input, signals and the state query's answer.

Every field has a default so that fields can be added later without breaking running workflows or
saved histories.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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


@dataclass
class CloseSignal:
    delivery_id: str = ""
    merged: bool = False


@dataclass
class ManualSignal:
    """redeploy / destroy asked for by a person (dashboard, API, PR comment)."""

    requested_by: str = ""
    request_id: str = ""


@dataclass
class ApproveSignal:
    """A maintainer lets a fork's sha be built with the project's secrets."""

    sha: str = ""
    requested_by: str = ""
    request_id: str = ""
    # "comment" or "dashboard"
    source: str = ""


@dataclass
class HistoryEntry:
    deployment_id: str = ""
    sha: str = ""
    status: str = ""
    at: str = ""
    error: str | None = None


@dataclass
class PreviewState:
    project_id: str = ""
    pr_number: int = 0
    # idle | queued | building | deploying | active | failed | destroyed | closed
    phase: str = "idle"
    desired: PushSignal | None = None
    last_push: PushSignal | None = None
    # The sha whose deployment was last started; a failed sha is not retried until a push or redeploy.
    attempted_sha: str | None = None
    force_redeploy: bool = False
    deployed_sha: str | None = None
    url: str | None = None
    app_name: str | None = None
    current_deployment_id: str | None = None
    building_deployment_id: str | None = None
    # The host-specific task queue whose worker runs the live preview (local platform).
    host_queue: str | None = None
    close_requested: bool = False
    destroy_requested_by: str | None = None
    pushes_seen: int = 0
    recent_delivery_ids: list[str] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)


@dataclass
class PreviewInput:
    project_id: str = ""
    pr_number: int = 0
    # Set when the workflow continues as new.
    state: PreviewState | None = None
