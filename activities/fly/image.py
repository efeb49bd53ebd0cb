"""The image of a Fly preview: built from the repository's Dockerfile and pushed to registry.fly.io,
through Fly's remote builders (flyctl) or the operator's own builder (docker buildx)."""

from __future__ import annotations

from activities.fly.machine_config import image_label, image_ref
from config import Settings
from models import DeploymentConfig
from workflows.activity_io import DeploymentRef


def build_command(settings: Settings, config: DeploymentConfig, ref: DeploymentRef) -> list[str]:
    dockerfile = config.dockerfile_path or "Dockerfile"
    if settings.fly_builder == "docker":
        return [
            "docker",
            "buildx",
            "build",
            "--push",
            "--tag",
            image_ref(ref, config.fly_config),
            "--file",
            dockerfile,
            ".",
        ]
    return [
        "flyctl", "deploy", "--build-only", "--push", "--remote-only",
        "--app", ref.app_name, "--image-label", image_label(ref), "--dockerfile", dockerfile,
    ]  # fmt: skip


def builder_env(settings: Settings) -> dict[str, str]:
    """What the builder CLI itself needs (not the PR's code): the operator's token for the registry."""
    return {
        "FLY_API_TOKEN": settings.fly_api_token.get_secret_value() if settings.fly_api_token else "",
        "FLY_ORG": settings.fly_org,
    }
