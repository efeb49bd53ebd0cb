"""The Machine config of a preview: what `POST /v1/apps/{app}/machines` gets, create and update alike."""

from __future__ import annotations

from typing import Any

from models import DeploymentConfig
from models.fly_config import FlyConfig
from workflows.activity_io import DeploymentRef

METADATA_PROJECT = "previewd_project"
METADATA_PR = "previewd_pr"
METADATA_SHA = "previewd_sha"
# Set on a machine that is not the PR's preview (a release command's one-off machine).
METADATA_ROLE = "previewd_role"


def image_label(ref: DeploymentRef) -> str:
    return f"pr-{ref.pr_number}-{ref.commit_sha[:12]}"


def image_ref(ref: DeploymentRef, fly: FlyConfig) -> str:
    return fly.image or f"registry.fly.io/{ref.app_name}:{image_label(ref)}"


def machine_config(ref: DeploymentRef, config: DeploymentConfig) -> dict[str, Any]:
    fly = config.fly_config
    http_service: dict[str, Any] = {
        "protocol": "tcp",
        "internal_port": config.port,
        "ports": [
            {"port": 80, "handlers": ["http"], "force_https": True},
            {"port": 443, "handlers": ["tls", "http"]},
        ],
        # Idle previews stop and cost nothing; the next request starts them again.
        "autostop": "stop" if fly.auto_stop else "off",
        "autostart": True,
        "min_machines_running": 0,
        "checks": [
            {
                "type": "http",
                "method": "GET",
                "path": "/",
                "interval": "15s",
                "timeout": "5s",
                "grace_period": "10s",
            }
        ],
    }
    extra = [
        {
            "protocol": service.protocol,
            "internal_port": service.internal_port,
            "ports": [{"port": service.port, "handlers": list(service.handlers)}],
            "autostop": "stop" if fly.auto_stop else "off",
            "autostart": True,
        }
        for service in fly.extra_services
    ]
    return {
        "image": image_ref(ref, fly),
        "guest": {"cpu_kind": fly.guest.cpu_kind, "cpus": fly.guest.cpus, "memory_mb": fly.guest.memory_mb},
        "services": [http_service, *extra],
        "metadata": {
            METADATA_PROJECT: ref.project_id,
            METADATA_PR: str(ref.pr_number),
            METADATA_SHA: ref.commit_sha,
        },
        "restart": {"policy": "on-failure", "max_retries": 3},
    }
