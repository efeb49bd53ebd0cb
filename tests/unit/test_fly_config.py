"""fly_config validation, the machine config a preview gets, and its project's network."""

from __future__ import annotations

import re
import uuid

import pytest
from pydantic import ValidationError

from activities.fly.client import auth_header
from activities.fly.machine_config import machine_config
from activities.fly.network import project_network
from models import DeploymentConfig
from models.fly_config import FlyConfig, FlyGuest
from workflows.activity_io import DeploymentRef

REF = DeploymentRef(
    deployment_id="d",
    project_id="p-1",
    pr_number=7,
    commit_sha="0123456789abcdef" * 2 + "01234567",
    app_name="pr-7-app",
)


@pytest.mark.parametrize(
    ("fly_config", "field"),
    [
        ({"region": "Amsterdam"}, "region"),
        ({"fallback_regions": ["iad", "x"]}, "fallback_regions"),
        ({"guest": {"memory_mb": 300}}, "memory_mb"),
        ({"guest": {"cpu_kind": "gpu"}}, "cpu_kind"),
        ({"extra_services": [{"internal_port": 0, "port": 5432}]}, "internal_port"),
        ({"autostop": True}, "autostop"),
    ],
)
def test_bad_fly_config_is_refused_naming_the_field(fly_config: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        DeploymentConfig.model_validate({"fly_config": fly_config})
    assert field in str(refused.value)


def test_fly_config_is_stored_as_what_differs_from_the_defaults() -> None:
    stored = {"region": "ams", "guest": {"memory_mb": 512}, "auto_stop": False}
    given = {**stored, "fallback_regions": [], "image": None}
    config = DeploymentConfig.model_validate({"fly_config": given})
    assert config.fly_config.guest.memory_mb == 512 and config.fly_config.guest.cpu_kind == "shared"
    assert config.model_dump(mode="json", exclude_none=True)["fly_config"] == stored
    assert DeploymentConfig().model_dump(mode="json")["fly_config"] == {}
    assert DeploymentConfig.model_validate_json(config.model_dump_json()) == config


def test_machine_config_serves_the_project_port_on_80_and_443_and_stops_when_idle() -> None:
    config = DeploymentConfig(port=3000, fly_config=FlyConfig(guest=FlyGuest(memory_mb=512), region="ams"))
    machine = machine_config(REF, config)
    service = machine["services"][0]
    assert service["internal_port"] == 3000
    assert [(p["port"], p["handlers"]) for p in service["ports"]] == [(80, ["http"]), (443, ["tls", "http"])]
    assert service["autostop"] == "stop" and service["autostart"] is True
    assert machine["guest"] == {"cpu_kind": "shared", "cpus": 1, "memory_mb": 512}
    assert machine["metadata"] == {
        "previewd_project": "p-1",
        "previewd_pr": "7",
        "previewd_sha": REF.commit_sha,
    }
    assert machine["image"] == "registry.fly.io/pr-7-app:pr-7-0123456789ab"


def test_prebuilt_image_and_auto_stop_off_are_honoured() -> None:
    config = DeploymentConfig(fly_config=FlyConfig(image="registry.fly.io/base:1", auto_stop=False))
    machine = machine_config(REF, config)
    assert machine["image"] == "registry.fly.io/base:1"
    assert machine["services"][0]["autostop"] == "off"


def test_token_scheme() -> None:
    assert auth_header("FlyV1 fm2_abc") == "FlyV1 fm2_abc"
    assert auth_header("fo1_abc") == "Bearer fo1_abc"


def test_a_projects_network_is_a_short_stable_name_of_its_own() -> None:
    ids = [str(uuid.uuid4()) for _ in range(1000)]
    networks = {project_network(project_id) for project_id in ids}
    assert len(networks) == len(ids)
    assert project_network(ids[0]) == project_network(ids[0])
    assert all(re.fullmatch(r"previewd-[0-9a-f]{12}", network) for network in networks)
