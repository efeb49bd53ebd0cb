"""fly_config validation, the machine config a preview gets, and its project's network."""

from __future__ import annotations

import re
import uuid
from types import SimpleNamespace
from typing import cast

import pytest
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from activities.fly.client import auth_header
from activities.fly.machine_config import machine_config
from activities.fly.network import project_network
from models import DeploymentConfig
from models.fly_config import IMAGE, FlyConfig, FlyGuest, fly_registry_app, image_host
from models.fly_images import image_problem
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


@pytest.mark.parametrize(
    ("image", "host", "app"),
    [
        ("nginx:1.27", None, None),
        ("library/nginx", None, None),
        ("docker.io/library/nginx:1.27", "docker.io", None),
        ("ghcr.io/org/app:tag", "ghcr.io", None),
        ("nginx@sha256:" + "a" * 64, None, None),
        ("registry.fly.io/pr-1-web:pr-1-abc", "registry.fly.io", "pr-1-web"),
        ("REGISTRY.FLY.IO/pr-1-web", "registry.fly.io", "pr-1-web"),
        ("registry.fly.io:443/pr-2-x@sha256:" + "b" * 64, "registry.fly.io:443", "pr-2-x"),
        ("registry.fly.io.example.com/pr-1-web:1", "registry.fly.io.example.com", None),
    ],
)
def test_an_images_registry_and_fly_app_are_read_like_docker_reads_them(
    image: str, host: str | None, app: str | None
) -> None:
    assert IMAGE.match(image)
    assert image_host(image) == host
    assert fly_registry_app(image) == app


@pytest.mark.parametrize(
    ("image", "said"),
    [
        ("not an image", "is not an image reference"),
        ("fly.io/pr-1-web:1", "is not a registry"),
        ("registry-iad.fly.io/pr-1-web:1", "is not a registry"),
        ("registry.fly.io/pr-1-web:1", "is not one of this project's preview apps"),
    ],
)
async def test_a_new_project_may_name_no_image_of_flys_registry(image: str, said: str) -> None:
    class NoDeployments:
        async def exec(self, statement: object) -> SimpleNamespace:
            return SimpleNamespace(all=list)

    problem = await image_problem(cast(AsyncSession, NoDeployments()), project_id=None, image=image)
    assert problem is not None and problem.startswith("fly_config.image: ") and said in problem


async def test_a_public_image_needs_no_lookup() -> None:
    session = cast(AsyncSession, None)  # any query would fail
    for image in ("nginx:1.27", "ghcr.io/org/app:tag", None):
        assert await image_problem(session, project_id=uuid.uuid4(), image=image) is None


def test_a_stored_image_from_before_the_rule_still_loads() -> None:
    # The deploy refuses it, naming the field; the project's page must still open.
    config = DeploymentConfig.model_validate({"fly_config": {"image": "registry.fly.io/prebuilt:1"}})
    assert config.fly_config.image == "registry.fly.io/prebuilt:1"
