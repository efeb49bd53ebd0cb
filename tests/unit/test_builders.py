"""activities/builders.py and activities/fly/builder.py: what a build runs on each platform."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import cast

import pytest
from temporalio.exceptions import ApplicationError

from activities.builders import LocalBuilder
from activities.environment import PullRequestText
from activities.fly.builder import FlyImageBuilder
from activities.fly.platform import FlyPlatformActivities
from activities.logsink import LogSink
from activities.processes import SYSTEM_PATH
from activities.toolchain import Toolchain
from config import Settings
from models import DeploymentConfig, LogType
from models.db import Database
from models.fly_config import FlyConfig
from workflows.activity_io import DeploymentRef

REF = DeploymentRef(
    deployment_id=str(uuid.uuid4()),
    project_id="p-1",
    pr_number=7,
    commit_sha="0123456789abcdef" * 2 + "01234567",
    app_name="pr-7-app",
)
TOKEN = "fo1_operator-token"


def sink() -> LogSink:
    return LogSink(cast(Database, None), REF.deployment_id, LogType.BUILD)


def messages(log: LogSink) -> list[str]:
    return [row["message"] for row in log._pending]


class FakeFly:
    """Stands in for FlyPlatformActivities.prepare_image: records that the app was readied."""

    def __init__(self) -> None:
        self.prepared: list[str] = []

    async def prepare_image(self, ref: DeploymentRef, sink: LogSink) -> None:
        self.prepared.append(ref.app_name)


def fly_builder(fake: FakeFly) -> FlyImageBuilder:
    settings = Settings(fly_api_token=TOKEN, fly_builder="flyctl")
    return FlyImageBuilder(settings, cast(FlyPlatformActivities, fake))


async def test_local_build_runs_install_then_build_with_the_project_env(
    clean_env: Path, tmp_path: Path
) -> None:
    config = DeploymentConfig(install_command="pip install .", build_command="make", env_vars={"A": "1"})
    log = sink()
    steps = await LocalBuilder(Settings()).plan(REF, config, secrets={"KEY": "v"}, source=tmp_path, sink=log)
    assert [(s.label, s.argv) for s in steps] == [
        ("install", ["/bin/sh", "-c", "pip install ."]),
        ("build", ["/bin/sh", "-c", "make"]),
    ]
    assert [s.shown for s in steps] == ["pip install .", "make"]
    assert steps[0].env["A"] == "1" and steps[0].env["KEY"] == "v" and steps[0].env["HOME"] == str(tmp_path)
    assert messages(log) == []
    assert LocalBuilder(Settings()).masked() == []


async def test_release_runs_last_with_the_apps_environment(clean_env: Path, tmp_path: Path) -> None:
    config = DeploymentConfig(
        install_command="npm ci", release_command="npm run migrate && echo ok", env_vars={"A": "1"}
    )
    steps = await LocalBuilder(Settings()).plan(
        REF, config, secrets={"KEY": "v"}, source=tmp_path, sink=sink()
    )
    assert [s.label for s in steps] == ["install", "release"]
    release = steps[-1]
    assert release.argv == ["/bin/sh", "-c", "npm run migrate && echo ok"]
    assert release.env["A"] == "1" and release.env["KEY"] == "v" and release.env["PORT"] == "8080"


async def test_pr_text_reaches_steps_as_environment_only(clean_env: Path, tmp_path: Path) -> None:
    hostile = PullRequestText(title="$(touch /tmp/pwned)", branch="; id", author="`id`")
    config = DeploymentConfig(build_command="make", release_command="./release")
    steps = await LocalBuilder(Settings()).plan(
        REF, config, secrets={}, source=tmp_path, sink=sink(), pr=hostile
    )
    for step in steps:
        assert step.argv[:2] == ["/bin/sh", "-c"] and step.argv[2] in ("make", "./release")
        assert step.env["PREVIEWD_PR_TITLE"] == "$(touch /tmp/pwned)"
        assert step.env["PREVIEWD_BRANCH"] == "; id" and step.env["PREVIEWD_AUTHOR"] == "`id`"
        assert step.env["PREVIEWD_PR_NUMBER"] == "7" and step.env["PREVIEWD_SHA"] == REF.commit_sha


@pytest.mark.parametrize("marker", ["requirements.txt", "pyproject.toml"])
async def test_python_app_gets_a_virtualenv_first_on_path(
    clean_env: Path, tmp_path: Path, marker: str
) -> None:
    (tmp_path / marker).write_text("six\n")
    config = DeploymentConfig(install_command="pip install -r requirements.txt")
    steps = await LocalBuilder(Settings()).plan(REF, config, secrets={}, source=tmp_path, sink=sink())
    venv = f"{tmp_path}/.previewd/venv"
    assert [(s.label, s.argv) for s in steps] == [
        ("toolchain", ["python3", "-m", "venv", "--clear", venv]),
        ("install", ["/bin/sh", "-c", "pip install -r requirements.txt"]),
    ]
    # Made by the system's python3; everything after it finds the virtualenv's pip and scripts first.
    assert steps[0].env["PATH"] == SYSTEM_PATH
    assert steps[1].env["PATH"] == f"{venv}/bin:{SYSTEM_PATH}" and steps[1].env["VIRTUAL_ENV"] == venv


async def test_node_app_gets_its_node_modules_bin_on_path(clean_env: Path, tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text("{}")
    steps = await LocalBuilder(Settings()).plan(
        REF, DeploymentConfig(install_command="npm ci"), secrets={}, source=tmp_path, sink=sink()
    )
    assert [s.label for s in steps] == ["install"]
    assert steps[0].env["PATH"] == f"{tmp_path}/node_modules/.bin:{SYSTEM_PATH}"


async def test_a_marker_that_links_out_counts_without_being_followed(clean_env: Path, tmp_path: Path) -> None:
    # Whether the link's target exists on the host must not decide anything.
    (tmp_path / "requirements.txt").symlink_to(tmp_path / "does-not-exist")
    assert Toolchain.detect(tmp_path) == Toolchain(python=True, node=False)
    assert Toolchain.detect(tmp_path / "nothing-here") == Toolchain()


async def test_project_path_cannot_replace_the_toolchain(clean_env: Path, tmp_path: Path) -> None:
    config = DeploymentConfig(build_command="make", env_vars={"PATH": "/evil"})
    [step] = await LocalBuilder(Settings()).plan(REF, config, secrets={}, source=tmp_path, sink=sink())
    assert step.env["PATH"] == SYSTEM_PATH


async def test_local_build_without_commands_says_so(clean_env: Path, tmp_path: Path) -> None:
    log = sink()
    assert (
        await LocalBuilder(Settings()).plan(REF, DeploymentConfig(), secrets={}, source=tmp_path, sink=log)
        == []
    )
    assert messages(log) == ["No install, build or release command configured"]


async def test_fly_build_readies_the_app_then_builds_the_image_without_project_secrets(
    clean_env: Path, tmp_path: Path
) -> None:
    fake = FakeFly()
    builder = fly_builder(fake)
    source = tmp_path / "src"
    source.mkdir()
    [step] = await builder.plan(REF, DeploymentConfig(), secrets={"KEY": "v"}, source=source, sink=sink())
    assert fake.prepared == ["pr-7-app"]
    assert step.label == "image" and step.argv[:3] == ["flyctl", "deploy", str(source)]
    assert step.env["FLY_API_TOKEN"] == TOKEN and "KEY" not in step.env
    # The builder runs in the deployment's own directory, beside the checkout, not in it.
    assert step.cwd == tmp_path / "builder" and step.env["HOME"].startswith(str(tmp_path / "builder"))
    assert builder.masked() == [TOKEN]


async def test_fly_build_of_a_prebuilt_image_runs_nothing(clean_env: Path, tmp_path: Path) -> None:
    image = "registry.fly.io/base:1"
    fake = FakeFly()
    log = sink()
    config = DeploymentConfig(fly_config=FlyConfig(image=image))
    assert await fly_builder(fake).plan(REF, config, secrets={}, source=tmp_path, sink=log) == []
    assert fake.prepared == [] and messages(log) == [f"Using the prebuilt image {image}"]


async def test_fly_build_of_a_dockerfile_outside_the_checkout_fails_naming_the_field(
    clean_env: Path, tmp_path: Path
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "Dockerfile").symlink_to(tmp_path / "secret-keys")
    fake = FakeFly()
    log = sink()
    with pytest.raises(ApplicationError) as failed:
        await fly_builder(fake).plan(REF, DeploymentConfig(), secrets={}, source=source, sink=log)
    assert "dockerfile_path" in failed.value.message and failed.value.non_retryable
    assert fake.prepared == [] and "dockerfile_path" in messages(log)[-1]
