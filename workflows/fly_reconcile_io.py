"""What FlyReconcileWorkflow and its one activity exchange. Apart from both, so that the workflow can
call the activity by reference without the activity's module importing the workflow's."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

RECONCILE_ACTIVITY = "fly.reconcile"


class ReconcileAction(StrEnum):
    """What the reconciler did, or would do in a dry run, with one app."""

    KEEP = "keep"
    # A dry run's verdict: the app would be destroyed with --apply.
    DESTROY = "destroy"
    DESTROYED = "destroyed"
    # Not ours to judge: not a preview app name, or nothing of previewd's names its project and PR.
    SKIP = "skip"


@dataclass
class ReconcileInput:
    apply: bool = False


@dataclass
class Decision:
    app: str = ""
    action: ReconcileAction = ReconcileAction.SKIP
    reason: str = ""


@dataclass
class ReconcileResult:
    decisions: list[Decision] = field(default_factory=list)
