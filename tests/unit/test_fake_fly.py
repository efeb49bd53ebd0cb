"""tests/fakes/fly_machines.py: the loopback Fly Machines API fake keeps to the OpenAPI contract."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fakes.fly_machines import FakeFly, FakeFlyServer, create_fake_fly

TOKEN = "fo1_test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
IMAGE = "registry.fly.io/previewd-demo:pr-7"


@pytest.fixture
def fake() -> FakeFly:
    return create_fake_fly(
        token=TOKEN, org_slug="acme", other_orgs_apps={"someone-elses": "other-org"}, start_delay=0.05
    )


@pytest.fixture
def client(fake: FakeFly) -> Iterator[httpx.Client]:
    with FakeFlyServer(fake) as server, httpx.Client(base_url=server.url, headers=AUTH, timeout=10) as c:
        yield c


def assert_error(fake: FakeFly, response: httpx.Response, status: int, code: str | None = None) -> Any:
    """The response is `status` with an ErrorResponse body (and `status` set to `code` if given)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert fake.contract.schema_errors("ErrorResponse", body) == []
    assert isinstance(body["error"], str) and body["error"]
    assert body.get("status") == code
    assert response.headers["fly-request-id"]
    return body


def make_app(client: httpx.Client, name: str = "pr-7-demo") -> None:
    assert client.post("/v1/apps", json={"name": name, "org_slug": "acme"}).status_code == 201


def make_machine(client: httpx.Client, app: str = "pr-7-demo", **extra: Any) -> dict[str, Any]:
    response = client.post(f"/v1/apps/{app}/machines", json={"config": {"image": IMAGE}, **extra})
    assert response.status_code == 200, response.text
    machine: dict[str, Any] = response.json()
    return machine


# --- auth ---------------------------------------------------------------------------------------


def test_auth_accepts_bearer_and_flyv1_and_rejects_the_rest(fake: FakeFly, client: httpx.Client) -> None:
    for header in (None, "Bearer wrong", TOKEN, f"Basic {TOKEN}", f"Bearer {TOKEN}x"):
        headers = {} if header is None else {"Authorization": header}
        response = httpx.get(f"{client.base_url}/v1/apps/x", headers=headers)
        assert assert_error(fake, response, 401) == {"error": "unauthorized"}
    assert client.get("/v1/apps", headers={"Authorization": f"FlyV1 {TOKEN}"}).status_code == 200
    assert client.get("/v1/apps").status_code == 200
    assert [c.status for c in fake.calls] == [401] * 5 + [200, 200]
    assert len({c.request_id for c in fake.calls}) == 7


# --- apps ---------------------------------------------------------------------------------------


def test_app_create_show_and_name_taken(fake: FakeFly, client: httpx.Client) -> None:
    created = client.post("/v1/apps", json={"name": "pr-7-demo", "org_slug": "acme", "network": "pr-7"})
    assert created.status_code == 201
    shown = client.get("/v1/apps/pr-7-demo")
    assert shown.status_code == 200
    app = shown.json()
    assert fake.contract.schema_errors("App", app) == []
    assert app["name"] == "pr-7-demo" and app["organization"]["slug"] == "acme"
    assert app["network"] == "pr-7" and app["status"] == "pending"
    assert fake.apps["pr-7-demo"]["organization"]["slug"] == "acme"

    taken = {"error": "Validation failed: Name has already been taken", "status": "name_taken"}
    again = client.post("/v1/apps", json={"name": "pr-7-demo", "org_slug": "acme"})
    assert assert_error(fake, again, 422, "name_taken") == taken
    # A name another org holds is taken too, and its app cannot be read: 403, not 404.
    foreign = client.post("/v1/apps", json={"app_name": "someone-elses", "org_slug": "acme"})
    assert assert_error(fake, foreign, 422, "name_taken") == taken
    assert_error(fake, client.get("/v1/apps/someone-elses"), 403)
    assert_error(fake, client.get("/v1/apps/nobody-has-this"), 404)
    assert_error(fake, client.delete("/v1/apps/nobody-has-this"), 404)
    # `app_name` (docs / 2023 spec) is accepted as well as `name`.
    assert client.post("/v1/apps", json={"app_name": "pr-8-demo", "org_slug": "acme"}).status_code == 201
    assert_error(fake, client.post("/v1/apps", json={"name": "Bad_Name", "org_slug": "acme"}), 422)
    listed = client.get("/v1/apps", params={"org_slug": "acme"}).json()
    assert fake.contract.schema_errors("ListAppsResponse", listed) == []
    assert [a["name"] for a in listed["apps"]] == ["pr-7-demo", "pr-8-demo"]


def test_delete_app_cascades(fake: FakeFly, client: httpx.Client) -> None:
    make_app(client)
    machine = make_machine(client)
    assert client.post("/v1/apps/pr-7-demo/secrets", json={"values": {"A": "1"}}).status_code == 200
    assert client.post("/v1/apps/pr-7-demo/ip_assignments", json={"type": "shared_v4"}).status_code == 200

    assert client.delete("/v1/apps/pr-7-demo", params={"force": "true"}).status_code == 202
    for store in (fake.apps, fake.machines, fake.secrets, fake.secrets_version, fake.ips):
        assert "pr-7-demo" not in store
    assert_error(fake, client.get("/v1/apps/pr-7-demo"), 404)
    assert_error(fake, client.get(f"/v1/apps/pr-7-demo/machines/{machine['id']}"), 404)
    make_app(client)  # the name is free again
    assert client.get("/v1/apps/pr-7-demo/machines").json() == []


# --- request validation -------------------------------------------------------------------------


def test_bad_bodies_and_params_are_rejected_with_400(fake: FakeFly, client: httpx.Client) -> None:
    make_app(client)
    wrong_type = {"config": {"image": IMAGE, "guest": {"cpus": "two", "memory_mb": 256}}}
    body = assert_error(fake, client.post("/v1/apps/pr-7-demo/machines", json=wrong_type), 400)
    assert "config.guest.cpus" in body["error"]
    bad_enum = {"config": {"image": IMAGE, "restart": {"policy": "sometimes"}}}
    assert_error(fake, client.post("/v1/apps/pr-7-demo/machines", json=bad_enum), 400)
    assert_error(fake, client.post("/v1/apps/pr-7-demo/machines", json={"config": "nope"}), 400)
    assert_error(fake, client.post("/v1/apps/pr-7-demo/machines", content=b"{not json"), 400)
    assert_error(fake, client.post("/v1/apps/pr-7-demo/machines"), 400)  # the body is required
    assert_error(fake, client.post("/v1/apps", json={"name": 7}), 400)
    assert_error(fake, client.post("/v1/apps/pr-7-demo/secrets", json={"values": {"A": 1}}), 400)
    assert_error(fake, client.post("/v1/apps/pr-7-demo/ip_assignments", json={"type": "v5"}), 400)
    assert_error(fake, client.post("/v1/apps/pr-7-demo/machines", json={"config": {}}), 400)  # no image
    assert fake.machines["pr-7-demo"] == {}

    # The schemas leave additionalProperties open, so unknown fields pass.
    machine = make_machine(client, future_field=True)
    wait = f"/v1/apps/pr-7-demo/machines/{machine['id']}/wait"
    assert "state" in assert_error(fake, client.get(wait, params={"state": "running"}), 400)["error"]
    assert "timeout" in assert_error(fake, client.get(wait, params={"timeout": "5s"}), 400)["error"]
    assert_error(fake, client.get("/v1/apps/pr-7-demo/machines", params={"summary": "maybe"}), 400)
    assert_error(fake, client.get("/v1/nothing-here"), 404)
    assert_error(fake, client.put("/v1/apps/pr-7-demo"), 405)


# --- machines -----------------------------------------------------------------------------------


def test_machine_lifecycle_matches_the_schemas(fake: FakeFly, client: httpx.Client) -> None:
    make_app(client)
    config = {
        "image": IMAGE,
        "env": {"PORT": "8080"},
        "metadata": {"previewd_pr": "7"},
        "services": [{"internal_port": 8080, "protocol": "tcp", "autostop": True, "ports": [{"port": 443}]}],
    }
    created = make_machine(client, config=config, region="ams", name="web", min_secrets_version=0)
    assert fake.contract.schema_errors("Machine", created) == []
    assert created["state"] == "created" and created["region"] == "ams" and created["config"] == config
    machine_id = created["id"]
    meta = fake.machine_meta["pr-7-demo"][machine_id]
    assert meta.min_secrets_version == 0 and meta.request["region"] == "ams"

    path = f"/v1/apps/pr-7-demo/machines/{machine_id}"
    waited = client.get(f"{path}/wait", params={"state": "started", "timeout": 5})
    assert waited.status_code == 200 and waited.json()["state"] == "started"
    assert fake.contract.schema_errors("WaitMachineResponse", waited.json()) == []
    assert client.get("/v1/apps/pr-7-demo").json()["status"] == "deployed"

    updated = client.post(path, json={"config": {**config, "image": IMAGE + "b"}})
    assert updated.status_code == 200
    assert updated.json()["instance_id"] != created["instance_id"]
    assert updated.json()["state"] == "replacing" and meta.versions == 2
    assert client.get(f"{path}/wait", params={"state": "started", "timeout": 5}).status_code == 200

    listed = client.get("/v1/apps/pr-7-demo/machines", params={"metadata.previewd_pr": "7"}).json()
    assert [m["id"] for m in listed] == [machine_id]
    assert client.get("/v1/apps/pr-7-demo/machines", params={"metadata.previewd_pr": "8"}).json() == []

    refused = client.delete(path)
    assert assert_error(fake, refused, 409)["error"] == "unable to destroy machine, not currently stopped"
    assert client.post(f"{path}/stop", json={"signal": "SIGTERM"}).status_code == 200
    version = client.get(path).json()["instance_id"]
    stopped = client.get(f"{path}/wait", params={"state": "stopped", "version": version, "timeout": 5})
    assert stopped.status_code == 200
    assert client.post(f"{path}/start").json() == {"previous_state": "stopped"}
    assert client.delete(path, params={"kill": "true"}).status_code == 200
    assert_error(fake, client.get(path), 404)


def test_wait_answers_408_until_the_machine_is_started(client: httpx.Client, fake: FakeFly) -> None:
    fake.start_delay = 1.3
    make_app(client)
    machine = make_machine(client)
    wait = f"/v1/apps/pr-7-demo/machines/{machine['id']}/wait"
    statuses = []
    for _ in range(5):
        response = client.get(wait, params={"state": "started", "timeout": 1})
        statuses.append(response.status_code)
        if response.status_code == 200:
            break
        assert_error(fake, response, 408)
    assert statuses == [408, 200]
    never = make_machine(client, skip_launch=True)
    assert_error(fake, client.get(f"/v1/apps/pr-7-demo/machines/{never['id']}/wait?timeout=1"), 408)


def test_capacity_regions(fake: FakeFly, client: httpx.Client) -> None:
    make_app(client)
    fake.capacity_regions = {"iad"}
    machine = make_machine(client, region="iad")
    response = client.post("/v1/apps/pr-7-demo/machines", json={"config": {"image": IMAGE}, "region": "ord"})
    assert_error(fake, response, 422, "insufficient_capacity")
    fake.capacity_regions = set()
    fake.capacity_http_status = 412
    update = client.post(f"/v1/apps/pr-7-demo/machines/{machine['id']}", json={"config": {"image": IMAGE}})
    assert_error(fake, update, 412, "insufficient_capacity")
    assert len(fake.machines["pr-7-demo"]) == 1


# --- secrets and IPs ----------------------------------------------------------------------------


def test_secrets_version_increments_and_values_stay_hidden(fake: FakeFly, client: httpx.Client) -> None:
    make_app(client)
    first = client.post("/v1/apps/pr-7-demo/secrets", json={"values": {"DB_URL": "postgres://x", "K": "v"}})
    assert first.status_code == 200
    assert fake.contract.schema_errors("AppSecretsUpdateResp", first.json()) == []
    assert first.json()["version"] == 1
    second = client.post("/v1/apps/pr-7-demo/secrets", json={"values": {"K": None}})  # null unsets
    assert second.json()["version"] == 2 and fake.secrets_version["pr-7-demo"] == 2
    assert fake.secrets["pr-7-demo"] == {"DB_URL": "postgres://x"}

    listed = client.get("/v1/apps/pr-7-demo/secrets").json()
    assert fake.contract.schema_errors("AppSecrets", listed) == []
    assert [s["name"] for s in listed["secrets"]] == ["DB_URL"] and "value" not in listed["secrets"][0]
    shown = client.get("/v1/apps/pr-7-demo/secrets", params={"show_secrets": "true"}).json()
    assert shown["secrets"][0]["value"] == "postgres://x"

    machine = make_machine(client, min_secrets_version=2)
    meta = fake.machine_meta["pr-7-demo"][machine["id"]]
    assert meta.min_secrets_version == 2 and meta.secrets_version == 2


def test_ip_assignments(fake: FakeFly, client: httpx.Client) -> None:
    make_app(client)
    v4 = client.post("/v1/apps/pr-7-demo/ip_assignments", json={"type": "shared_v4"})
    v6 = client.post("/v1/apps/pr-7-demo/ip_assignments", json={"type": "v6"})
    for response in (v4, v6):
        assert response.status_code == 200
        assert fake.contract.schema_errors("AssignIPResponse", response.json()) == []
    assert v4.json()["shared"] is True and "." in v4.json()["ip"]
    assert v6.json()["shared"] is False and ":" in v6.json()["ip"]
    listed = client.get("/v1/apps/pr-7-demo/ip_assignments").json()
    assert fake.contract.schema_errors("listIPAssignmentsResponse", listed) == []
    assert [ip["ip"] for ip in listed["ips"]] == [v4.json()["ip"], v6.json()["ip"]]
    assert client.delete(f"/v1/apps/pr-7-demo/ip_assignments/{v6.json()['ip']}").status_code == 204
    assert len(fake.ips["pr-7-demo"]) == 1


# --- fault injection ----------------------------------------------------------------------------


def test_fail_next_queue(fake: FakeFly, client: httpx.Client) -> None:
    fake.fail_next(2, 503)
    assert_error(fake, client.get("/v1/apps"), 503)
    assert_error(fake, client.get("/v1/apps"), 503)
    assert client.get("/v1/apps").status_code == 200

    fake.fail_next(1, 429, headers={"Retry-After": "1"})
    limited = client.get("/v1/apps")
    assert_error(fake, limited, 429)
    assert limited.headers["Retry-After"] == "1"

    # Only matching requests consume a targeted fault.
    fake.fail_next(1, 500, method="POST", path=r"/machines$")
    make_app(client)
    assert_error(fake, client.post("/v1/apps/pr-7-demo/machines", json={"config": {"image": IMAGE}}), 500)
    assert fake.machines["pr-7-demo"] == {} and fake.pending_faults == 0

    # apply=True: the create happens, the client sees a 502, and its retry finds the name taken.
    fake.fail_next(1, 502, method="POST", path=r"^/v1/apps$", apply=True)
    assert_error(fake, client.post("/v1/apps", json={"name": "pr-9-demo", "org_slug": "acme"}), 502)
    assert "pr-9-demo" in fake.apps
    retry = client.post("/v1/apps", json={"name": "pr-9-demo", "org_slug": "acme"})
    assert_error(fake, retry, 422, "name_taken")
    assert [c.status for c in fake.calls_to("POST", r"^/v1/apps$")] == [201, 502, 422]


def test_fail_rate_is_seeded_and_shaped(client: httpx.Client, fake: FakeFly) -> None:
    fake.fail_rate = 1.0
    seen = set()
    for _ in range(30):
        response = client.get("/v1/apps")
        assert_error(fake, response, response.status_code)
        assert response.status_code in (500, 502, 503, 429)
        if response.status_code == 429:
            assert response.headers["Retry-After"] == "1"
        seen.add(response.status_code)
    assert seen == {500, 502, 503, 429}
    fake.fail_rate = 0.0
    assert client.get("/v1/apps").status_code == 200

    def statuses(seed: int) -> list[int]:
        other = create_fake_fly(token=TOKEN, seed=seed)
        other.fail_rate = 0.5
        with FakeFlyServer(other) as server:
            return [httpx.get(f"{server.url}/v1/apps", headers=AUTH).status_code for _ in range(12)]

    assert statuses(7) == statuses(7)


def test_slow_seconds(fake: FakeFly, client: httpx.Client) -> None:
    fake.slow_seconds = 0.3
    started = time.monotonic()
    assert client.get("/v1/apps").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_calls_log(fake: FakeFly, client: httpx.Client) -> None:
    make_app(client)
    client.get("/v1/apps/pr-7-demo/machines", params={"region": "iad"})
    create, listing = fake.calls
    assert (create.method, create.path, create.status, create.operation_id) == (
        "POST",
        "/v1/apps",
        201,
        "Apps_create",
    )
    assert create.body == {"name": "pr-7-demo", "org_slug": "acme"}
    assert listing.query == {"region": ["iad"]} and listing.body is None


# --- async use ----------------------------------------------------------------------------------


async def test_asgi_transport_and_async_server() -> None:
    fake = create_fake_fly(token=TOKEN, start_delay=0)
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fly", headers=AUTH) as c:
        assert (await c.post("/v1/apps", json={"name": "a1", "org_slug": "personal"})).status_code == 201
    async with FakeFlyServer(fake) as server, httpx.AsyncClient(base_url=server.url, headers=AUTH) as c:
        machine = (await c.post("/v1/apps/a1/machines", json={"config": {"image": IMAGE}})).json()
        assert machine["state"] == "started"
        assert (await c.get(f"/v1/apps/a1/machines/{machine['id']}/wait")).status_code == 200
