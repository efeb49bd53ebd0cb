"""A small client of the Fly Machines API (https://api.machines.dev), over httpx.

Transient answers (429, 5xx, connection errors) are retried here, a few times per call with backoff
that honours Retry-After, as Fly's own client does: a preview deploy makes a dozen calls, and
retrying the whole activity for one flaky call would repeat every call before it. Everything else
raises `FlyApiError` with Fly's own error text and the request id, for the deployment log.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from typing import Any

import httpx

from runtime.metrics.api_calls import count_no_answer, counting_hooks

log = logging.getLogger("previewd.fly")

TRANSIENT = frozenset({429, 500, 502, 503, 504})
ATTEMPTS_PER_CALL = 6
MAX_BACKOFF_SECONDS = 8.0
WAIT_TIMEOUT_SECONDS = 60


@dataclass
class FlyApiError(Exception):
    status: int
    error: str
    method: str
    path: str
    request_id: str | None = None
    retry_after: float | None = None
    # ErrorResponse.status: Fly's machine-readable reason (name_taken, insufficient_capacity, …).
    code: str | None = None

    def __str__(self) -> str:
        where = f" (fly-request-id {self.request_id})" if self.request_id else ""
        return f"Fly API {self.method} {self.path} answered {self.status}: {self.error}{where}"

    @property
    def transient(self) -> bool:
        return self.status in TRANSIENT


def auth_header(token: str) -> str:
    """Tokens from `fly tokens create` already carry their scheme ("FlyV1 …"); others are bearer tokens."""
    return token if token.startswith("FlyV1 ") else f"Bearer {token}"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class FlyClient:
    def __init__(self, *, base_url: str, token: str, timeout: float = 30.0) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": auth_header(token), "User-Agent": "previewd"},
            timeout=httpx.Timeout(timeout, read=WAIT_TIMEOUT_SECONDS + 10),
            event_hooks=counting_hooks("fly"),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        ok: tuple[int, ...] = (),
        retry: bool = True,
    ) -> httpx.Response:
        """One call, with transient failures retried. Statuses in `ok` are returned, not raised.

        `retry=False` for calls that are not safe to repeat blindly (a create that may have happened
        although its answer was lost): the caller looks before it tries again."""
        for attempt in range(1, ATTEMPTS_PER_CALL + 1):
            try:
                response = await self._http.request(method, path, json=json, params=params)
            except httpx.TransportError as error:
                count_no_answer("fly")
                failure = FlyApiError(503, f"connection failed: {type(error).__name__}", method, path)
            else:
                if response.is_success or response.status_code in ok:
                    return response
                failure = self._error(response, method, path)
                if not failure.transient:
                    raise failure
            log.warning("%s (attempt %d of %d)", failure, attempt, ATTEMPTS_PER_CALL)
            if attempt == ATTEMPTS_PER_CALL or not retry:
                raise failure
            backoff = min(MAX_BACKOFF_SECONDS, 0.25 * 2**attempt) * (0.5 + random.random() / 2)
            await asyncio.sleep(failure.retry_after if failure.retry_after is not None else backoff)
        raise AssertionError("unreachable")

    def _error(self, response: httpx.Response, method: str, path: str) -> FlyApiError:
        code = None
        try:
            body = response.json()
            error = str(body.get("error") or body) if isinstance(body, dict) else str(body)
            code = (
                str(body["status"])
                if isinstance(body, dict) and isinstance(body.get("status"), str)
                else None
            )
        except ValueError:
            error = response.text[:300] or response.reason_phrase
        request_id = response.headers.get("fly-request-id")
        failure = FlyApiError(
            response.status_code, error, method, path, request_id, _retry_after(response), code
        )
        log.warning("%s", failure)
        return failure

    # -- apps -------------------------------------------------------------------------------------

    async def create_app(self, name: str, org_slug: str, network: str) -> bool:
        """Creates the app on its private `network`; False when the name is already taken (by us or
        anyone)."""
        body = {"name": name, "org_slug": org_slug, "network": network}
        response = await self.request("POST", "/v1/apps", json=body, ok=(422,))
        if response.status_code == 422:
            failure = self._error(response, "POST", "/v1/apps")
            if failure.code == "name_taken":
                return False
            raise failure
        return True

    async def get_app(self, name: str) -> dict[str, Any] | None:
        response = await self.request("GET", f"/v1/apps/{name}", ok=(404,))
        return None if response.status_code == 404 else dict(response.json())

    async def list_apps(self, org_slug: str) -> list[dict[str, Any]]:
        response = await self.request("GET", "/v1/apps", params={"org_slug": org_slug})
        return list(response.json().get("apps") or [])

    async def delete_app(self, name: str) -> bool:
        """Deletes the app with its machines, IPs and secrets. False if it was already gone."""
        response = await self.request("DELETE", f"/v1/apps/{name}", params={"force": "true"}, ok=(404,))
        return response.status_code != 404

    # -- secrets and addresses ----------------------------------------------------------------------

    async def set_secrets(self, app: str, values: dict[str, str]) -> int:
        """Sets secrets; returns the secrets version to pass as a machine's min_secrets_version."""
        response = await self.request("POST", f"/v1/apps/{app}/secrets", json={"values": values})
        return int(response.json().get("version") or 0)

    async def ip_assignments(self, app: str) -> list[dict[str, Any]]:
        response = await self.request("GET", f"/v1/apps/{app}/ip_assignments")
        return list(response.json().get("ips") or [])

    async def assign_ip(self, app: str, kind: str) -> None:
        await self.request("POST", f"/v1/apps/{app}/ip_assignments", json={"type": kind})

    # -- certificates (custom domains) ----------------------------------------------------------------

    async def certificate(self, app: str, hostname: str) -> dict[str, Any] | None:
        """The app's CertificateDetail for `hostname`, or None when none was requested."""
        response = await self.request("GET", f"/v1/apps/{app}/certificates/{hostname}", ok=(404,))
        return None if response.status_code == 404 else dict(response.json())

    async def request_acme_certificate(self, app: str, hostname: str) -> dict[str, Any]:
        """Asks Fly for a Let's Encrypt certificate for `hostname` on the app. Idempotent here: a
        hostname the app already has (an earlier push, a retried activity) is looked up instead."""
        path = f"/v1/apps/{app}/certificates/acme"
        response = await self.request("POST", path, json={"hostname": hostname}, ok=(422,))
        if response.status_code == 422:
            failure = self._error(response, "POST", path)
            existing = await self.certificate(app, hostname)
            if existing is None:
                raise failure
            return existing
        return dict(response.json())

    async def delete_certificate(self, app: str, hostname: str) -> bool:
        """Removes the hostname and its certificates from the app; False if it had none."""
        response = await self.request("DELETE", f"/v1/apps/{app}/certificates/{hostname}", ok=(404,))
        return response.status_code != 404

    # -- machines -----------------------------------------------------------------------------------

    async def list_machines(self, app: str) -> list[dict[str, Any]]:
        response = await self.request("GET", f"/v1/apps/{app}/machines")
        return list(response.json())

    async def create_machine(self, app: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.request("POST", f"/v1/apps/{app}/machines", json=body, retry=False)
        return dict(response.json())

    async def delete_machine(self, app: str, machine_id: str) -> None:
        await self.request(
            "DELETE", f"/v1/apps/{app}/machines/{machine_id}", params={"force": "true"}, ok=(404,)
        )

    async def update_machine(self, app: str, machine_id: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.request("POST", f"/v1/apps/{app}/machines/{machine_id}", json=body)
        return dict(response.json())

    async def get_machine(self, app: str, machine_id: str) -> dict[str, Any]:
        response = await self.request("GET", f"/v1/apps/{app}/machines/{machine_id}")
        return dict(response.json())

    async def wait_started(self, app: str, machine: dict[str, Any], *, deadline_seconds: float) -> None:
        """GET …/wait?state=started, looping on 408 (Fly's "not yet") until the deadline."""
        await self.wait_state(app, machine, "started", deadline_seconds=deadline_seconds)

    async def wait_state(
        self, app: str, machine: dict[str, Any], state: str, *, deadline_seconds: float
    ) -> None:
        """GET …/wait?state=`state`, looping on 408 (Fly's "not yet") until the deadline."""
        params: dict[str, Any] = {
            "state": state,
            "timeout": min(WAIT_TIMEOUT_SECONDS, int(deadline_seconds)),
        }
        if machine.get("instance_id"):
            params["instance_id"] = machine["instance_id"]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + deadline_seconds
        path = f"/v1/apps/{app}/machines/{machine['id']}/wait"
        while True:
            response = await self.request("GET", path, params=params, ok=(408,))
            if response.status_code != 408:
                return
            if loop.time() >= deadline:
                raise FlyApiError(408, f"machine did not reach state {state} in time", "GET", path)
