"""`fly_config` of a project's deployment config: where and how its previews run on Fly.io."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

REGION = r"^[a-z]{3}$"

# An image reference as the registries' distribution spec writes it: [host[:port]/]path[:tag][@digest].
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_HOST = rf"{_LABEL}(?:\.{_LABEL})*(?::[0-9]+)?"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE = re.compile(
    rf"\A(?:(?P<host>{_HOST})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)(?::{_TAG})?(?:@{_DIGEST})?\Z",
    re.ASCII,
)
FLY_REGISTRY = "registry.fly.io"


def image_host(image: str) -> str | None:
    """The registry an image is pulled from, lower-cased; None for Docker Hub's short names
    (`nginx:1.27`, `library/nginx`), where the first part of the path is no host."""
    match = IMAGE.match(image)
    if match is None or match["host"] is None:
        return None
    host = match["host"]
    # Like docker: a first part is a host only if it has a dot or a port, or is localhost.
    return host.lower() if ("." in host or ":" in host or host == "localhost") else None


def fly_registry_app(image: str | None) -> str | None:
    """The Fly app whose repository on registry.fly.io `image` names, or None for any other registry."""
    if not image:
        return None
    match = IMAGE.match(image)
    host = image_host(image)
    if match is None or host is None or host.split(":")[0] != FLY_REGISTRY:
        return None
    return match["path"].split("/")[0]


class FlyGuest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cpu_kind: Literal["shared", "performance"] = "shared"
    cpus: int = Field(default=1, ge=1, le=16)
    memory_mb: int = Field(default=256, ge=256, le=65536)

    @field_validator("memory_mb")
    @classmethod
    def _multiple_of_256(cls, value: int) -> int:
        if value % 256:
            raise ValueError("must be a multiple of 256")
        return value


class FlyExtraService(BaseModel):
    """Another port of the app to expose, beyond the HTTP service on 80/443."""

    model_config = ConfigDict(extra="forbid")

    internal_port: int = Field(ge=1, le=65535)
    port: int = Field(ge=1, le=65535)
    handlers: list[Literal["http", "tls", "pg_tls", "proxy_proto"]] = Field(default_factory=list)
    protocol: Literal["tcp", "udp"] = "tcp"


class FlyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    region: str | None = Field(default=None, pattern=REGION)
    fallback_regions: list[str] = Field(default_factory=list, max_length=5)
    guest: FlyGuest = Field(default_factory=FlyGuest)
    # A prebuilt image (a public one, or one of the project's own preview apps' on registry.fly.io);
    # skips building from the Dockerfile. Which images are allowed depends on the project's apps, so
    # a save checks it (models/fly_images.py), and so does a deploy, for values stored before the rule:
    # a stored value must still load here.
    image: str | None = Field(default=None, min_length=3, max_length=300)
    extra_services: list[FlyExtraService] = Field(default_factory=list, max_length=10)
    auto_stop: bool = True

    @field_validator("fallback_regions")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        for region in value:
            if not re.match(REGION, region):
                raise ValueError(f"{region!r} is not a Fly region code (three lower-case letters)")
        return value
