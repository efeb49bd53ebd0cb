"""The environment a build or a preview process gets: never the worker's own credentials."""

from __future__ import annotations

from pathlib import Path

from activities.processes import base_env
from config import Settings
from models import DeploymentConfig
from workflows.activity_io import DeploymentRef


def app_env(
    *, settings: Settings, config: DeploymentConfig, secrets: dict[str, str], ref: DeploymentRef, home: Path
) -> dict[str, str]:
    env = base_env(home)
    env.update(config.env_vars)
    env.update(secrets)
    env.update(
        {
            "PREVIEW_URL": settings.preview_url(ref.app_name),
            "PR_NUMBER": str(ref.pr_number),
            "COMMIT_SHA": ref.commit_sha,
            "PREVIEWD": "1",
        }
    )
    return env
