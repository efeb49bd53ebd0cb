"""The PR's own database in the workflow (issue 16): made on the host before the build of every
deployment (kept by the activity when it exists), made afresh after `/preview reset-db` from someone
with push access (refused otherwise), dropped when the PR closes."""

from __future__ import annotations

from tests.workflows.harness import Harness, is_active, new_id, wait_for_state, wait_until
from workflows.activity_io import ActivityName as A
from workflows.preview import PreviewWorkflow
from workflows.preview_db_io import DatabaseActivityName as D
from workflows.signals import CloseSignal, CommandSignal
from workflows.vocabulary import Phase


async def test_ensured_before_each_build_reset_on_command_dropped_on_close(harness: Harness) -> None:
    rec = harness.recorder
    rec.permissions = {"maintainer": "write", "reader": "read"}
    handle = await harness.start("sha-1")
    await wait_for_state(handle, is_active("sha-1"))
    [(name, ensured)] = rec.database_calls
    assert name == D.ENSURE and (ensured.pr_number, ensured.reset) == (1, False)
    [created] = rec.args(A.CREATE_DEPLOYMENT)
    assert ensured.deployment_id == created.deployment_id
    # After the clone, before the build: the release command migrates the database.
    assert rec.names().index(A.CLONE) < rec.names().index(A.BUILD)

    # Someone who may only read is refused; a maintainer's reset redeploys with reset=True.
    await handle.signal(PreviewWorkflow.command, CommandSignal(command="reset-db", requested_by="reader"))
    await handle.signal(PreviewWorkflow.command, CommandSignal(command="reset-db", requested_by="maintainer"))
    await wait_until(lambda: len(rec.args(A.ACTIVATE)) == 2, what="the redeploy after reset-db")
    ensures = [arg for name, arg in rec.database_calls if name == D.ENSURE]
    assert [e.reset for e in ensures] == [False, True]
    state = await handle.query(PreviewWorkflow.get_state)
    assert state.database_reset_requested is False

    # The next push keeps it (reset is asked once).
    await harness.push(handle, "sha-2")
    await wait_for_state(handle, is_active("sha-2"))
    assert [arg.reset for name, arg in rec.database_calls if name == D.ENSURE] == [False, True, False]

    await handle.signal(PreviewWorkflow.close, CloseSignal(delivery_id=new_id()))
    final = await handle.result()
    assert final.phase == Phase.CLOSED
    [dropped] = [arg for name, arg in rec.database_calls if name == D.DROP]
    assert (dropped.project_id, dropped.pr_number) == (harness.project_id, 1)
