"""An accepted delivery is never lost: while Temporal is down, webhooks are still acknowledged and
wait in the outbox; when Temporal is back they reach their workflows and the preview goes live."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.system import AppRepo, System, start_system, start_temporal, wait_for


@pytest.fixture(scope="module")
def outage_system() -> Iterator[tuple[System, list[object]]]:
    root = Path(tempfile.mkdtemp(prefix="pvd-outage-"))
    running, postgres, temporal = start_system(root, persistent_temporal=True)
    holder: list[object] = [temporal]
    try:
        yield running, holder
    finally:
        running.stop()
        for child in holder:
            child.stop()  # type: ignore[attr-defined]
        postgres.stop()


def test_webhooks_during_a_temporal_outage_are_delivered_when_it_returns(
    outage_system: tuple[System, list[object]], tmp_path: Path
) -> None:
    system, holder = outage_system
    repo = AppRepo.create(tmp_path / f"app-{uuid.uuid4().hex[:8]}")
    project = system.add_project(repo)
    first = repo.commit("before the outage")
    system.pull_request(project, "opened", 1, first)
    system.wait_status(project["id"], 1, first, "active")

    temporal = holder[0]
    temporal.stop()  # type: ignore[attr-defined]
    second = repo.commit("during the outage")
    response = system.pull_request(project, "synchronize", 1, second)
    delivery = response.json()["delivery"]
    queued = system.rows("SELECT outcome FROM webhook_deliveries WHERE delivery_id = :d", d=delivery)
    assert queued == [{"outcome": "queued"}]
    wait_for(
        lambda: (
            system.rows("SELECT attempts FROM webhook_deliveries WHERE delivery_id = :d", d=delivery)[0][
                "attempts"
            ]
            >= 1
        ),
        timeout=30,
        what="a failed dispatch attempt while Temporal is down",
    )
    # The preview of the first sha keeps serving through the outage.
    assert first in system.preview(system.deployments(project["id"], 1)[0]["app_name"]).text

    port = int(system.env["TEMPORAL_ADDRESS"].rsplit(":", 1)[1])
    holder[0] = start_temporal(system.root, port, persistent=True)
    deployment = system.wait_status(project["id"], 1, second, "active", timeout=120)
    assert second in system.preview(deployment["app_name"]).text
    dispatched = system.rows("SELECT outcome FROM webhook_deliveries WHERE delivery_id = :d", d=delivery)
    assert dispatched == [{"outcome": "dispatched"}]
