"""The environment a build or a preview process gets: built from nothing, never the worker's own
credentials (issue 10: the worker's environ holds FLY_API_TOKEN, GITHUB_APP_PRIVATE_KEY…)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from activities.processes import base_env
from activities.sandbox import sandbox_env
from config import Settings
from models import DeploymentConfig
from workflows.activity_io import DeploymentRef


def app_values(
    *,
    settings: Settings,
    config: DeploymentConfig,
    secrets: dict[str, str],
    ref: DeploymentRef,
    port: int,
    sandboxed: bool,
) -> dict[str, str]:
    """What the project's commands are told: its env vars and secrets, then previewd's own values
    (which a project's variable of the same name does not override).

    HOST is the address to listen on: in a sandbox 0.0.0.0 (the port forward reaches the sandbox's
    own interface, not its loopback); unsandboxed 127.0.0.1, so a preview is not on the network."""
    values = dict(config.env_vars)
    values.update(secrets)
    values.update(
        {
            "PORT": str(port),
            "HOST": "0.0.0.0" if sandboxed else "127.0.0.1",
            "PREVIEW_URL": settings.preview_url(ref.app_name),
            "PR_NUMBER": str(ref.pr_number),
            "COMMIT_SHA": ref.commit_sha,
            "CI": "true",
            "PREVIEWD": "1",
        }
    )
    return values


def sandboxed_env(
    values: Mapping[str, str], *, home: str, host: Mapping[str, str] = os.environ
) -> dict[str, str]:
    """The whole environment inside a sandbox: HOME, PATH, the CA settings, npm's cache under the
    project's build cache ($HOME/.cache), then `values`."""
    return sandbox_env({"npm_config_cache": f"{home}/.cache/npm", **values}, home=home, host=host)


def app_env(*, values: Mapping[str, str], home: Path) -> dict[str, str]:
    """Unsandboxed (PREVIEWD_SANDBOX=off, or no sandbox on this host): the few harmless variables
    of the worker (base_env), HOME set to the checkout, then `values`."""
    return base_env(home) | dict(values)
