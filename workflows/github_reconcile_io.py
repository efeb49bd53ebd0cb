"""What the GitHub reconcile workflows and their activities exchange. Apart from both, so that the
workflows call the activities by reference without the activities' modules importing the workflows'."""

from __future__ import annotations

from dataclasses import dataclass, field

REDELIVER_ACTIVITY = "github.redeliver_failed"
DRIFT_PROJECTS_ACTIVITY = "github.drift_projects"
DRIFT_ACTIVITY = "github.drift"


@dataclass
class RedeliverInput:
    pass


@dataclass
class RedeliverResult:
    # Attempts GitHub listed in the window examined.
    examined: int = 0
    # X-GitHub-Delivery guids we asked GitHub to send again.
    asked: list[str] = field(default_factory=list)


@dataclass
class DriftInput:
    project_id: str = ""


@dataclass
class DriftProjects:
    project_ids: list[str] = field(default_factory=list)


@dataclass
class DriftResult:
    project_id: str = ""
    open_on_github: int = 0
    # Whether GitHub answered the open-PR listing with 304 (nothing changed since the last look).
    not_modified: bool = False
    # One line per action taken, as the project's activity shows it.
    actions: list[str] = field(default_factory=list)
