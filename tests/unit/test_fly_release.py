"""activities/fly/release.py: the one-off machine a release command runs in, and its exit code."""

from __future__ import annotations

from typing import Any

import pytest

from activities.fly.release import _exit_code, release_machine_config
from models import DeploymentConfig
from models.fly_config import FlyConfig
from workflows.activity_io import DeploymentRef

REF = DeploymentRef(
    deployment_id="d-1", project_id="p-1", pr_number=3, commit_sha="ab" * 20, app_name="pr-3-app"
)


def test_the_release_machine_runs_the_line_in_a_shell_and_serves_nothing() -> None:
    config = DeploymentConfig(
        release_command="bin/migrate && echo ok", fly_config=FlyConfig(image="ghcr.io/acme/app:1")
    )
    machine = release_machine_config(REF, config)
    assert machine["init"] == {"cmd": ["/bin/sh", "-c", "bin/migrate && echo ok"]}
    assert machine["image"] == "ghcr.io/acme/app:1" and machine["restart"] == {"policy": "no"}
    assert "services" not in machine and "checks" not in machine
    assert machine["metadata"] == {
        "previewd_project": "p-1", "previewd_pr": "3", "previewd_sha": "ab" * 20, "previewd_role": "release",
    }  # fmt: skip


def exit_event(code: Any) -> dict[str, Any]:
    return {"type": "exit", "status": "stopped", "request": {"exit_event": {"exit_code": code}}}


@pytest.mark.parametrize(
    ("events", "code"),
    [
        ([{"type": "stopped"}, exit_event(3), {"type": "start"}, exit_event(0)], 3),  # newest first
        ([exit_event(0), {"type": "start"}], 0),
        ([{"type": "stopped"}, {"type": "start"}], None),
        ([{"type": "exit", "request": {}}], None),
    ],
)
def test_the_exit_code_is_the_newest_exit_events(events: list[dict[str, Any]], code: int | None) -> None:
    assert _exit_code({"events": events}) == code
