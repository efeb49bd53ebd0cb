"""The `platform` activities for the local platform: previews as processes behind our own proxy."""

from __future__ import annotations

import time

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import heartbeat
from activities.local.launch import StartFailed
from activities.local.supervisor import LocalRuntime
from activities.logsink import LogSink
from activities.platform import PlatformActivities
from models import LogType
from models.build_stats import merge_build_stats
from workflows.activity_io import ActivityName, DeploymentRef, DeployResult, DestroyInput, ErrorType


class LocalPlatformActivities:
    def __init__(self, runtime: LocalRuntime) -> None:
        self.runtime = runtime

    @activity.defn(name=ActivityName.DEPLOY)
    async def deploy(self, ref: DeploymentRef) -> DeployResult:
        ctx = self.runtime.ctx
        secrets = list((await ctx.secrets(ref.project_id, ref.pr_number)).values())
        async with LogSink(
            ctx.db,
            ref.deployment_id,
            LogType.DEPLOY,
            secrets=secrets,
            max_lines=ctx.settings.previewd_max_build_log_lines,
        ) as sink:
            sink.info("Starting the preview process")
            started = time.monotonic()
            try:
                preview = await self.runtime.launch(ref, heartbeat)
            except StartFailed as error:
                sink.error(str(error))
                for line in error.tail:
                    sink.error(line)
                raise ApplicationError(str(error), type=ErrorType.START_FAILED, non_retryable=True) from None
            replaced = await self.runtime.routes.point_at(preview)
            if replaced is not None:
                # The workflow retires the preview it replaced too; this one may have been started by
                # a run that is gone (terminated), which no workflow will ever retire.
                await self.runtime.retire(replaced)
            url = ctx.settings.preview_url(ref.app_name)
            seconds = time.monotonic() - started
            sink.info(f"Live at {url} (started in {seconds:.1f}s)")
            await merge_build_stats(ctx.db, ref.deployment_id, seconds={"start": round(seconds, 2)})
        return DeployResult(app_url=url, sleeps=True)

    @activity.defn(name=ActivityName.RETIRE)
    async def retire(self, ref: DeploymentRef) -> None:
        await self.runtime.retire(ref.deployment_id)

    @activity.defn(name=ActivityName.DESTROY)
    async def destroy(self, input: DestroyInput) -> None:
        await self.runtime.destroy(input.app_name, input.deployment_ids or [])


# The workflow calls these activities through PlatformActivities: mypy holds this class to it.
_: type[PlatformActivities] = LocalPlatformActivities
