"""What a platform provides to PreviewWorkflow: start a deployment's preview, retire an old one, and
destroy a PR's app. Fly.io (`activities/fly/platform.py`) and the local platform
(`activities/local/platform.py`) each register these activities under the same names; the workflow
calls them through this Protocol (`workflow.execute_activity_method(PlatformActivities.deploy, …)`),
so a renamed or retyped activity fails mypy, not production."""

from __future__ import annotations

from typing import Protocol

from temporalio import activity

from workflows.activity_io import ActivityName, DeploymentRef, DeployResult, DestroyInput


class PlatformActivities(Protocol):
    @activity.defn(name=ActivityName.DEPLOY)
    async def deploy(self, ref: DeploymentRef) -> DeployResult:
        """Start the deployment's preview and return its URL once it answers."""
        ...

    @activity.defn(name=ActivityName.RETIRE)
    async def retire(self, ref: DeploymentRef) -> None:
        """Stop a deployment that no longer serves (replaced, superseded or failed) and free its files."""
        ...

    @activity.defn(name=ActivityName.DESTROY)
    async def destroy(self, input: DestroyInput) -> None:
        """Remove the PR's app and every deployment of it that still runs."""
        ...
