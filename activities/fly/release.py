"""A project's release command on Fly.io, run as Fly runs one (flyctl's `release_command`): a one-off
machine of the new image, with the app's secrets, that runs the command once and is never restarted;
its exit code decides. It runs before the PR's machine is updated, so a failure leaves the previous
sha serving.

Unlike flyctl, the machine is not `auto_destroy`: previewd waits for it to stop, reads its exit code
from the stopped machine's events, then destroys it itself, so reading the code never depends on Fly
still showing a destroyed machine.

The command is a shell line, as everywhere in previewd: `/bin/sh -c <release_command>` as the
machine's init command (the image needs a /bin/sh)."""

from __future__ import annotations

from typing import Any

from temporalio.exceptions import ApplicationError

from activities.fly.client import FlyApiError, FlyClient
from activities.fly.machine_config import METADATA_ROLE, machine_config
from activities.logsink import LogSink
from activities.processes import shell_argv
from models import DeploymentConfig
from workflows.activity_io import DeploymentRef, ErrorType

# flyctl's default --release-command-timeout.
RELEASE_TIMEOUT_SECONDS = 300
ROLE_RELEASE = "release"


def release_machine_config(ref: DeploymentRef, config: DeploymentConfig) -> dict[str, Any]:
    """The preview's machine config, made a one-off: no services or checks (nothing may route to it),
    the release command as its command, never restarted."""
    base = machine_config(ref, config)
    return {
        "image": base["image"],
        "guest": base["guest"],
        "init": {"cmd": shell_argv(str(config.release_command))},
        "restart": {"policy": "no"},
        "env": {"RELEASE_COMMAND": "1"},
        "metadata": {**base["metadata"], METADATA_ROLE: ROLE_RELEASE},
    }


def _exit_code(machine: dict[str, Any]) -> int | None:
    """The exit code in the machine's newest `exit` event (flyd's `request.exit_event.exit_code`)."""
    for event in machine.get("events") or []:
        if event.get("type") == "exit":
            code = ((event.get("request") or {}).get("exit_event") or {}).get("exit_code")
            return int(code) if code is not None else None
    return None


async def run_release(
    client: FlyClient,
    ref: DeploymentRef,
    config: DeploymentConfig,
    *,
    region: str,
    secrets_version: int,
    sink: LogSink,
) -> None:
    """Run the release command to its end; ApplicationError (non-retryable) unless it exits 0."""
    body = {
        "config": release_machine_config(ref, config),
        "region": region,
        "min_secrets_version": secrets_version,
    }
    machine = await client.create_machine(ref.app_name, body)
    sink.info(f"$ {config.release_command}")
    sink.info(f"Running the release command in machine {machine['id']}")
    try:
        code = await _wait_for_exit(client, ref.app_name, machine)
    finally:
        # Not left running against the database once previewd has given up on it, nor kept stopped.
        await client.delete_machine(ref.app_name, machine["id"])
    if code != 0:
        said = "with no exit code" if code is None else f"with code {code}"
        message = f"release command exited {said} (its output is in Fly's logs: fly logs -i {machine['id']})"
        raise ApplicationError(message, type=ErrorType.BUILD_FAILED, non_retryable=True)
    sink.info(f"release command finished in machine {machine['id']}")


async def _wait_for_exit(client: FlyClient, app: str, machine: dict[str, Any]) -> int | None:
    try:
        # With the instance id, as Fly requires for `stopped`: this run, not an earlier one.
        await client.wait_state(app, machine, "stopped", deadline_seconds=RELEASE_TIMEOUT_SECONDS)
    except FlyApiError as error:
        if error.status != 408:
            raise
        message = (
            f"release command did not finish within {RELEASE_TIMEOUT_SECONDS}s (machine {machine['id']})"
        )
        raise ApplicationError(message, type=ErrorType.BUILD_FAILED, non_retryable=True) from None
    return _exit_code(await client.get_machine(app, machine["id"]))
