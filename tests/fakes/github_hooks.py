"""The App's webhook side of the loopback GitHub fake: GitHub sending webhooks to the App's URL, its
delivery log, and redelivery. Hooked into `FakeGitHub` (`fake.hooks`), answering on the same server.

Written to docs.github.com ("Webhook events and payloads": delivery headers; "Handling failed webhook
deliveries": GitHub does not redeliver by itself; REST "GitHub App webhooks"):

- `deliver(event, payload)` POSTs the payload to `url`, signed with `secret` (`X-Hub-Signature-256`,
  and the legacy sha1 `X-Hub-Signature`), with `X-GitHub-Event`, `X-GitHub-Delivery` (the event's
  guid), `X-GitHub-Hook-ID`, `X-GitHub-Hook-Installation-Target-Type: integration`,
  `X-GitHub-Hook-Installation-Target-ID` (the App id) and `User-Agent: GitHub-Hookshot/…`, and
  records the attempt with what it got: `status` "OK" and the code for a 2xx, "Invalid HTTP
  Response: <code>" otherwise, "failed to connect" (code 502, as the docs' example has it) when
  nothing answered. With `active = False` (the App's webhook switched off) nothing is sent or logged.
- `GET /app/hook/deliveries` (App JWT): the attempts newest first, as `hook-delivery-item`s (`id`,
  `guid`, `delivered_at`, `redelivery`, `duration`, `status`, `status_code`, `event`, `action`,
  `installation_id`, `repository_id`, `throttled_at`); `per_page` (default 30, at most 100),
  `cursor` (opaque, from the `Link` header's `rel="next"`), `redelivery` (true/false filter).
- `GET /app/hook/deliveries/{delivery_id}` (App JWT): one attempt as a `hook-delivery`: the item's
  fields plus `url`, `request` (`headers`, `payload`) and `response` (`headers`, `payload`); an
  unknown id is 404.
- `POST /app/hook/deliveries/{delivery_id}/attempts` (App JWT): 202 `{}`, then the same event is sent
  again in the background with the same guid and recorded as a new attempt with `redelivery: true`;
  an unknown id is 404.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
from starlette.requests import Request

from tests.fakes.github_api import GitHubError, _WithHeaders

if TYPE_CHECKING:
    from tests.fakes.github_api import FakeGitHub

Json = dict[str, Any]
HOOK_DOCS = "https://docs.github.com/rest/apps/webhooks"
HOOK_ID = 424_242
TIMEOUT_SECONDS = 10.0  # GitHub gives a receiver 10 seconds


@dataclass
class HookAttempt:
    id: int
    guid: str
    event: str
    payload: Json
    delivered_at: float
    redelivery: bool
    status_code: int
    status: str
    duration: float
    request_headers: dict[str, str] = field(default_factory=dict)
    response_body: str = ""

    def view(self) -> Json:
        installation = self.payload.get("installation") or {}
        repository = self.payload.get("repository") or {}
        action = self.payload.get("action")
        return {
            "id": self.id, "guid": self.guid,
            "delivered_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.delivered_at)),
            "redelivery": self.redelivery, "duration": round(self.duration, 2), "status": self.status,
            "status_code": self.status_code, "event": self.event,
            "action": action if isinstance(action, str) else None,
            "installation_id": installation.get("id"), "repository_id": repository.get("id"),
            "throttled_at": None,
        }  # fmt: skip

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300


@dataclass
class GitHubHooks:
    fake: FakeGitHub
    url: str = ""
    secret: str = ""
    active: bool = True
    attempts: list[HookAttempt] = field(default_factory=list)
    # Ids of attempts the App asked to redeliver, in the order asked.
    redelivery_requests: list[int] = field(default_factory=list)
    # A test knob: redeliveries asked for wait in `held` until `release_held()` (GitHub sends them
    # some time after it accepted the request).
    hold_redeliveries: bool = False
    held: list[HookAttempt] = field(default_factory=list)
    _next_id: int = 90_000_000_000
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- GitHub sending ------------------------------------------------------------------------

    def deliver(self, event: str, payload: Json, guid: str | None = None) -> HookAttempt | None:
        """Send an event now, from the caller's thread (tests act as GitHub); None when switched off."""
        if not self.active:
            return None
        return asyncio.run(self._send(event, payload, guid or str(uuid.uuid4()), redelivery=False))

    async def _send(self, event: str, payload: Json, guid: str, *, redelivery: bool) -> HookAttempt:
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"GitHub-Hookshot/{hashlib.sha1(b'hookshot').hexdigest()[:7]}",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": guid,
            "X-GitHub-Hook-ID": str(HOOK_ID),
            "X-GitHub-Hook-Installation-Target-Type": "integration",
            "X-GitHub-Hook-Installation-Target-ID": str(self.fake.app_id),
            "X-Hub-Signature": "sha1=" + hmac.new(self.secret.encode(), body, hashlib.sha1).hexdigest(),
            "X-Hub-Signature-256": "sha256="
            + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest(),
        }
        answer = ""
        # The client is made before the clock starts: `duration` is the receiver's time, as GitHub
        # reports it, not the cost of a new client's TLS context on a busy test process.
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as client:
            started = time.time()
            try:
                response = await client.post(self.url, content=body, headers=headers)
                code, answer = response.status_code, response.text[:1000]
                status = "OK" if 200 <= code < 300 else f"Invalid HTTP Response: {code}"
            except httpx.TimeoutException:
                code, status = 0, "timed out"
            except httpx.HTTPError:
                code, status = 502, "failed to connect"
        with self._lock:
            self._next_id += 1
            attempt = HookAttempt(
                self._next_id, guid, event, payload, started, redelivery, code, status,
                time.time() - started, {k: v for k, v in headers.items() if "Signature" not in k}, answer,
            )  # fmt: skip
            self.attempts.append(attempt)
        return attempt

    def release_held(self) -> list[HookAttempt]:
        """Send the redeliveries held back, now, from the caller's thread."""
        with self._lock:
            held, self.held = self.held, []
        return [asyncio.run(self._send(a.event, a.payload, a.guid, redelivery=True)) for a in held]

    def of_guid(self, guid: str) -> list[HookAttempt]:
        with self._lock:
            return [a for a in self.attempts if a.guid == guid]

    # --- the App's REST routes -------------------------------------------------------------------

    async def route(self, request: Request, method: str, parts: list[str]) -> tuple[int, Any]:
        """`parts` of a path under /app/hook/deliveries; every route wants the App's JWT."""
        self.fake._check_jwt(request)
        if method == "GET" and parts == ["app", "hook", "deliveries"]:
            return 200, self._list(request)
        if method == "GET" and len(parts) == 4 and parts[3].isdigit():
            with self._lock:
                found = next((a for a in self.attempts if a.id == int(parts[3])), None)
            if found is None:
                raise GitHubError(404, "Not Found", HOOK_DOCS)
            return 200, {
                **found.view(), "url": self.url,
                "request": {"headers": found.request_headers, "payload": found.payload},
                "response": {"headers": {}, "payload": found.response_body or None},
            }  # fmt: skip
        if method == "POST" and len(parts) == 5 and parts[4] == "attempts" and parts[3].isdigit():
            with self._lock:
                attempt = next((a for a in self.attempts if a.id == int(parts[3])), None)
                if attempt is not None:
                    self.redelivery_requests.append(attempt.id)
                    if self.hold_redeliveries:
                        self.held.append(attempt)
            if attempt is None:
                raise GitHubError(404, "Not Found", HOOK_DOCS)
            if self.hold_redeliveries:
                return 202, {}
            # GitHub accepts at once and sends later; the task runs on the fake server's loop.
            asyncio.get_running_loop().create_task(
                self._send(attempt.event, attempt.payload, attempt.guid, redelivery=True)
            )
            return 202, {}
        raise GitHubError(404, "Not Found", HOOK_DOCS)

    def _list(self, request: Request) -> _WithHeaders:
        raw = request.query_params.get("per_page", "")
        per_page = min(int(raw), 100) if raw.isdigit() and int(raw) > 0 else 30
        with self._lock:
            listed = sorted(self.attempts, key=lambda a: -a.id)
        wanted = request.query_params.get("redelivery")
        if wanted in ("true", "false"):
            listed = [a for a in listed if a.redelivery == (wanted == "true")]
        cursor = request.query_params.get("cursor")
        if cursor is not None:
            if not (cursor.startswith("v1_") and cursor[3:].isdigit()):
                raise GitHubError(400, "Bad Request", HOOK_DOCS)
            listed = [a for a in listed if a.id <= int(cursor[3:])]
        page, rest = listed[:per_page], listed[per_page:]
        headers = {}
        if rest:
            next_url = request.url.remove_query_params("cursor").include_query_params(
                per_page=per_page, cursor=f"v1_{rest[0].id}"
            )
            headers["link"] = f'<{next_url}>; rel="next"'
        return _WithHeaders([a.view() for a in page], headers)
