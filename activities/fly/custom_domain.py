"""A Fly preview on its project's preview domain: `https://{app}.{domain}/`.

The deploy asks Fly for a certificate for the name (once per app: the app, and so the certificate,
lasts as long as the PR; a retry or the next push finds it), records Fly's view of it on the
deployment (status, and the DNS records it needs), and calls the preview ready only once the name
answers over TLS with a certificate this host verifies. Until then the deployment stays `deploying`;
past PREVIEWD_CUSTOM_DOMAIN_TIMEOUT_SECONDS it fails, naming the DNS record to add. Destroying the
app removes its certificates with it (Fly's DELETE /v1/apps/{app}); a name the PR's app no longer
answers at (the project's domain changed or was removed) has its certificate deleted at the next
deploy (`drop_stale_names`).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import update
from sqlmodel import col, select
from temporalio.exceptions import ApplicationError

from activities.context import WorkerContext, heartbeat
from activities.fly.client import FlyApiError, FlyClient
from activities.fly.tls_check import tls_client, tls_problem
from activities.logsink import LogSink
from models import Deployment
from models.preview_domains import DnsRecord, pointing_record, records_from_fly
from workflows.activity_io import DeploymentRef, ErrorType

PROBE_EVERY_SECONDS = 1.0
# Fly's certificate is looked at again this often while the name does not answer yet.
CERTIFICATE_EVERY_SECONDS = 5.0
# How long such a look may take (Fly slow, or throttling with Retry-After) before the probe goes on
# with the status it last had: the status is for the pages, the name answering decides.
LOOK_TIMEOUT_SECONDS = 5.0


def custom_url(app_name: str, domain: str) -> str:
    return f"https://{app_name}.{domain}/"


def records_needed(hostname: str, edge_url: str, detail: dict[str, Any]) -> list[DnsRecord]:
    """What the operator adds for `hostname`: what Fly's certificate asks for when it says, else the
    record that points the name at the app's own edge name."""
    return records_from_fly(hostname, detail.get("dns_requirements") or {}) or [
        pointing_record(hostname, urlsplit(edge_url).hostname or "")
    ]


def _view(hostname: str, detail: dict[str, Any], records: list[DnsRecord], serving: bool) -> dict[str, Any]:
    return {
        "hostname": hostname,
        "status": str(detail.get("status") or "requested"),
        "configured": bool(detail.get("configured")),
        "serving": serving,
        "dns": [record.as_dict() for record in records],
    }


class CustomDomain:
    def __init__(
        self, ctx: WorkerContext, client: FlyClient, ref: DeploymentRef, domain: str, sink: LogSink
    ) -> None:
        self.ctx, self.client, self.ref, self.sink = ctx, client, ref, sink
        self.hostname = f"{ref.app_name}.{domain}"
        self.url = custom_url(ref.app_name, domain)

    async def serve(self, edge_url: str) -> str:
        """The custom URL once it answers over verified TLS; ApplicationError past the bound."""
        timeout = self.ctx.settings.previewd_custom_domain_timeout_seconds
        # What the failure names if Fly never answers: the record pointing the name at the app.
        self.problem = "not checked yet"
        self.shown = _view(self.hostname, {}, records_needed(self.hostname, edge_url, {}), serving=False)
        # One bound for the whole wait, Fly's answers included: a slow or throttled certificate
        # lookup (Retry-After) must not stretch it past the setting, and so past the activity's own.
        try:
            async with asyncio.timeout(timeout) as bound:
                detail = await self._wait(edge_url)
        except TimeoutError:
            if not bound.expired():
                raise
            message = self._never_served(timeout)
            raise ApplicationError(message, type=ErrorType.START_FAILED, non_retryable=True) from None
        detail = await self._look(detail)
        await self._record(
            _view(self.hostname, detail, records_needed(self.hostname, edge_url, detail), True)
        )
        self.sink.info(f"{self.url} answers over TLS")
        return self.url

    async def _wait(self, edge_url: str) -> dict[str, Any]:
        """Asks Fly for the certificate (once per app) and probes the name until it answers, keeping
        Fly's view of the certificate on the deployment; Fly's last CertificateDetail."""
        detail = await self.client.certificate(self.ref.app_name, self.hostname)
        if detail is None:
            detail = await self.client.request_acme_certificate(self.ref.app_name, self.hostname)
            self.sink.info(f"Requested a certificate from Fly for {self.hostname}")
        self.shown = _view(self.hostname, detail, records_needed(self.hostname, edge_url, detail), False)
        await self._record(self.shown)
        self.sink.info(
            f"Certificate for {self.hostname}: {self.shown['status']}; waiting for {self.url} over TLS"
        )
        next_look = time.monotonic() + CERTIFICATE_EVERY_SECONDS
        overrides = self.ctx.settings.resolve_overrides
        async with tls_client(self.ctx.settings) as http:
            while (problem := await tls_problem(http, self.url, overrides)) is not None:
                self.problem = problem
                await heartbeat()
                if time.monotonic() >= next_look:
                    next_look = time.monotonic() + CERTIFICATE_EVERY_SECONDS
                    detail = await self._look(detail)
                    records = records_needed(self.hostname, edge_url, detail)
                    if (latest := _view(self.hostname, detail, records, serving=False)) != self.shown:
                        self.shown = latest
                        await self._record(latest)
                        self.sink.info(f"Certificate for {self.hostname}: {latest['status']}")
                await asyncio.sleep(PROBE_EVERY_SECONDS)
        return detail

    async def _look(self, detail: dict[str, Any]) -> dict[str, Any]:
        """Fly's certificate now; `detail` (the last one seen) when Fly does not say within
        LOOK_TIMEOUT_SECONDS or answers with a transient failure."""
        try:
            async with asyncio.timeout(LOOK_TIMEOUT_SECONDS):
                return await self.client.certificate(self.ref.app_name, self.hostname) or detail
        except TimeoutError:
            return detail
        except FlyApiError as error:
            if not error.transient:
                raise
            return detail

    def _never_served(self, timeout: int) -> str:
        wanted = "; ".join(f"{r['name']} {r['type']} {r['value']}" for r in self.shown["dns"])
        return (
            f"{self.url} did not answer over TLS within {timeout}s ({self.problem}; Fly's certificate: "
            f"{self.shown['status']}). Add the DNS record {wanted}, then redeploy"
        )

    async def _record(self, view: dict[str, Any]) -> None:
        async with self.ctx.db.session() as session:
            await session.execute(
                update(Deployment)
                .where(col(Deployment.id) == uuid.UUID(self.ref.deployment_id))
                .values(custom_domain=view)
            )
            await session.commit()


async def drop_stale_names(
    ctx: WorkerContext, client: FlyClient, ref: DeploymentRef, keep: str | None, sink: LogSink
) -> None:
    """Delete the app's certificates for names earlier deployments of the PR used and this one does
    not (`keep` is this deployment's name, None without a domain)."""
    async with ctx.db.session() as session:
        views = (
            await session.exec(
                select(Deployment.custom_domain)
                .where(
                    Deployment.project_id == uuid.UUID(ref.project_id), Deployment.pr_number == ref.pr_number
                )
                .where(col(Deployment.id) != uuid.UUID(ref.deployment_id))
                .where(col(Deployment.custom_domain).is_not(None))
            )
        ).all()
    stale = {str(view["hostname"]) for view in views if view and view.get("hostname")} - {keep}
    for hostname in sorted(stale):
        if await client.delete_certificate(ref.app_name, hostname):
            sink.info(f"Removed the certificate for {hostname}: the project's preview domain changed")
