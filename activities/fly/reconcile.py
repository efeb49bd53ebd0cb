"""Nothing left behind: find the org's preview apps with no open PR behind them, and destroy them.

An app is previewd's when its name starts with `pr-` and its machine metadata (or, for an app whose
machine was never made, our deployments table) names the project and PR. The PR is open while its
PreviewWorkflow runs (closing it ends the workflow), so that is what is asked, never guessed.
"""

from __future__ import annotations

import logging
import uuid

from sqlmodel import col, select
from temporalio import activity
from temporalio.client import Client

from activities.context import heartbeating
from activities.fly.client import FlyClient
from activities.fly.machine_config import METADATA_PR, METADATA_PROJECT
from models import WebhookDelivery
from models.app_names import owner_of
from models.db import Database
from models.deliveries import DeliveryOutcome
from runtime.temporal_client import workflow_running
from workflows.fly_reconcile_io import (
    RECONCILE_ACTIVITY,
    Decision,
    ReconcileAction,
    ReconcileInput,
    ReconcileResult,
)
from workflows.signals import workflow_id_for

log = logging.getLogger("previewd.fly.reconcile")
APP_PREFIX = "pr-"


class Reconciler:
    def __init__(self, *, client: FlyClient, org: str, db: Database, temporal: Client) -> None:
        self.client, self.org, self.db, self.temporal = client, org, db, temporal

    async def owner(self, app: str) -> tuple[str, int] | None:
        """(project id, PR number) behind an app, from its machine metadata or our deployments."""
        for machine in await self.client.list_machines(app):
            metadata = (machine.get("config") or {}).get("metadata") or {}
            if metadata.get(METADATA_PROJECT) and str(metadata.get(METADATA_PR, "")).isdigit():
                return str(metadata[METADATA_PROJECT]), int(metadata[METADATA_PR])
        # No machine (never made, or removed): ours only if the name was allocated to a PR of ours on
        # Fly; a deployment row alone may hold a name we failed to create (taken by someone else).
        async with self.db.session() as session:
            allocated = await owner_of(session, platform="fly", name=app)
        return (str(allocated[0]), allocated[1]) if allocated else None

    async def pr_open(self, project_id: str, pr_number: int) -> bool:
        """Whether the PR's workflow runs; open when Temporal cannot say (nothing is destroyed on a
        guess: the next reconcile asks again)."""
        return await workflow_running(self.temporal, workflow_id_for(project_id, pr_number)) is not False

    async def pr_pending(self, project_id: str, pr_number: int) -> bool:
        """A delivery for the PR is recorded but not yet dispatched (a reopen, say): it is coming back."""
        try:
            project = uuid.UUID(project_id)
        except ValueError:
            return False
        async with self.db.session() as session:
            found = await session.exec(
                select(WebhookDelivery.id)
                .where(
                    col(WebhookDelivery.outcome) == DeliveryOutcome.QUEUED,
                    col(WebhookDelivery.project_id) == project,
                    col(WebhookDelivery.pr_number) == pr_number,
                )
                .limit(1)
            )
            return found.first() is not None

    async def run(self, apply: bool) -> list[Decision]:
        decisions = []
        for app in sorted(a.get("name", "") for a in await self.client.list_apps(self.org)):
            decision = await self._decide(app)
            if decision.action == ReconcileAction.DESTROY and apply:
                # Asked again just before deleting: a PR reopened while we looked at other apps keeps its app.
                decision = await self._decide(app)
            if decision.action == ReconcileAction.DESTROY and apply:
                await self.client.delete_app(app)
                decision.action = ReconcileAction.DESTROYED
            log.info("%s: %s (%s)", decision.app, decision.action, decision.reason)
            decisions.append(decision)
        return decisions

    async def _decide(self, app: str) -> Decision:
        if not app.startswith(APP_PREFIX):
            return Decision(app, ReconcileAction.SKIP, "not a preview app name")
        owner = await self.owner(app)
        if owner is None:
            return Decision(app, ReconcileAction.SKIP, "no previewd metadata and no deployment of ours")
        project_id, pr_number = owner
        pr = f"PR #{pr_number} of project {project_id}"
        if await self.pr_open(project_id, pr_number):
            return Decision(app, ReconcileAction.KEEP, f"{pr} is open")
        if await self.pr_pending(project_id, pr_number):
            return Decision(app, ReconcileAction.KEEP, f"{pr} has a delivery on its way")
        return Decision(app, ReconcileAction.DESTROY, f"{pr} has no open preview")


class ReconcileActivities:
    def __init__(self, reconciler: Reconciler) -> None:
        self.reconciler = reconciler

    @activity.defn(name=RECONCILE_ACTIVITY)
    async def reconcile(self, input: ReconcileInput) -> ReconcileResult:
        # Hundreds of apps take minutes: heartbeats tell the worker's watchdog that this is progress,
        # not a stall (runtime/stall_rules.py).
        async with heartbeating():
            return ReconcileResult(decisions=await self.reconciler.run(input.apply))
