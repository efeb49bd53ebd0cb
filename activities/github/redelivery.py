"""The `github.redeliver_failed` activity: GitHub does not send a failed webhook delivery again by
itself (docs.github.com, "Handling failed webhook deliveries"), so this lists the App's recent
deliveries (`GET /app/hook/deliveries`, App JWT, newest first, cursor pages) back to where the last
scan looked, and asks GitHub to redeliver (`POST /app/hook/deliveries/{id}/attempts`) each event
none of whose attempts got a 2xx from us.

A redelivery keeps the event's guid (X-GitHub-Delivery), so the outbox drops it if it reached us
after all. Each failed attempt is asked for once, remembered in Postgres, so a restarted worker does
not ask again; an event whose redelivery failed too is asked for again, at most MAX_ASKS times.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio import activity

from activities.context import WorkerContext
from activities.github.app_auth import GitHubApp
from activities.github.client import GitHubApiError
from activities.github.errors import as_activity_error
from models.common import utcnow
from outbox import redelivery as memory
from workflows.github_reconcile_io import REDELIVER_ACTIVITY, RedeliverInput, RedeliverResult

log = logging.getLogger("previewd.github.redelivery")

PER_PAGE = 100
MAX_PAGES = 50
# The first scan looks this far back; a scan after a long stop no further than MAX_LOOKBACK (GitHub
# keeps deliveries for a few days; older events are the drift reconcile's to catch up with).
FIRST_LOOKBACK = timedelta(hours=1)
MAX_LOOKBACK = timedelta(hours=24)
# GitHub lists an attempt once it is over (up to its 10 s timeout): look again a little before the
# last scan's start, so none falls between two scans.
OVERLAP = timedelta(minutes=2)
MAX_ASKS = 3


@dataclass(frozen=True)
class Attempt:
    id: int
    guid: str
    delivered_at: datetime
    status_code: int
    status: str
    event: str
    action: str | None

    @classmethod
    def of(cls, item: dict[str, Any]) -> Attempt:
        return cls(
            id=int(item["id"]), guid=str(item["guid"]),
            delivered_at=datetime.fromisoformat(str(item["delivered_at"]).replace("Z", "+00:00")),
            status_code=int(item.get("status_code") or 0), status=str(item.get("status") or ""),
            event=str(item.get("event") or ""), action=item.get("action"),
        )  # fmt: skip

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300


def to_redeliver(attempts: list[Attempt]) -> list[Attempt]:
    """Per event (guid) none of whose attempts got a 2xx: its newest attempt, oldest event first."""
    newest: dict[str, Attempt] = {}
    succeeded = {a.guid for a in attempts if a.ok}
    for attempt in attempts:
        if attempt.guid not in succeeded and (
            attempt.guid not in newest or attempt.id > newest[attempt.guid].id
        ):
            newest[attempt.guid] = attempt
    return sorted(newest.values(), key=lambda a: a.id)


class RedeliveryActivities:
    def __init__(self, ctx: WorkerContext, app: GitHubApp | None) -> None:
        self.ctx = ctx
        self.app = app

    @activity.defn(name=REDELIVER_ACTIVITY)
    async def redeliver_failed(self, input: RedeliverInput) -> RedeliverResult:
        if self.app is None:
            return RedeliverResult()
        started = utcnow()
        async with self.ctx.db.session() as session:
            mark = await memory.examined_through(session)
        since = max((mark - OVERLAP) if mark else started - FIRST_LOOKBACK, started - MAX_LOOKBACK)
        try:
            attempts = await self._list_since(self.app, since)
            failed = to_redeliver(attempts)
            asked = await self._ask(self.app, failed) if failed else []
        except GitHubApiError as error:
            raise as_activity_error(error) from None
        async with self.ctx.db.session() as session:
            await memory.mark_examined(session, started)
            await session.commit()
        log.info(
            "redelivery: %d attempts since %s, %d events without a 2xx, asked GitHub to redeliver %d",
            len(attempts), since.isoformat(timespec="seconds"), len(failed), len(asked),
        )  # fmt: skip
        return RedeliverResult(examined=len(attempts), asked=asked)

    async def _list_since(self, app: GitHubApp, since: datetime) -> list[Attempt]:
        attempts: list[Attempt] = []
        url: str | None = "/app/hook/deliveries"
        params: dict[str, Any] | None = {"per_page": PER_PAGE}
        for _ in range(MAX_PAGES):
            if url is None:
                break
            # A fresh JWT per page: each lives ten minutes at most.
            try:
                answer = await app.api.answer("GET", url, token=app.app_jwt(), params=params)
            except GitHubApiError as error:
                if error.status != 404:
                    raise
                # An App without a webhook URL has no delivery log: nothing to catch up with.
                log.warning("redelivery: GitHub keeps no webhook deliveries for this App (%s)", error)
                break
            activity.heartbeat()
            page = [Attempt.of(item) for item in answer.body or []]
            attempts += [a for a in page if a.delivered_at >= since]
            if not page or any(a.delivered_at < since for a in page):
                break  # newest first: what follows is older still
            url, params = answer.next_url(), None
        return attempts

    async def _ask(self, app: GitHubApp, failed: list[Attempt]) -> list[str]:
        guids = {a.guid for a in failed}
        async with self.ctx.db.session() as session:
            reached_us = await memory.received(session, guids)
            already, asks = await memory.asked(session, guids)
        asked: list[str] = []
        for attempt in failed:
            if attempt.guid in reached_us or attempt.id in already or asks.get(attempt.guid, 0) >= MAX_ASKS:
                continue
            if reason := await self._superseded(app, attempt):
                log.info("not redelivering %s %s: %s", attempt.event, attempt.guid, reason)
                async with self.ctx.db.session() as session:
                    await memory.record_decision(
                        session, github_delivery_id=attempt.id, guid=attempt.guid, event=attempt.event,
                        action=attempt.action, status=attempt.status, asked=False, reason=reason,
                    )  # fmt: skip
                    await session.commit()
                continue
            try:
                await app.api.request(
                    "POST", f"/app/hook/deliveries/{attempt.id}/attempts", token=app.app_jwt()
                )
            except GitHubApiError as error:
                if error.transient:
                    raise
                # Refused for good (too old, say): remembered, so it is not asked for again.
                log.warning("redelivery of %s (%s) refused: %s", attempt.guid, attempt.event, error)
            async with self.ctx.db.session() as session:
                await memory.record_decision(
                    session, github_delivery_id=attempt.id, guid=attempt.guid, event=attempt.event,
                    action=attempt.action, status=attempt.status,
                )  # fmt: skip
                await session.commit()
            log.info(
                "asked GitHub to redeliver %s %s (%s; it got %s)",
                attempt.event, attempt.guid, attempt.action or "-", attempt.status or attempt.status_code,
            )  # fmt: skip
            asked.append(attempt.guid)
        return asked

    async def _superseded(self, app: GitHubApp, attempt: Attempt) -> str:
        """Why a failed `pull_request` event must not be sent again ('' when it may): its PR had a
        later push or close of ours. Its payload (`GET /app/hook/deliveries/{id}`) names the PR."""
        if attempt.event != "pull_request":
            return ""
        delivery = await app.api.request("GET", f"/app/hook/deliveries/{attempt.id}", token=app.app_jwt())
        payload = ((delivery or {}).get("request") or {}).get("payload") or {}
        try:
            pr_number, repo_id = int(payload["number"]), int(payload["repository"]["id"])
        except (KeyError, TypeError, ValueError):
            return ""
        async with self.ctx.db.session() as session:
            later = await memory.later_event_received(
                session, repo_id=repo_id, pr_number=pr_number, after=attempt.delivered_at
            )
        return f"PR #{pr_number} had a later event; the drift reconcile covers the rest" if later else ""
