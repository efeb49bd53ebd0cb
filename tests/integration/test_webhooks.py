"""The webhook endpoint's contract: what GitHub sends, what we answer, what we record."""

from __future__ import annotations

import json
import uuid

import httpx
from sqlalchemy import text

from cli.webhook_client import pull_request_payload
from tests.integration.system import AppRepo, System, wait_for
from webhook_signature import sign


def deliveries(system: System, delivery_id: str) -> list[dict[str, object]]:
    return system.rows("SELECT * FROM webhook_deliveries WHERE delivery_id = :d", d=delivery_id)


def post(system: System, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{system.base_url}/webhooks/github", content=body, headers=headers, timeout=10)


def test_bad_signature_is_401_and_nothing_is_recorded(system: System) -> None:
    delivery = str(uuid.uuid4())
    body = b'{"zen": "hi"}'
    for signature in (None, "sha256=" + "0" * 64, sign("wrong secret", body)):
        headers = {"X-GitHub-Event": "ping", "X-GitHub-Delivery": delivery}
        if signature:
            headers["X-Hub-Signature-256"] = signature
        assert post(system, body, headers).status_code == 401
    assert deliveries(system, delivery) == []


def test_malformed_json_is_400(system: System) -> None:
    from tests.integration.system import WEBHOOK_SECRET

    body = b"{not json"
    headers = {
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(WEBHOOK_SECRET, body),
    }
    response = post(system, body, headers)
    assert response.status_code == 400 and "JSON" in response.text


def test_oversized_body_is_413(system: System) -> None:
    response = post(
        system, b"x" * (25 * 1024 * 1024 + 1), {"X-GitHub-Event": "ping", "X-GitHub-Delivery": "big"}
    )
    assert response.status_code == 413


def test_ping_and_unknown_events_are_acknowledged_and_ignored(system: System) -> None:
    for event in ("ping", "star"):
        delivery = str(uuid.uuid4())
        response = system.webhook(event, {"zen": "Keep it logically awesome."}, delivery)
        assert response.status_code == 202
        assert deliveries(system, delivery)[0]["outcome"] == "ignored"


def test_unknown_repository_is_ignored(system: System) -> None:
    delivery = str(uuid.uuid4())
    payload = pull_request_payload(
        action="opened", number=1, sha="a" * 40, repo_id=424242, repo_full_name="nobody/nothing"
    )
    assert system.webhook("pull_request", payload, delivery).status_code == 202
    row = deliveries(system, delivery)[0]
    assert row["outcome"] == "ignored" and "no active project" in str(row["reason"])


def test_duplicate_delivery_is_acknowledged_once(system: System, repo: AppRepo) -> None:
    project = system.add_project(repo)
    sha = repo.commit("dup")
    payload = pull_request_payload(
        action="opened",
        number=9,
        sha=sha,
        repo_id=project["github_repo_id"],
        repo_full_name=project["github_repo_full_name"],
    )
    delivery = str(uuid.uuid4())
    first = system.webhook("pull_request", payload, delivery)
    second = system.webhook("pull_request", payload, delivery)
    assert first.json()["status"] == "queued" and second.json()["status"] == "duplicate"
    system.wait_status(project["id"], 9, sha, "active")
    assert len(system.deployments(project["id"], 9)) == 1
    assert len(deliveries(system, delivery)) == 1


def test_real_github_payload_is_accepted(system: System, repo: AppRepo) -> None:
    from pathlib import Path

    shared = (
        Path(__file__).resolve().parents[3]
        / "shared"
        / "github-payloads"
        / "pull_request.opened.payload.json"
    )
    payload = json.loads(shared.read_text())
    delivery = str(uuid.uuid4())
    response = system.webhook("pull_request", payload, delivery)
    assert response.status_code == 202
    assert (
        deliveries(system, delivery)[0]["outcome"] == "ignored"
    )  # Codertocat/Hello-World is not a project here


def test_readyz_reports_postgres_temporal_and_the_worker(system: System) -> None:
    def ready() -> httpx.Response | None:
        response = httpx.get(f"{system.base_url}/readyz", timeout=10)
        return response if response.status_code == 200 else None

    # The worker's first heartbeat row may be a moment behind the web app's start.
    response = wait_for(ready, timeout=30, what="/readyz 200")
    assert response.json() == {
        "status": "ready", "down": [], "postgres": "ok", "worker": "ok", "temporal": "ok"
    }  # fmt: skip


def test_api_rejects_bad_input_and_unknown_ids(system: System) -> None:
    with system.api() as client:
        bad = client.post(
            "/api/projects", json={"github_repo_full_name": "a/b", "deployment_config": {"port": 0}}
        )
        assert bad.status_code == 422 and "port" in bad.text
        assert client.get(f"/api/projects/{uuid.uuid4()}").status_code == 404
        assert client.get(f"/api/deployments/{uuid.uuid4()}").status_code == 404
    assert httpx.get(f"{system.base_url}/api/projects").status_code == 401
    wait_for(lambda: True, timeout=1)


def test_an_outbox_row_that_is_no_signal_is_set_aside_and_holds_nothing_back(
    system: System, repo: AppRepo
) -> None:
    project = system.add_project(repo)
    with system.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO webhook_deliveries (delivery_id, event, action, received_at, outcome,"
                " project_id, pr_number, signal, signal_args, attempts) VALUES"
                " (:d, 'pull_request', 'opened', now(), 'queued', :p, 1, 'push', CAST(:args AS jsonb), 0)"
            ),
            {"d": "bogus-args", "p": project["id"], "args": json.dumps({"no_such_field": 1})},
        )
    sha = repo.commit("after a bogus row")
    system.pull_request(project, "opened", 2, sha)
    system.wait_status(project["id"], 2, sha, "active")
    wait_for(lambda: deliveries(system, "bogus-args")[0]["outcome"] == "ignored", timeout=10,
             what="the bogus row set aside")  # fmt: skip
    assert "not a signal previewd knows" in str(deliveries(system, "bogus-args")[0]["reason"])
