"""One vocabulary: every phase and status has its words on the page and on the PR, and no code names a
workflow, signal, query, update or activity by a string of its own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from activities.github.pr_comment import TITLES
from activities.github.report import COMMIT_STATE, DEPLOYMENT_STATE
from web.dashboard.templating import STATUS_TONES
from workflows.vocabulary import REPORT_FOR_PHASE, DeploymentStatus, Phase, ReportPhase, report_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("value", [*Phase, *DeploymentStatus])
def test_every_phase_and_status_has_a_badge_tone(value: str) -> None:
    assert value in STATUS_TONES


@pytest.mark.parametrize("phase", list(ReportPhase))
def test_every_report_phase_has_a_comment_title_and_a_github_state(phase: ReportPhase) -> None:
    assert phase in TITLES
    # Every phase sets the commit status or the deployment's, except fork_blocked: nothing is built.
    assert phase in COMMIT_STATE or phase in DEPLOYMENT_STATE or phase == ReportPhase.FORK_BLOCKED


def test_the_workflows_active_is_githubs_ready() -> None:
    assert report_for(Phase.ACTIVE) == ReportPhase.READY
    assert report_for(Phase.CLOSED) is None
    # Skipped is told of a sha, not a phase: the workflow's preview stays active.
    assert set(REPORT_FOR_PHASE.values()) == set(ReportPhase) - {ReportPhase.SKIPPED}


def test_a_member_equals_its_stored_string() -> None:
    # Rows and saved histories hold plain strings; the enums must read them back unchanged.
    by_phase: dict[str, int] = {Phase.ACTIVE: 1}
    assert DeploymentStatus("active") == "active" and by_phase["active"] == 1


# A call that names a workflow's message or an activity by a string literal, or the workflow type.
BY_NAME = re.compile(
    r"""\.(signal|query|execute_update|start_update|signal_with_start)\(\s*["']"""
    r"""|start_signal\s*=\s*["']"""
    r"""|execute_activity\(\s*["']"""
    r"""|["']PreviewWorkflow["']"""
)
# workflows/ defines the names; everything else calls by reference.
ALLOWED = {Path("workflows")}


def _python_files() -> list[Path]:
    skip = {".venv", ".git", "build", "examples", "node_modules"}
    return [
        path
        for path in ROOT.rglob("*.py")
        if not skip.intersection(path.relative_to(ROOT).parts)
        and not any(path.relative_to(ROOT).is_relative_to(allowed) for allowed in ALLOWED)
    ]


def test_no_workflow_signal_query_or_activity_is_called_by_a_string_name() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _python_files()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if BY_NAME.search(line)
    ]
    assert offenders == []
