"""The one module outside workflows/ that talks to PR workflows, shared by the dashboard and the JSON
API: a workflow's live state, the running ones, redeploy / destroy / keep / unpin / extend (signals),
an approval (an update, so the caller hears at once whether it took), and ending a workflow. Every
call names the workflow's method (`PreviewWorkflow.redeploy`, `PreviewWorkflow.get_state`), never a
string, so a rename fails mypy rather than production."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Protocol, TypeVar

from temporalio.client import WorkflowHandle, WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from web.deps import Services
from workflows.preview import PreviewWorkflow
from workflows.signals import ApproveSignal, LifetimeSignal, ManualSignal, PreviewState, workflow_id_for

S = TypeVar("S")
QUERY_TIMEOUT = 2.0
SIGNAL_TIMEOUT = 5.0


class SignalFailed(Exception):
    """What went wrong, in words for the person who pressed the button. `no_workflow`: the PR has no
    running workflow (the API answers 404); otherwise Temporal could not be asked (503)."""

    def __init__(self, message: str, *, no_workflow: bool = False) -> None:
        super().__init__(message)
        self.no_workflow = no_workflow


async def _handle(
    services: Services, project_id: uuid.UUID, pr_number: int
) -> WorkflowHandle[PreviewWorkflow, PreviewState]:
    client = await services.temporal()
    return client.get_workflow_handle_for(PreviewWorkflow.run, workflow_id_for(str(project_id), pr_number))


async def _state(services: Services, project_id: uuid.UUID, pr_number: int) -> PreviewState | None:
    handle = await _handle(services, project_id, pr_number)
    try:
        return await handle.query(PreviewWorkflow.get_state)
    except (RPCError, WorkflowQueryFailedError):
        return None


async def pr_states(
    services: Services, project_id: uuid.UUID, pr_numbers: list[int]
) -> dict[int, PreviewState | None]:
    """Each PR's live state, or None where its workflow is gone or Temporal does not answer in time
    (the page then shows what Postgres knows)."""
    if not pr_numbers:
        return {}
    try:
        states = await asyncio.wait_for(
            asyncio.gather(*(_state(services, project_id, n) for n in pr_numbers)), QUERY_TIMEOUT
        )
    except (TimeoutError, RuntimeError, RPCError):
        return dict.fromkeys(pr_numbers)
    return dict(zip(pr_numbers, states, strict=True))


async def running_prs(services: Services, project_id: uuid.UUID) -> set[int] | None:
    """PR numbers whose workflow runs now (an open PR, whether or not it has a deployment yet: a fork
    waiting for approval has none). None when Temporal cannot tell; the page then relies on Postgres."""
    prefix = workflow_id_for(str(project_id), 0).removesuffix("0")
    query = f'WorkflowId STARTS_WITH "{prefix}" AND ExecutionStatus = "Running"'

    async def listing() -> set[int]:
        client = await services.temporal()
        return {
            int(w.id.removeprefix(prefix))
            async for w in client.list_workflows(query)
            if w.id.removeprefix(prefix).isdigit()
        }

    try:
        return await asyncio.wait_for(listing(), QUERY_TIMEOUT)
    except (TimeoutError, RuntimeError, RPCError):
        return None


class ManualAction(Protocol):
    """redeploy or destroy: what the dashboard's and the API's buttons call."""

    async def __call__(
        self, services: Services, project_id: uuid.UUID, pr_number: int, *, requested_by: str
    ) -> str: ...


async def redeploy(services: Services, project_id: uuid.UUID, pr_number: int, *, requested_by: str) -> str:
    """Build the PR's newest pushed sha again; returns the workflow id. Raises SignalFailed with advice."""
    request = ManualSignal(requested_by=requested_by, request_id=str(uuid.uuid4()))
    return await _signal(services, project_id, pr_number, PreviewWorkflow.redeploy, request)


async def destroy(services: Services, project_id: uuid.UUID, pr_number: int, *, requested_by: str) -> str:
    """Tear the PR's preview down until its next push; returns the workflow id."""
    request = ManualSignal(requested_by=requested_by, request_id=str(uuid.uuid4()))
    return await _signal(services, project_id, pr_number, PreviewWorkflow.destroy, request)


async def reset_database(
    services: Services, project_id: uuid.UUID, pr_number: int, *, requested_by: str
) -> str:
    """Drop the PR's database, make it afresh from the template / seed, and redeploy."""
    request = ManualSignal(requested_by=requested_by, request_id=str(uuid.uuid4()))
    return await _signal(services, project_id, pr_number, PreviewWorkflow.reset_database, request)


async def lifetime(services: Services, project_id: uuid.UUID, pr_number: int, request: LifetimeSignal) -> str:
    """Keep (pin), unpin or extend the PR's preview; returns the workflow id. The PR's sticky comment
    says what changed."""
    return await _signal(services, project_id, pr_number, PreviewWorkflow.lifetime, request)


async def wake(services: Services, project_id: uuid.UUID, pr_number: int) -> None:
    """A request reached the PR's sleeping preview through the proxy: start it again. The workflow
    wakes it once however often it is asked; the proxy asks once per preview at a time."""
    await _signal(services, project_id, pr_number, PreviewWorkflow.wake, ManualSignal(requested_by="a visit"))


async def _signal(
    services: Services,
    project_id: uuid.UUID,
    pr_number: int,
    method: Callable[[PreviewWorkflow, S], None],
    argument: S,
) -> str:
    async with _asking_temporal(pr_number):
        handle = await asyncio.wait_for(_handle(services, project_id, pr_number), SIGNAL_TIMEOUT)
        await asyncio.wait_for(handle.signal(method, argument), SIGNAL_TIMEOUT)
    return handle.id


async def terminate(services: Services, project_id: uuid.UUID, pr_number: int, *, reason: str) -> None:
    """End the PR's workflow at once (its project is being deleted). Raises what Temporal raised:
    a workflow already finished, or never started, is the caller's to shrug off."""
    handle = await _handle(services, project_id, pr_number)
    await handle.terminate(reason=reason)


async def approve(services: Services, project_id: uuid.UUID, pr_number: int, argument: ApproveSignal) -> str:
    """Approve a fork's commit; returns the workflow id. A refusal (say, a newer push came first) is a
    SignalFailed carrying the workflow's reason."""
    async with _asking_temporal(pr_number):
        handle = await asyncio.wait_for(_handle(services, project_id, pr_number), SIGNAL_TIMEOUT)
        try:
            await asyncio.wait_for(
                handle.execute_update(PreviewWorkflow.approve_commit, argument), SIGNAL_TIMEOUT
            )
        except WorkflowUpdateFailedError as failure:
            raise SignalFailed(f"Not approved: {failure.cause}") from None
    return handle.id


@contextlib.asynccontextmanager
async def _asking_temporal(pr_number: int) -> AsyncIterator[None]:
    """Temporal's failures, in words for the person who pressed the button."""
    try:
        yield
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise SignalFailed(
                f"PR #{pr_number} has no running preview workflow: the PR was closed, or GitHub has not "
                "sent its first event yet. Push a commit or reopen the PR to start one.",
                no_workflow=True,
            ) from None
        raise SignalFailed(
            f"Temporal refused the request ({error.status.name}). Try again in a minute."
        ) from None
    except (TimeoutError, RuntimeError, OSError):
        raise SignalFailed(
            "Temporal is not reachable right now, so nothing was changed. Try again in a minute; "
            "if it keeps failing, check that the Temporal server and the worker are running."
        ) from None
