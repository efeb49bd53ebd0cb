"""Saved histories (record_histories.py) must replay against the current PreviewWorkflow code.

Until the first release the histories are simply re-recorded when the workflow changes, so they exercise
today's code paths. After a release, running workflows must keep replaying: a change that alters the
commands a workflow issues then follows samples-python's `patching/` life cycle instead
(`workflow.patched("x")` beside the old branch → `workflow.deprecate_patch("x")` once no run before it
is open → the branch removed), and the histories recorded before it stay as they are.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.workflow import NondeterminismError

from tests.workflows.record_histories import HISTORIES, SCENARIOS
from workflows.preview import PreviewWorkflow
from workflows.signals import WORKFLOW_NAME, PreviewInput, PreviewState

HISTORY_FILES = sorted(HISTORIES.glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text(encoding="utf-8"))


def test_every_recorded_scenario_has_a_saved_history() -> None:
    assert HISTORY_FILES, f"no histories in {HISTORIES}; run python -m tests.workflows.record_histories"
    assert {path.stem for path in HISTORY_FILES} >= set(SCENARIOS)


@pytest.mark.parametrize("path", HISTORY_FILES, ids=lambda path: path.stem)
async def test_saved_history_replays_deterministically(path: Path) -> None:
    await Replayer(workflows=[PreviewWorkflow]).replay_workflow(load(path))


@workflow.defn(name=WORKFLOW_NAME, sandboxed=False)
class DriftedPreviewWorkflow(PreviewWorkflow):
    """The real workflow plus one extra timer before anything else: a nondeterministic change."""

    @workflow.run
    async def run(self, input: PreviewInput) -> PreviewState:
        await workflow.sleep(timedelta(seconds=1))
        return await super().run(input)


async def test_replay_detects_a_nondeterministic_change() -> None:
    replayer = Replayer(workflows=[DriftedPreviewWorkflow], workflow_runner=UnsandboxedWorkflowRunner())
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(load(HISTORIES / "open_push_close.json"))
