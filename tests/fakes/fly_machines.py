"""A loopback fake of the Fly Machines API (https://api.machines.dev), for tests.

Written to `shared/fly/machines-openapi-subset.json`: every request is matched to a spec
operation, its query parameters and JSON body are validated against the spec's schemas, and
every error body is an `ErrorResponse` (`{"error": <message>, "status": <main.statusCode>}`,
`status` only when the API classifies the failure). Status codes and messages the subset does
not pin down follow fly-go (superfly/fly-go flaps) and the Fly docs:

- bad/missing token -> 401 `{"error": "unauthorized"}`
- an app owned by another org -> 403 `{"error": "unauthorized"}`
- unknown app -> 404 `{"error": "app not found"}`
- app name taken (ours or another org's) -> 422
  `{"error": "Validation failed: Name has already been taken", "status": "name_taken"}`
- no capacity in the region -> `capacity_http_status` (422 by default)
  `{"error": "...", "status": "insufficient_capacity"}`: classify on `status`, not the HTTP code
- `/wait` not reached within `timeout` -> 408 `{"error": "deadline_exceeded: ..."}`
- destroying a running machine without `force`/`kill` -> 409
  `{"error": "unable to destroy machine, not currently stopped"}`

Certificates (custom domains): a requested hostname is `Awaiting configuration` until the test says
its DNS record was added (`point_dns`), then `Ready` with `configured: true` (the subset does not pin
the status strings; these are flyctl's words). A hostname already on the app -> 422
`{"error": "Hostname already exists on app"}`. `FakeFlyTlsEdge` serves `https://{hostname}/` on
loopback for a configured certificate only (the TLS handshake fails for any other name), with a
certificate from a test CA.

Machines come up `start_delay` seconds after create/update/start (state `created`/`replacing`/
`starting` until then) and go down `start_delay` seconds after stop (`stopping`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.loopback import LoopbackServer
from tests.fakes.openapi_validation import MethodNotAllowed, OpenAPIContract, RouteNotFound
from tests.fakes.tls_authority import TestAuthority

Json = dict[str, Any]
Query = dict[str, list[Any]]
Handler = Callable[["Req"], Awaitable[tuple[int, Any]]]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_APP_NAME = re.compile(r"^[a-z0-9-]{1,63}$")
_SETTLED = {"started", "stopped", "suspended", "failed", "destroyed"}
_DESTROYABLE = {"stopped", "suspended", "failed"}


def _runs_to_its_end(config: Json) -> bool:
    """A machine Fly does not restart when its process exits, given a command to run."""
    return (config.get("restart") or {}).get("policy") == "no" and bool((config.get("init") or {}).get("cmd"))


_RANDOM_FAULTS: dict[int, str] = {
    500: "internal server error",
    502: "bad gateway",
    503: "service unavailable",
    429: "rate limit exceeded",
}
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


EDGE_PREFIX = "/__edge"


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FlyError(Exception):
    """An error answer: HTTP status and an ErrorResponse body."""

    def __init__(
        self,
        http_status: int,
        error: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.http_status = http_status
        self.error = error
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> Json:
        body: Json = {"error": self.error}
        if self.code is not None:
            body["status"] = self.code
        return body


@dataclass
class Call:
    """One request the fake answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any  # decoded JSON, the raw text if it was not JSON, or None
    status: int
    request_id: str
    operation_id: str | None


@dataclass
class Fault:
    """A queued failure; see `FakeFly.fail_next`."""

    status: int
    error: str
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    method: str | None = None
    path: str | None = None  # regex, searched in the request path
    apply: bool = False  # handle the request first, then answer the failure instead

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or re.search(self.path, path) is not None


@dataclass
class Req:
    """A validated request as handlers see it."""

    path: dict[str, str]
    query: Query  # parameters the spec declares, typed; every value kept
    raw_query: dict[str, list[str]]
    body: Any


@dataclass
class MachineMeta:
    """What the fake knows about a machine beyond the `Machine` schema."""

    min_secrets_version: int | None
    secrets_version: int  # the app's secrets version when the machine was last (re)launched
    request: Json  # the last create/update body
    target_state: str | None = None
    ready_at: float = 0.0
    versions: int = 1  # how many instance versions the machine has had


class FakeFly:
    """In-memory Fly Machines API. `.app` is the ASGI app; the rest is inspectable state and knobs."""

    def __init__(
        self,
        *,
        token: str,
        org_slug: str = "personal",
        other_orgs_apps: dict[str, str] | None = None,
        seed: int = 0,
        start_delay: float = 0.2,
        default_region: str = "iad",
    ) -> None:
        self.token = token
        self.org_slug = org_slug
        self.other_orgs_apps: dict[str, str] = dict(other_orgs_apps or {})  # app name -> org slug
        self.start_delay = start_delay
        self.default_region = default_region
        self.rng = random.Random(seed)
        self.contract = OpenAPIContract.load()

        # State. apps[name] is an `App`; machines[app][id] a `Machine`; ips[app] `IPAssignment`s.
        self.apps: dict[str, Json] = {}
        self.machines: dict[str, dict[str, Json]] = {}
        self.machine_meta: dict[str, dict[str, MachineMeta]] = {}
        self.destroyed_machines: dict[str, dict[str, Json]] = {}
        self.secrets: dict[str, dict[str, str]] = {}
        self.secrets_version: dict[str, int] = {}
        self.ips: dict[str, list[Json]] = {}
        # certificates[app][hostname] is a `CertificateDetail`; dns_pointed, the hostnames whose DNS
        # record the operator (the test) added, so Fly can validate and issue.
        self.certificates: dict[str, dict[str, Json]] = {}
        self.dns_pointed: set[str] = set()
        self.calls: list[Call] = []
        # A machine that runs to its end (restart policy "no", like a release_command machine) exits
        # with the code this gives for its init.cmd: the fake runs no image, a test says how it ends.
        self.exit_code_for: Callable[[list[str]], int] = lambda cmd: 0
        self._secret_times: dict[str, dict[str, tuple[str, str]]] = {}
        self._numeric_ids = iter(range(1000, 10**9))

        # Fault injection.
        self.fail_rate: float = 0.0
        self.fail_statuses: tuple[int, ...] = (500, 502, 503, 429)
        self.slow_seconds: float = 0.0
        self.capacity_regions: set[str] | None = None
        self.capacity_http_status: int = 422
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

        self._handlers: dict[str, Handler] = {
            "Apps_list": self._apps_list,
            "Apps_create": self._apps_create,
            "Apps_show": self._apps_show,
            "Apps_delete": self._apps_delete,
            "App_IPAssignments_list": self._ips_list,
            "App_IPAssignments_create": self._ips_create,
            "App_IPAssignments_delete": self._ips_delete,
            "Machines_list": self._machines_list,
            "Machines_create": self._machines_create,
            "Machines_show": self._machines_show,
            "Machines_update": self._machines_update,
            "Machines_delete": self._machines_delete,
            "Machines_start": self._machines_start,
            "Machines_stop": self._machines_stop,
            "Machines_wait": self._machines_wait,
            "Secrets_list": self._secrets_list,
            "Secrets_update": self._secrets_update,
            "Secret_get": self._secret_get,
            "Secret_create": self._secret_create,
            "Secret_delete": self._secret_delete,
            "App_Certificates_acme_create": self._certificates_acme_create,
            "App_Certificates_show": self._certificates_show,
            "App_Certificates_delete": self._certificates_delete,
        }
        self.app = Starlette(
            routes=[
                Route(EDGE_PREFIX + "/{app}/", self._edge, methods=["GET"]),
                Route("/{path:path}", self._endpoint, methods=_ALL_METHODS),
            ]
        )

    async def _edge(self, request: Request) -> Response:
        """Stands in for Fly's edge (https://{app}.fly.dev/): 200 with the started machine's sha, else 503.

        Point FLY_PREVIEW_URL_TEMPLATE at `{url}/__edge/{app}/` to health-check previews through it.
        """
        return self.edge_answer(request.path_params["app"])

    def edge_answer(self, app: str) -> Response:
        for machine_id in list(self.machines.get(app, {})):
            self._refresh(app, machine_id)
            machine = self.machines[app][machine_id]
            if machine.get("state") == "started":
                sha = ((machine.get("config") or {}).get("metadata") or {}).get("previewd_sha", "")
                return Response(f"preview of {app} at {sha}", status_code=200, media_type="text/plain")
        return Response(f"no started machine for {app}", status_code=503, media_type="text/plain")

    # --- knobs and helpers for tests ----------------------------------------------------------

    def fail_next(
        self,
        n: int,
        status: int,
        *,
        error: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        method: str | None = None,
        path: str | None = None,
        apply: bool = False,
    ) -> None:
        """Answer the next `n` authorized requests matching `method`/`path` (regex) with `status`.

        With `apply=True` the request is carried out first and only its answer is replaced, which
        is how a lost response looks to a client (e.g. the app was created but the client saw 502).
        """
        message = error or _RANDOM_FAULTS.get(status, f"injected failure {status}")
        with self._lock:
            for _ in range(n):
                self._faults.append(Fault(status, message, code, dict(headers or {}), method, path, apply))

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    def calls_to(self, method: str | None = None, path: str | None = None) -> list[Call]:
        """Recorded calls, filtered by method and a regex searched in the path."""
        return [
            c
            for c in list(self.calls)
            if (method is None or c.method == method.upper())
            and (path is None or re.search(path, c.path) is not None)
        ]

    def point_dns(self, hostname: str) -> None:
        """The operator added the DNS record for `hostname`: Fly can now validate it and issue."""
        self.dns_pointed.add(hostname)

    def issued(self, hostname: str) -> str | None:
        """The app holding a configured (issued) certificate for `hostname`, if any."""
        for app, certificates in list(self.certificates.items()):
            detail = certificates.get(hostname)
            if detail is not None and self._refresh_certificate(app, detail)["configured"]:
                return app
        return None

    def machine_state(self, app_name: str, machine_id: str) -> str:
        self._refresh(app_name, machine_id)
        return str(self.machines[app_name][machine_id]["state"])

    # --- request pipeline ---------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        request_id = f"{self._ulid()}-{self.default_region}"
        raw = await request.body()
        query = parse_qs(request.url.query, keep_blank_values=True)
        path = request.url.path
        method = request.method
        operation_id: str | None = None
        body: Any = None
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            body = raw.decode(errors="replace")
        try:
            self._check_auth(request)
            if self.slow_seconds > 0:
                await asyncio.sleep(self.slow_seconds)
            fault = self._take_fault(method, path)
            if fault is not None and not fault.apply:
                raise FlyError(fault.status, fault.error, fault.code, fault.headers)
            try:
                op, path_params = self.contract.match(method, path)
            except RouteNotFound as exc:
                raise FlyError(404, str(exc)) from None
            except MethodNotAllowed as exc:
                raise FlyError(405, str(exc)) from None
            operation_id = op.operation_id
            validated, body_errors = self.contract.validate_body(op, raw)
            params, param_errors = self.contract.parse_params(op, path_params, query)
            if body_errors or param_errors:
                raise FlyError(400, "; ".join(param_errors + body_errors))
            handler = self._handlers.get(op.operation_id)
            if handler is None:
                raise FlyError(501, f"{op.operation_id} is not implemented by the fake")
            status, payload = await handler(Req(path_params, params, query, validated))
            if fault is not None:
                raise FlyError(fault.status, fault.error, fault.code, fault.headers)
            response = self._json(status, payload)
        except FlyError as exc:
            response = self._json(exc.http_status, exc.body())
            for name, value in exc.headers.items():
                response.headers[name] = value
        response.headers["fly-request-id"] = request_id
        self.calls.append(Call(method, path, query, body, response.status_code, request_id, operation_id))
        return response

    @staticmethod
    def _json(status: int, payload: Any) -> Response:
        if payload is None:
            return Response(status_code=status)
        return Response(json.dumps(payload), status_code=status, media_type="application/json")

    def _check_auth(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, credential = header.partition(" ")
        if scheme not in ("Bearer", "FlyV1") or not credential or credential.strip() != self.token:
            raise FlyError(401, "unauthorized")

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.matches(method, path):
                    return self._faults.pop(i)
            if self.fail_rate > 0 and self.rng.random() < self.fail_rate:
                status = self.rng.choice(self.fail_statuses)
                headers = {"Retry-After": "1"} if status == 429 else {}
                return Fault(status, _RANDOM_FAULTS.get(status, f"injected failure {status}"), None, headers)
        return None

    # --- ids ----------------------------------------------------------------------------------

    def _ulid(self) -> str:
        return "".join(self.rng.choice(_CROCKFORD) for _ in range(26))

    def _machine_id(self) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(14))

    def _private_ip(self) -> str:
        groups = ":".join(f"{self.rng.randrange(0x10000):x}" for _ in range(3))
        return f"fdaa:0:{groups}:a7b:{self.rng.randrange(0x10000):x}:2"

    # --- apps ---------------------------------------------------------------------------------

    def _own_app(self, name: str) -> Json:
        if name in self.apps:
            return self.apps[name]
        if name in self.other_orgs_apps:
            raise FlyError(403, "unauthorized")
        raise FlyError(404, "app not found")

    def _app_view(self, name: str) -> Json:
        app = dict(self.apps[name])
        machines = self.machines.get(name, {})
        for machine_id in machines:
            self._refresh(name, machine_id)
        app["machine_count"] = len(machines)
        if app["status"] != "suspended":
            started = any(m["state"] == "started" for m in machines.values())
            app["status"] = "deployed" if started else "pending"
        return app

    async def _apps_list(self, r: Req) -> tuple[int, Any]:
        slug = (r.query.get("org_slug") or [self.org_slug])[0]
        names = sorted(self.apps) if slug == self.org_slug else []
        return 200, {"apps": [self._app_view(n) for n in names], "total_apps": len(names)}

    async def _apps_create(self, r: Req) -> tuple[int, Any]:
        # x-note: the current spec field is `name`; docs and the 2023 spec use `app_name`.
        name = r.body.get("name") or r.body.get("app_name") or ""
        org = r.body.get("org_slug") or self.org_slug
        if not name:
            raise FlyError(422, "Validation failed: Name can't be blank")
        if not _APP_NAME.match(name):
            raise FlyError(
                422, "Validation failed: Name under 63 chars using numbers, lowercase letters and dashes"
            )
        if org != self.org_slug:
            raise FlyError(404, f"organization {org!r} not found")
        if name in self.apps or name in self.other_orgs_apps:
            raise FlyError(422, "Validation failed: Name has already been taken", "name_taken")
        self.apps[name] = {
            "id": name,
            "name": name,
            "internal_numeric_id": next(self._numeric_ids),
            "machine_count": 0,
            "volume_count": 0,
            "network": r.body.get("network") or "default",
            "organization": {
                "name": self.org_slug,
                "slug": self.org_slug,
                "internal_numeric_id": 1,
            },
            "status": "pending",
        }
        self.machines[name] = {}
        self.machine_meta[name] = {}
        self.destroyed_machines[name] = {}
        self.secrets[name] = {}
        self._secret_times[name] = {}
        self.secrets_version[name] = 0
        self.ips[name] = []
        self.certificates[name] = {}
        # The spec documents no body for 201; fly-go decodes one into App, so send it.
        return 201, self._app_view(name)

    async def _apps_show(self, r: Req) -> tuple[int, Any]:
        self._own_app(r.path["app_name"])
        return 200, self._app_view(r.path["app_name"])

    async def _apps_delete(self, r: Req) -> tuple[int, Any]:
        name = r.path["app_name"]
        self._own_app(name)
        for store in (
            self.apps,
            self.machines,
            self.machine_meta,
            self.destroyed_machines,
            self.secrets,
            self._secret_times,
            self.secrets_version,
            self.ips,
            self.certificates,
        ):
            store.pop(name, None)
        return 202, None

    # --- IP assignments -----------------------------------------------------------------------

    async def _ips_list(self, r: Req) -> tuple[int, Any]:
        self._own_app(r.path["app_name"])
        return 200, {"ips": [dict(ip) for ip in self.ips[r.path["app_name"]]]}

    async def _ips_create(self, r: Req) -> tuple[int, Any]:
        name = r.path["app_name"]
        self._own_app(name)
        kind = r.body.get("type")
        if not kind:
            raise FlyError(400, "type is required")
        rnd = self.rng.randrange
        shared = kind == "shared_v4"
        if kind in ("v4", "shared_v4", "egress_v4"):
            ip = f"66.241.{rnd(256)}.{rnd(1, 255)}" if shared else f"137.66.{rnd(256)}.{rnd(1, 255)}"
        elif kind == "private_v6":
            ip = f"fdaa:0:{rnd(0x10000):x}:0:1::{rnd(1, 0x10000):x}"
        else:
            ip = f"2a09:8280:1::{rnd(0x10000):x}:{rnd(1, 0x10000):x}"
        assignment: Json = {
            "ip": ip,
            "region": r.body.get("region") or "global",
            "service_name": r.body.get("service_name") or "",
            "shared": shared,
            "egress": kind.startswith("egress"),
            "created_at": _now_iso(),
        }
        self.ips[name].append(assignment)
        return 200, dict(assignment)

    async def _ips_delete(self, r: Req) -> tuple[int, Any]:
        name = r.path["app_name"]
        self._own_app(name)
        kept = [ip for ip in self.ips[name] if ip["ip"] != r.path["ip"]]
        if len(kept) == len(self.ips[name]):
            raise FlyError(404, "ip assignment not found")
        self.ips[name] = kept
        return 204, None

    # --- certificates -------------------------------------------------------------------------

    def _refresh_certificate(self, app: str, detail: Json) -> Json:
        if not detail["configured"] and detail["hostname"] in self.dns_pointed:
            detail["configured"] = True
            detail["status"] = "Ready"
            detail["certificates"] = [
                {
                    "source": "fly",
                    "certificate_authority": "lets_encrypt",
                    "status": "active",
                    "created_at": _now_iso(),
                }
            ]
        return detail

    async def _certificates_acme_create(self, r: Req) -> tuple[int, Any]:
        app = r.path["app_name"]
        self._own_app(app)
        hostname = str(r.body.get("hostname") or "").lower()
        if not hostname:
            raise FlyError(422, "hostname is required")
        if hostname in self.certificates[app]:
            raise FlyError(422, "Hostname already exists on app")
        if any(hostname in certs for other, certs in self.certificates.items() if other != app):
            raise FlyError(422, "Hostname is already taken by another app")
        suffix = "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(6))
        shared = [ip["ip"] for ip in self.ips[app] if ip["shared"]]
        v6 = [ip["ip"] for ip in self.ips[app] if ":" in ip["ip"]]
        self.certificates[app][hostname] = {
            "hostname": hostname,
            "acme_requested": True,
            "configured": False,
            "status": "Awaiting configuration",
            "dns_provider": "",
            "certificates": [],
            "dns_requirements": {
                "cname": f"{app}.fly.dev",
                "a": shared,
                "aaaa": v6,
                "acme_challenge": {
                    "name": f"_acme-challenge.{hostname}",
                    "target": f"{hostname}.{suffix}.flydns.net",
                },
            },
            "validation": {},
            "validation_errors": [],
        }
        return 201, json.loads(json.dumps(self._refresh_certificate(app, self.certificates[app][hostname])))

    def _certificate(self, r: Req) -> Json:
        app = r.path["app_name"]
        self._own_app(app)
        detail = self.certificates[app].get(r.path["hostname"].lower())
        if detail is None:
            raise FlyError(404, "certificate not found")
        return self._refresh_certificate(app, detail)

    async def _certificates_show(self, r: Req) -> tuple[int, Any]:
        return 200, json.loads(json.dumps(self._certificate(r)))

    async def _certificates_delete(self, r: Req) -> tuple[int, Any]:
        self._certificate(r)
        self.certificates[r.path["app_name"]].pop(r.path["hostname"].lower())
        return 204, None

    # --- secrets ------------------------------------------------------------------------------

    def _secret_view(self, app: str, secret: str, show: bool) -> Json:
        value = self.secrets[app][secret]
        created, updated = self._secret_times[app][secret]
        view: Json = {
            "name": secret,
            "digest": hashlib.sha256(value.encode()).hexdigest()[:16],
            "created_at": created,
            "updated_at": updated,
        }
        if show:
            view["value"] = value
        return view

    def _set_secret(self, app: str, secret: str, value: str | None) -> None:
        if value is None:
            self.secrets[app].pop(secret, None)
            self._secret_times[app].pop(secret, None)
            return
        created = self._secret_times[app].get(secret, (_now_iso(), ""))[0]
        self.secrets[app][secret] = value
        self._secret_times[app][secret] = (created, _now_iso())

    def _bump_secrets(self, app: str) -> int:
        self.secrets_version[app] += 1
        return self.secrets_version[app]

    async def _secrets_list(self, r: Req) -> tuple[int, Any]:
        app = r.path["app_name"]
        self._own_app(app)
        show = bool((r.query.get("show_secrets") or [False])[0])
        return 200, {"secrets": [self._secret_view(app, s, show) for s in sorted(self.secrets[app])]}

    async def _secrets_update(self, r: Req) -> tuple[int, Any]:
        app = r.path["app_name"]
        self._own_app(app)
        for secret, value in (r.body.get("values") or {}).items():
            self._set_secret(app, secret, value)
        version = self._bump_secrets(app)
        secrets = [self._secret_view(app, s, False) for s in sorted(self.secrets[app])]
        return 200, {"version": version, "Version": version, "secrets": secrets}

    async def _secret_get(self, r: Req) -> tuple[int, Any]:
        app = r.path["app_name"]
        self._own_app(app)
        if r.path["secret_name"] not in self.secrets[app]:
            raise FlyError(404, "secret not found")
        show = bool((r.query.get("show_secrets") or [False])[0])
        return 200, self._secret_view(app, r.path["secret_name"], show)

    async def _secret_create(self, r: Req) -> tuple[int, Any]:
        app = r.path["app_name"]
        self._own_app(app)
        if r.body.get("value") is None:
            raise FlyError(400, "value is required")
        self._set_secret(app, r.path["secret_name"], r.body["value"])
        version = self._bump_secrets(app)
        view = self._secret_view(app, r.path["secret_name"], False)
        return 201, {**view, "version": version, "Version": version}

    async def _secret_delete(self, r: Req) -> tuple[int, Any]:
        app = r.path["app_name"]
        self._own_app(app)
        if r.path["secret_name"] not in self.secrets[app]:
            raise FlyError(404, "secret not found")
        self._set_secret(app, r.path["secret_name"], None)
        version = self._bump_secrets(app)
        return 200, {"version": version, "Version": version}

    # --- machines -----------------------------------------------------------------------------

    def _machine(self, app: str, machine_id: str) -> Json:
        self._own_app(app)
        if machine_id not in self.machines[app]:
            raise FlyError(404, "machine not found")
        self._refresh(app, machine_id)
        if machine_id not in self.machines[app]:
            raise FlyError(404, "machine not found")  # it ran to its end and was auto-destroyed
        return self.machines[app][machine_id]

    def _refresh(self, app: str, machine_id: str) -> None:
        meta = self.machine_meta[app][machine_id]
        if meta.target_state is not None and time.monotonic() >= meta.ready_at:
            machine = self.machines[app][machine_id]
            self._transition(machine, meta.target_state, "flyd")
            meta.target_state = None
            if machine["state"] == "started" and _runs_to_its_end(machine["config"]):
                self._exit(app, machine_id)

    def _exit(self, app: str, machine_id: str) -> None:
        """The machine's process ended: an `exit` event carrying its exit code (as flyd records it,
        `request.exit_event.exit_code`), then `stopped`, then `destroyed` with auto_destroy."""
        machine = self.machines[app][machine_id]
        code = self.exit_code_for(list((machine["config"].get("init") or {}).get("cmd") or []))
        machine["events"].insert(
            0,
            {
                "id": self._ulid(),
                "type": "exit",
                "status": "stopped",
                "source": "flyd",
                "timestamp": int(time.time() * 1000),
                "request": {"exit_event": {"exit_code": code, "oom_killed": False, "requested_stop": False}},
            },
        )
        self._transition(machine, "stopped", "flyd")
        if machine["config"].get("auto_destroy"):
            self._transition(machine, "destroyed", "flyd")
            self.destroyed_machines[app][machine_id] = self.machines[app].pop(machine_id)
            self.machine_meta[app].pop(machine_id)

    def _transition(self, machine: Json, state: str, source: str = "user") -> None:
        machine["state"] = state
        machine["updated_at"] = _now_iso()
        machine["events"].insert(
            0,
            {
                "id": self._ulid(),
                "type": state,
                "status": state,
                "source": source,
                "timestamp": int(time.time() * 1000),
            },
        )

    def _schedule(self, app: str, machine_id: str, interim: str, target: str) -> None:
        meta = self.machine_meta[app][machine_id]
        self._transition(self.machines[app][machine_id], interim)
        meta.target_state = target
        meta.ready_at = time.monotonic() + self.start_delay
        if self.start_delay <= 0:
            self._refresh(app, machine_id)

    def _check_launch(self, body: Json, region: str) -> Json:
        config = body.get("config") or {}
        if not config.get("image"):
            raise FlyError(400, "invalid config.image, cannot be empty")
        if self.capacity_regions is not None and region not in self.capacity_regions:
            raise FlyError(
                self.capacity_http_status,
                f"insufficient resources available to fulfill request in region {region}",
                "insufficient_capacity",
            )
        return dict(config)

    @staticmethod
    def _image_ref(image: str) -> Json:
        registry, _, rest = image.rpartition("/") if "/" in image else ("docker.io", "", image)
        repository, _, tag = rest.partition(":")
        return {"registry": registry, "repository": repository, "tag": tag or "latest", "digest": ""}

    async def _machines_list(self, r: Req) -> tuple[int, Any]:
        app = r.path["app_name"]
        self._own_app(app)
        region = (r.query.get("region") or [None])[0]
        states = {s for v in r.query.get("state", []) for s in str(v).split(",") if s}
        summary = bool((r.query.get("summary") or [False])[0])
        wanted = {k[len("metadata.") :]: v[0] for k, v in r.raw_query.items() if k.startswith("metadata.")}
        out = []
        for machine_id in list(self.machines[app]):
            self._refresh(app, machine_id)
            if machine_id not in self.machines[app]:
                continue  # auto-destroyed just now: lists show live machines only
            machine = self.machines[app][machine_id]
            if region and machine["region"] != region:
                continue
            if states and machine["state"] not in states:
                continue
            metadata = (
                (machine["config"].get("metadata") or {}) if isinstance(machine["config"], dict) else {}
            )
            if any(metadata.get(k) != v for k, v in wanted.items()):
                continue
            view = dict(machine)
            if summary:
                for key in ("config", "checks", "events", "host_status", "nonce"):
                    view.pop(key, None)
            out.append(view)
        return 200, out

    async def _machines_create(self, r: Req) -> tuple[int, Any]:
        app = r.path["app_name"]
        self._own_app(app)
        region = r.body.get("region") or self.default_region
        config = self._check_launch(r.body, region)
        machine_id = self._machine_id()
        now = _now_iso()
        machine: Json = {
            "id": machine_id,
            "name": r.body.get("name") or f"machine-{machine_id[:6]}",
            "state": "created",
            "region": region,
            "instance_id": self._ulid(),
            "private_ip": self._private_ip(),
            "config": config,
            "image_ref": self._image_ref(str(config["image"])),
            "created_at": now,
            "updated_at": now,
            "events": [],
            "checks": [],
            "host_status": "ok",
        }
        self.machines[app][machine_id] = machine
        self.machine_meta[app][machine_id] = MachineMeta(
            min_secrets_version=r.body.get("min_secrets_version"),
            secrets_version=self.secrets_version[app],
            request=r.body,
        )
        if r.body.get("skip_launch"):
            self._transition(machine, "created")
        else:
            self._schedule(app, machine_id, "created", "started")
        return 200, json.loads(json.dumps(machine))

    async def _machines_show(self, r: Req) -> tuple[int, Any]:
        return 200, json.loads(json.dumps(self._machine(r.path["app_name"], r.path["machine_id"])))

    async def _machines_update(self, r: Req) -> tuple[int, Any]:
        app, machine_id = r.path["app_name"], r.path["machine_id"]
        machine = self._machine(app, machine_id)
        config = self._check_launch(r.body, machine["region"])
        meta = self.machine_meta[app][machine_id]
        machine["config"] = config
        machine["image_ref"] = self._image_ref(str(config["image"]))
        machine["instance_id"] = self._ulid()
        if r.body.get("name"):
            machine["name"] = r.body["name"]
        meta.versions += 1
        meta.min_secrets_version = r.body.get("min_secrets_version")
        meta.secrets_version = self.secrets_version[app]
        meta.request = r.body
        if r.body.get("skip_launch"):
            meta.target_state = None
            self._transition(machine, "stopped")
        else:
            self._schedule(app, machine_id, "replacing", "started")
        return 200, json.loads(json.dumps(machine))

    async def _machines_delete(self, r: Req) -> tuple[int, Any]:
        app, machine_id = r.path["app_name"], r.path["machine_id"]
        machine = self._machine(app, machine_id)
        # The spec names the flag `force`; fly-go sends `kill` (x-note). Accept either.
        flags = r.raw_query.get("force", []) + r.raw_query.get("kill", [])
        forced = any(v in ("1", "t", "T", "true", "True", "TRUE") for v in flags)
        if not forced and machine["state"] not in _DESTROYABLE:
            raise FlyError(409, "unable to destroy machine, not currently stopped")
        self._transition(machine, "destroyed")
        self.destroyed_machines[app][machine_id] = self.machines[app].pop(machine_id)
        self.machine_meta[app].pop(machine_id)
        return 200, {"ok": True}

    async def _machines_start(self, r: Req) -> tuple[int, Any]:
        app, machine_id = r.path["app_name"], r.path["machine_id"]
        previous = str(self._machine(app, machine_id)["state"])
        if previous != "started":
            self._schedule(app, machine_id, "starting", "started")
        return 200, {"previous_state": previous}

    async def _machines_stop(self, r: Req) -> tuple[int, Any]:
        app, machine_id = r.path["app_name"], r.path["machine_id"]
        if self._machine(app, machine_id)["state"] != "stopped":
            self._schedule(app, machine_id, "stopping", "stopped")
        return 200, {"ok": True}

    async def _machines_wait(self, r: Req) -> tuple[int, Any]:
        app, machine_id = r.path["app_name"], r.path["machine_id"]
        states = [str(s) for s in r.query.get("state", [])] or ["started"]
        timeout = int((r.query.get("timeout") or [60])[0])
        version = (r.query.get("version") or r.query.get("instance_id") or [None])[0]
        if "stopped" in states and not version:
            # x-note: instance_id is "Required when waiting for Machine to be in stopped state".
            raise FlyError(400, "instance_id is required when waiting for stopped state")
        self._own_app(app)
        deadline = time.monotonic() + max(0, min(timeout, 60))
        while True:
            machine = self.machines[app].get(machine_id) or self.destroyed_machines[app].get(machine_id)
            if machine is None:
                raise FlyError(404, "machine not found")
            if machine_id in self.machines[app]:
                self._refresh(app, machine_id)
            state = str(machine["state"])
            if state in states or ("settled" in states and state in _SETTLED):
                events = machine["events"]
                return 200, {
                    "ok": True,
                    "state": state,
                    "version": machine["instance_id"],
                    "event_id": events[0]["id"] if events else "",
                }
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FlyError(
                    408,
                    f"deadline_exceeded: timeout waiting for machine to be {','.join(states)}",
                )
            await asyncio.sleep(min(0.02, remaining))


class FakeFlyServer(LoopbackServer):
    """Runs a FakeFly on a free 127.0.0.1 port in a background thread."""

    def __init__(self, fake: FakeFly) -> None:
        super().__init__(fake.app, "fake-fly")
        self.fake = fake


class FakeFlyTlsEdge(LoopbackServer):
    """Fly's edge for custom hostnames: HTTPS on a free 127.0.0.1 port, presenting a certificate (from
    `authority`) only for a hostname whose Fly certificate is configured, and answering as the edge
    does for the app that holds it. Any other name fails the TLS handshake, as on Fly before issue."""

    def __init__(self, fake: FakeFly, authority: TestAuthority) -> None:
        self.fake, self.authority = fake, authority
        self._contexts: dict[str, ssl.SSLContext] = {}
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.sni_callback = self._for_name
        app = Starlette(routes=[Route("/{path:path}", self._answer, methods=["GET"])])
        super().__init__(app, "fake-fly-edge", ssl_context=context)

    def _for_name(self, connection: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> int | None:
        if name is None or self.fake.issued(name) is None:
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        if name not in self._contexts:
            self._contexts[name] = self.authority.server_context(name)
        connection.context = self._contexts[name]
        return None

    async def _answer(self, request: Request) -> Response:
        app = self.fake.issued(request.url.hostname or "")
        if app is None:
            return Response("no certificate for this name", status_code=421, media_type="text/plain")
        return self.fake.edge_answer(app)


def create_fake_fly(
    *,
    token: str,
    org_slug: str = "personal",
    other_orgs_apps: dict[str, str] | None = None,
    seed: int = 0,
    start_delay: float = 0.2,
    default_region: str = "iad",
) -> FakeFly:
    """A fresh fake; `other_orgs_apps` maps app names held by other orgs to those orgs' slugs."""
    return FakeFly(
        token=token,
        org_slug=org_slug,
        other_orgs_apps=other_orgs_apps,
        seed=seed,
        start_delay=start_delay,
        default_region=default_region,
    )
