"""The `platform` activities on Fly.io: one app per PR, one machine updated in place per new sha."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import WorkerContext, heartbeat, heartbeating
from activities.environment import pr_values
from activities.fly.client import ATTEMPTS_PER_CALL, FlyApiError, FlyClient
from activities.fly.custom_domain import CustomDomain, custom_url, drop_stale_names
from activities.fly.machine_config import METADATA_PR, METADATA_PROJECT, METADATA_ROLE, machine_config
from activities.fly.network import project_network
from activities.fly.release import run_release
from activities.health_probe import answers
from activities.logsink import LogSink
from activities.platform import PlatformActivities
from activities.preview_db import seed_command
from models import LogType
from models.app_names import owner_of
from models.fly_images import image_problem
from workflows.activity_io import ActivityName, DeploymentRef, DeployResult, DestroyInput, ErrorType

HEALTH_TIMEOUT_SECONDS = 60
DELETE_CONFIRM_SECONDS = 60
CAPACITY_TRIES_PER_REGION = 2


def as_activity_error(error: FlyApiError, org: str) -> ApplicationError:
    """Fly's answer as Temporal should see it: transient ones retried, the rest said plainly."""
    if error.status in (401, 403):
        return ApplicationError(
            f"FLY_API_TOKEN is invalid or lacks access to org {org} ({error})",
            type=ErrorType.FLY_REJECTED,
            non_retryable=True,
        )
    if error.transient:
        delay = None if error.retry_after is None else timedelta(seconds=error.retry_after)
        return ApplicationError(str(error), type=ErrorType.FLY_UNAVAILABLE, next_retry_delay=delay)
    return ApplicationError(str(error), type=ErrorType.FLY_REJECTED, non_retryable=True)


class FlyPlatformActivities:
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        settings = ctx.settings
        self.org = settings.fly_org
        self.client = FlyClient(
            base_url=settings.fly_api_url,
            token=settings.fly_api_token.get_secret_value() if settings.fly_api_token else "",
        )

    async def ensure_app(self, ref: DeploymentRef, sink: LogSink) -> None:
        """Create the PR's app on its project's network, or reuse it if it is already ours and there;
        someone else's name is an error."""
        name, network = ref.app_name, project_network(ref.project_id)
        if await self.client.create_app(name, self.org, network):
            sink.info(f"Created Fly app {name} in org {self.org} on network {network}")
            return
        try:
            app = await self.client.get_app(name)
        except FlyApiError as error:
            # Fly answers 403 for an app of an organization the token cannot see.
            if error.status != 403:
                raise
            app = None
        app = app or {}
        owner = (app.get("organization") or {}).get("slug")
        if owner != self.org:
            raise ApplicationError(
                f"the Fly app name {name} is taken by another organization; rename the repository or project",
                type=ErrorType.APP_NAME_TAKEN,
                non_retryable=True,
            )
        if app.get("network") == network:
            sink.info(f"Reusing Fly app {name}")
            return
        # An app created before previews had a network per project sits on the org's default one,
        # where every other project's previews can reach it: it is made again, on the right one.
        sink.info(f"Fly app {name} is on network {app.get('network')!r}, not {network}: recreating it")
        await self._delete_and_wait(name)
        if not await self.client.create_app(name, self.org, network):
            raise ApplicationError(
                f"the Fly app {name} could not be created again on network {network}",
                type=ErrorType.FLY_UNAVAILABLE,
            )
        sink.info(f"Created Fly app {name} in org {self.org} on network {network}")

    async def prepare_image(self, ref: DeploymentRef, sink: LogSink) -> None:
        """Before an image is pushed to registry.fly.io/{app}, the app must exist."""
        try:
            async with heartbeating():
                await self.ensure_app(ref, sink)
        except FlyApiError as error:
            sink.error(str(error))
            raise as_activity_error(error, self.org) from None

    @activity.defn(name=ActivityName.DEPLOY)
    async def deploy(self, ref: DeploymentRef) -> DeployResult:
        secrets = [
            *(await self.ctx.secrets(ref.project_id, ref.pr_number)).values(),
            self.ctx.settings.fly_api_token.get_secret_value() if self.ctx.settings.fly_api_token else "",
        ]
        async with (
            heartbeating(),
            LogSink(
                self.ctx.db,
                ref.deployment_id,
                LogType.DEPLOY,
                secrets=secrets,
                max_lines=self.ctx.settings.previewd_max_build_log_lines,
            ) as sink,
        ):
            try:
                return await self._deploy(ref, sink)
            except FlyApiError as error:
                sink.error(str(error))
                raise as_activity_error(error, self.org) from None
            except ApplicationError as error:
                sink.error(error.message)
                raise

    async def _deploy(self, ref: DeploymentRef, sink: LogSink) -> DeployResult:
        project = await self.ctx.project(ref.project_id)
        config = await self.ctx.deployment_config(project, ref.deployment_id)
        fly = config.fly_config
        # Checked on save too; again here for a value stored before the rule existed.
        async with self.ctx.db.session() as session:
            problem = await image_problem(session, project_id=project.id, image=fly.image)
        if problem:
            raise ApplicationError(problem, type=ErrorType.BAD_CONFIG, non_retryable=True)
        url = self.ctx.settings.preview_url(ref.app_name)
        # With a preview domain the preview's URL is its own name there (custom_domain.py).
        public_url = custom_url(ref.app_name, project.preview_domain) if project.preview_domain else url
        await self.ensure_app(ref, sink)
        values = {**config.env_vars, **await self.ctx.secrets(ref.project_id, ref.pr_number)}
        values |= {"PREVIEW_URL": public_url, "PR_NUMBER": str(ref.pr_number), "COMMIT_SHA": ref.commit_sha}
        # The PR's text as values only, as on the local platform (activities/environment.py).
        values |= pr_values(ref, await self.ctx.pull_request(ref.deployment_id))
        version = await self.client.set_secrets(ref.app_name, values)
        sink.info(f"Set {len(values)} secrets (version {version})")
        await self._ensure_addresses(ref.app_name, sink)
        await heartbeat()
        regions = [fly.region or self.ctx.settings.fly_region, *fly.fallback_regions]
        # A seed command runs once into a new database, after the release command, in its machine.
        seeding = await seed_command.due(self.ctx, ref, config)
        if seeding:
            config = seed_command.after_release(config)
        if config.release_command:
            # Before the PR's machine changes: a failure leaves the previous sha serving.
            await run_release(self.client, ref, config, region=regions[0], secrets_version=version, sink=sink)
        if seeding:
            await seed_command.ran(self.ctx, ref)
        body: dict[str, Any] = {"config": machine_config(ref, config), "min_secrets_version": version}
        machine = await self._create_or_update(ref, body, regions, sink)
        sink.info(f"Waiting for machine {machine['id']} to start")
        await self.client.wait_started(ref.app_name, machine, deadline_seconds=60)
        await self._check(url, sink)
        domain = (
            CustomDomain(self.ctx, self.client, ref, project.preview_domain, sink)
            if project.preview_domain
            else None
        )
        await drop_stale_names(self.ctx, self.client, ref, domain.hostname if domain else None, sink)
        if domain is not None:
            url = await domain.serve(url)
        sink.info(f"Live at {url}")
        return DeployResult(app_url=url)

    async def _ensure_addresses(self, app: str, sink: LogSink) -> None:
        ips = await self.client.ip_assignments(app)
        if not any(ip.get("shared") and "." in str(ip.get("ip")) for ip in ips):
            await self.client.assign_ip(app, "shared_v4")
            sink.info("Assigned a shared IPv4 address")
        if not any(":" in str(ip.get("ip")) for ip in ips):
            await self.client.assign_ip(app, "v6")
            sink.info("Assigned an IPv6 address")

    async def _create_or_update(
        self, ref: DeploymentRef, body: dict[str, Any], regions: list[str], sink: LogSink
    ) -> dict[str, Any]:
        """Later shas update the PR's one machine in place; the first creates it, trying regions in
        turn while Fly has no capacity."""
        last: FlyApiError | None = None
        for region in dict.fromkeys(regions):
            for _ in range(CAPACITY_TRIES_PER_REGION):
                try:
                    return await self._place(ref, body, region, sink)
                except FlyApiError as error:
                    if error.code != "insufficient_capacity":
                        raise
                    last = error
                    sink.info(f"No capacity in {region}: {error.error}")
                    await asyncio.sleep(1)
        raise ApplicationError(
            f"no Fly capacity in {', '.join(dict.fromkeys(regions))} ({last}); "
            "add fallback regions to fly_config",
            type=ErrorType.NO_CAPACITY,
            non_retryable=True,
        )

    async def _place(
        self, ref: DeploymentRef, body: dict[str, Any], region: str, sink: LogSink
    ) -> dict[str, Any]:
        """Update the PR's machine, or create it in `region`. A create is never repeated blindly:
        after a lost or failed answer we look for the machine before trying again."""
        for attempt in range(1, ATTEMPTS_PER_CALL + 1):
            existing = await self._our_machine(ref, sink)
            if existing is not None:
                sink.info(f"Updating machine {existing['id']} to {ref.commit_sha[:12]}")
                return await self.client.update_machine(ref.app_name, existing["id"], body)
            try:
                machine = await self.client.create_machine(ref.app_name, {**body, "region": region})
            except FlyApiError as error:
                if not error.transient or attempt == ATTEMPTS_PER_CALL:
                    raise
                sink.info(f"Creating the machine: {error}; checking before trying again")
                await asyncio.sleep(error.retry_after if error.retry_after is not None else attempt)
                continue
            sink.info(f"Created machine {machine['id']} in {region}")
            return machine
        raise AssertionError("unreachable")

    async def _our_machine(self, ref: DeploymentRef, sink: LogSink) -> dict[str, Any] | None:
        """The PR's one machine; any extra (a create retried after a lost answer) is removed."""
        ours = [m for m in await self.client.list_machines(ref.app_name) if _ours(m, ref)]
        for extra in ours[1:]:
            sink.info(f"Removing extra machine {extra['id']}")
            await self.client.delete_machine(ref.app_name, extra["id"])
        return ours[0] if ours else None

    async def _check(self, url: str, sink: LogSink) -> None:
        deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
        async with httpx.AsyncClient(timeout=5, follow_redirects=False) as http:
            while time.monotonic() < deadline:
                await heartbeat()
                if await answers(http, url):
                    return
                await asyncio.sleep(1)
        raise ApplicationError(
            f"{url} did not answer with 2xx/3xx within {HEALTH_TIMEOUT_SECONDS}s",
            type=ErrorType.START_FAILED,
            non_retryable=True,
        )

    @activity.defn(name=ActivityName.RETIRE)
    async def retire(self, ref: DeploymentRef) -> None:
        # Nothing to stop: the PR's machine was updated in place to the new sha.
        return None

    @activity.defn(name=ActivityName.DESTROY)
    async def destroy(self, input: DestroyInput) -> None:
        async with heartbeating():
            await self._destroy(input)

    async def _destroy(self, input: DestroyInput) -> None:
        try:
            if (refusal := await self._not_ours(input)) is not None:
                # Logged for the operator; the PR's teardown carries on (there is nothing of ours).
                activity.logger.warning("not deleting Fly app %s: %s", input.app_name, refusal)
                return
            await self._delete_and_wait(input.app_name)
        except FlyApiError as error:
            raise as_activity_error(error, self.org) from None

    async def _delete_and_wait(self, app_name: str) -> None:
        if await self.client.delete_app(app_name):
            # Destroyed means Fly confirms it: wait until the app is really gone.
            deadline = time.monotonic() + DELETE_CONFIRM_SECONDS
            while await self.client.get_app(app_name) is not None:
                if time.monotonic() > deadline:
                    raise ApplicationError(
                        f"Fly has not removed {app_name} yet", type=ErrorType.FLY_UNAVAILABLE
                    )
                await heartbeat()
                await asyncio.sleep(1)

    async def _not_ours(self, input: DestroyInput) -> str | None:
        """Why the app named `input.app_name` is not one previewd made for this project and PR, or
        None when it is. A name we failed to create (held by another organization, or allocated to
        another project) is someone else's app: deleting it by name would destroy their work."""
        try:
            app = await self.client.get_app(input.app_name)
        except FlyApiError as error:
            if error.status == 403:
                return "it belongs to an organization this token cannot see"
            raise
        if app is None:
            return None  # already gone: delete_app answers 404 and nothing happens
        owner = (app.get("organization") or {}).get("slug")
        if owner != self.org:
            return f"it belongs to organization {owner or 'unknown'}, not {self.org}"
        async with self.ctx.db.session() as session:
            allocated = await owner_of(session, platform="fly", name=input.app_name)
        if allocated is not None and (str(allocated[0]), allocated[1]) != (input.project_id, input.pr_number):
            return "its name is allocated to another project or PR"
        for machine in await self.client.list_machines(input.app_name):
            metadata = (machine.get("config") or {}).get("metadata") or {}
            named = (metadata.get(METADATA_PROJECT), metadata.get(METADATA_PR))
            if named != (None, None) and named != (input.project_id, str(input.pr_number)):
                return "its machines were made for another project or PR"
        return None


def _ours(machine: dict[str, Any], ref: DeploymentRef) -> bool:
    """The PR's preview machine: not another project's, nor a release command's one-off."""
    metadata = (machine.get("config") or {}).get("metadata") or {}
    return metadata.get(METADATA_PROJECT) in (None, ref.project_id) and METADATA_ROLE not in metadata


# The workflow calls these activities through PlatformActivities: mypy holds this class to it.
_: type[PlatformActivities] = FlyPlatformActivities
