"""The image of a Fly preview: built from the repository's Dockerfile and pushed to registry.fly.io,
through Fly's remote builders (flyctl) or the operator's own builder (docker buildx).

The builder CLI runs on the worker, next to the org's Fly token, so nothing of the PR's tree may
steer it: it runs in a directory previewd owns, with a `HOME`, a Fly config dir and a Docker config
dir of its own there, and a fly.toml previewd writes. The checkout is only ever an argument: the build
context, sent to the builder, and the Dockerfile inside it. A PR's `fly.toml`, `.fly/` or
`.docker/cli-plugins/docker-buildx` is data in the context, never read or run here.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from activities.fly.machine_config import image_label, image_ref
from activities.processes import SYSTEM_PATH, base_env
from config import Settings
from models import DeploymentConfig
from workflows.activity_io import DeploymentRef

FLY_REGISTRY = "registry.fly.io"


class UnsafeDockerfile(ValueError):
    """dockerfile_path names something outside the checkout."""


@dataclass(frozen=True)
class BuilderHome:
    """A directory previewd owns, made fresh for each build, beside (never inside) the checkout."""

    root: Path

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def fly_config_dir(self) -> Path:
        # flyctl reads its config and state from FLY_CONFIG_DIR, else ~/.fly (helpers/base_dirs.go).
        return self.home / ".fly"

    @property
    def docker_config(self) -> Path:
        # The docker CLI reads config.json and cli-plugins/ from DOCKER_CONFIG, else ~/.docker.
        return self.home / ".docker"

    @property
    def fly_toml(self) -> Path:
        return self.root / "fly.toml"


def dockerfile_in(source: Path, dockerfile_path: str | None) -> Path:
    """The Dockerfile to build, which must lie inside the checkout, symlinks followed: a link to a
    file of the worker would have flyctl read it and send it to the builder."""
    relative = PurePosixPath(dockerfile_path or "Dockerfile")
    if relative.is_absolute() or ".." in relative.parts:
        raise UnsafeDockerfile(
            f"dockerfile_path {str(relative)!r} must be a path inside the repository (relative, without '..')"
        )
    root = source.resolve()
    resolved = (root / relative).resolve()
    if not resolved.is_relative_to(root):
        raise UnsafeDockerfile(f"dockerfile_path {str(relative)!r} leads outside the repository")
    return resolved


def prepare_home(root: Path, settings: Settings, ref: DeploymentRef) -> BuilderHome:
    """Empty the builder's directory of any earlier attempt and set it up for this build."""
    shutil.rmtree(root, ignore_errors=True)
    home = BuilderHome(root)
    for directory in (root, home.home, home.fly_config_dir, home.docker_config):
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Names the app, so flyctl never looks for a fly.toml of the PR's; nothing else: the Dockerfile
    # and the context come as arguments.
    home.fly_toml.write_text(f"app = {json.dumps(ref.app_name)}\n")
    if settings.fly_builder == "docker" and settings.fly_api_token:
        # What `flyctl auth docker` writes: the registry takes the org's token as the password.
        token = settings.fly_api_token.get_secret_value()
        auth = base64.b64encode(f"x:{token}".encode()).decode()
        config = home.docker_config / "config.json"
        config.touch(mode=0o600)
        config.write_text(json.dumps({"auths": {FLY_REGISTRY: {"auth": auth}}}))
    return home


def build_command(
    settings: Settings,
    config: DeploymentConfig,
    ref: DeploymentRef,
    *,
    source: Path,
    dockerfile: Path,
    home: BuilderHome,
) -> list[str]:
    if settings.fly_builder == "docker":
        return [
            "docker", "buildx", "build", "--push",
            "--tag", image_ref(ref, config.fly_config), "--file", str(dockerfile), str(source),
        ]  # fmt: skip
    return [
        "flyctl", "deploy", str(source), "--config", str(home.fly_toml),
        "--build-only", "--push", "--remote-only",
        "--app", ref.app_name, "--image-label", image_label(ref), "--dockerfile", str(dockerfile),
    ]  # fmt: skip


def builder_env(settings: Settings, home: BuilderHome) -> dict[str, str]:
    """What the builder CLI itself needs, and nothing of the PR's: the operator's token for the
    registry, and every place a CLI looks for its config pointed into previewd's own directory."""
    # The builder CLIs are the operator's, wherever the operator installed them: the worker's PATH.
    return base_env(home.home, path=os.environ.get("PATH", SYSTEM_PATH)) | {
        "FLY_CONFIG_DIR": str(home.fly_config_dir),
        "DOCKER_CONFIG": str(home.docker_config),
        "XDG_CONFIG_HOME": str(home.home / ".config"),
        "XDG_CACHE_HOME": str(home.home / ".cache"),
        "FLY_API_TOKEN": settings.fly_api_token.get_secret_value() if settings.fly_api_token else "",
        "FLY_ORG": settings.fly_org,
    }
