"""activities/fly/image.py: the builder CLI's command, directory and environment, none of them the PR's."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from activities.fly.image import (
    UnsafeDockerfile,
    build_command,
    builder_env,
    dockerfile_in,
    prepare_home,
)
from config import Settings
from models import DeploymentConfig
from workflows.activity_io import DeploymentRef

REF = DeploymentRef(
    deployment_id="d",
    project_id="p-1",
    pr_number=7,
    commit_sha="0123456789abcdef" * 2 + "01234567",
    app_name="pr-7-app",
)
TOKEN = "fo1_operator-token"


@pytest.fixture
def source(tmp_path: Path) -> Path:
    checkout = tmp_path / "src"
    (checkout / "deploy").mkdir(parents=True)
    (checkout / "deploy" / "Dockerfile").write_text("FROM scratch\n")
    return checkout


def test_image_is_built_by_flyctl_from_the_checkout_with_previewds_own_fly_toml(
    clean_env: Path, source: Path, tmp_path: Path
) -> None:
    settings = Settings(fly_builder="flyctl", fly_api_token=TOKEN)
    home = prepare_home(tmp_path / "builder", settings, REF)
    dockerfile = dockerfile_in(source, "deploy/Dockerfile")
    argv = build_command(settings, DeploymentConfig(), REF, source=source, dockerfile=dockerfile, home=home)
    assert argv[:3] == ["flyctl", "deploy", str(source)]
    assert argv[argv.index("--config") + 1] == str(tmp_path / "builder" / "fly.toml")
    assert argv[argv.index("--dockerfile") + 1] == str(source.resolve() / "deploy" / "Dockerfile")
    assert {"--build-only", "--push", "--remote-only"} <= set(argv)
    assert argv[argv.index("--image-label") + 1] == "pr-7-0123456789ab"
    assert home.fly_toml.read_text() == 'app = "pr-7-app"\n'


def test_image_is_built_by_docker_buildx_with_the_checkout_as_context(
    clean_env: Path, source: Path, tmp_path: Path
) -> None:
    settings = Settings(fly_builder="docker", fly_api_token=TOKEN)
    home = prepare_home(tmp_path / "builder", settings, REF)
    dockerfile = dockerfile_in(source, "deploy/Dockerfile")
    argv = build_command(settings, DeploymentConfig(), REF, source=source, dockerfile=dockerfile, home=home)
    assert argv[:4] == ["docker", "buildx", "build", "--push"]
    assert argv[-1] == str(source) and argv[argv.index("--file") + 1] == str(dockerfile)
    assert argv[argv.index("--tag") + 1] == "registry.fly.io/pr-7-app:pr-7-0123456789ab"
    # The registry login flyctl would write, in previewd's docker config, readable by previewd only.
    config = home.docker_config / "config.json"
    auth = json.loads(config.read_text())["auths"]["registry.fly.io"]["auth"]
    assert base64.b64decode(auth).decode() == f"x:{TOKEN}"
    assert config.stat().st_mode & 0o077 == 0 and home.root.stat().st_mode & 0o077 == 0


def test_the_builder_environment_points_every_config_dir_into_previewds_directory(
    clean_env: Path, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://previewd:secret@db/previewd")
    monkeypatch.setenv("DOCKER_CONFIG", "/root/.docker")
    settings = Settings(fly_api_token=TOKEN)
    home = prepare_home(tmp_path / "builder", settings, REF)
    env = builder_env(settings, home)
    for name in ("HOME", "FLY_CONFIG_DIR", "DOCKER_CONFIG", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        assert Path(env[name]).is_relative_to(home.root), name
        assert not Path(env[name]).is_relative_to(source), name
    assert env["FLY_API_TOKEN"] == TOKEN and "DATABASE_URL" not in env


def test_a_second_attempt_starts_from_an_empty_directory(clean_env: Path, tmp_path: Path) -> None:
    settings = Settings(fly_api_token=TOKEN)
    home = prepare_home(tmp_path / "builder", settings, REF)
    (home.fly_config_dir / "config.yml").write_text("access_token: left-over\n")
    again = prepare_home(tmp_path / "builder", settings, REF)
    assert list(again.fly_config_dir.iterdir()) == []


@pytest.mark.parametrize(
    "path", ["/etc/passwd", "../Dockerfile", "deploy/../../Dockerfile", "link/Dockerfile", "escape"]
)
def test_a_dockerfile_outside_the_checkout_is_refused_naming_the_field(
    source: Path, tmp_path: Path, path: str
) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "Dockerfile").write_text("FROM scratch\n")
    (source / "link").symlink_to(tmp_path / "outside")
    (source / "escape").symlink_to(tmp_path / "outside" / "Dockerfile")
    with pytest.raises(UnsafeDockerfile, match="dockerfile_path"):
        dockerfile_in(source, path)


def test_a_dockerfile_inside_the_checkout_is_found(source: Path) -> None:
    assert dockerfile_in(source, "deploy/Dockerfile") == source.resolve() / "deploy" / "Dockerfile"
    assert dockerfile_in(source, None) == source.resolve() / "Dockerfile"
