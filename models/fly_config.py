"""`fly_config` of a project's deployment config: where and how its previews run on Fly.io."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

REGION = r"^[a-z]{3}$"


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
    # A prebuilt image (e.g. registry.fly.io/app:tag); skips building from the Dockerfile.
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
