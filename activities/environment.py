"""The environment a build step, a release or a preview process gets: built from nothing, never the
worker's own credentials (issue 10: the worker's environ holds FLY_API_TOKEN, GITHUB_APP_PRIVATE_KEY…).

`step_env` is the one place it is made, for every step of a deployment and both ways of running one
(in a sandbox or on the host): whatever a step should be told is added there once. The PR's own
DATABASE_URL comes with the secrets (activities/context.py `secrets`), so it is masked like them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from activities.local.sandboxing import INNER_HOME
from activities.processes import base_env
from activities.sandbox import sandbox_env
from activities.toolchain import Toolchain
from config import Settings
from models import DeploymentConfig
from workflows.activity_io import DeploymentRef


@dataclass(frozen=True)
class PullRequestText:
    """What the PR's author chose (title, branch, their login): never part of a command line, only
    ever the value of an environment variable, which a shell expands as a value and never parses."""

    title: str = ""
    branch: str = ""
    author: str = ""


def pr_values(ref: DeploymentRef, pr: PullRequestText) -> dict[str, str]:
    return {
        "PREVIEWD_PR_NUMBER": str(ref.pr_number),
        "PREVIEWD_PR_TITLE": pr.title,
        "PREVIEWD_BRANCH": pr.branch,
        "PREVIEWD_AUTHOR": pr.author,
        "PREVIEWD_SHA": ref.commit_sha,
        "PREVIEWD_APP_NAME": ref.app_name,
    }


def app_values(
    *,
    settings: Settings,
    config: DeploymentConfig,
    secrets: dict[str, str],
    ref: DeploymentRef,
    port: int,
    sandboxed: bool,
    pr: PullRequestText | None = None,
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
    values.update(pr_values(ref, pr or PullRequestText()))
    return values


def sandboxed_env(
    values: Mapping[str, str], *, home: str, host: Mapping[str, str] = os.environ
) -> dict[str, str]:
    """The whole environment inside a sandbox: HOME, PATH, the CA settings, npm's cache and pnpm's
    store under the project's build cache ($HOME/.cache: pip, uv and yarn keep theirs there anyway;
    pnpm's store would be under ~/.local/share, which is not kept), then `values`."""
    store = f"{home}/.cache/pnpm-store"  # pnpm reads npm's npm_config_* variables; newer ones their own
    caches = {
        "npm_config_cache": f"{home}/.cache/npm",
        "npm_config_store_dir": store,
        "pnpm_config_store_dir": store,
    }
    return sandbox_env({**caches, **values}, home=home, host=host)


def app_env(*, values: Mapping[str, str], home: Path) -> dict[str, str]:
    """Unsandboxed (PREVIEWD_SANDBOX=off, or no sandbox on this host): the few harmless variables
    of the worker (base_env), HOME set to the checkout, then `values`."""
    return base_env(home) | dict(values)


def step_env(
    *,
    settings: Settings,
    config: DeploymentConfig,
    secrets: dict[str, str],
    ref: DeploymentRef,
    pr: PullRequestText,
    toolchain: Toolchain,
    source: Path,
    app_root: str,
    port: int,
    sandboxed: bool,
) -> dict[str, str]:
    """The whole environment of one step of a deployment (install, build, release, start): in a
    sandbox (the checkout at /app, HOME the project's) or on this host (the checkout where it is).
    PATH is the toolchain's directories (under `app_root`, the app's directory as the step sees it),
    then the system's: a project's PATH cannot replace it."""
    values = app_values(
        settings=settings, config=config, secrets=secrets, ref=ref, port=port, sandboxed=sandboxed, pr=pr
    )
    if sandboxed:
        return sandboxed_env(values | toolchain.values(app_root), home=INNER_HOME)
    return app_env(values=values | toolchain.values(app_root), home=source)
