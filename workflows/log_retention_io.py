"""What LogRetentionWorkflow and its one activity exchange. Apart from both, so that the workflow can
call the activity by reference without the activity's module importing the workflow's."""

from __future__ import annotations

from dataclasses import dataclass

RETENTION_ACTIVITY = "logs.delete_expired"


@dataclass
class RetentionInput:
    # Lines deleted per transaction: a big log never holds its rows' locks for long.
    batch_lines: int = 5000


@dataclass
class RetentionResult:
    deployments: int = 0
    lines: int = 0
    files: int = 0
