"""Projects (one per connected repository), their deployment config and encrypted secrets."""

from __future__ import annotations

import re
import shlex
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SerializationInfo, field_serializer, field_validator
from pydantic import Field as PydanticField
from sqlalchemy import BigInteger, Column, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from models.ceilings import CEILING_OF_FIELD, Ceilings
from models.clone_source import CloneRules
from models.common import timestamp_field
from models.fly_config import FlyConfig
from models.preview_databases import PREFIX as PREVIEW_DATABASE_PREFIX

ENV_NAME = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")
# Bounds of a project's sandbox limits whatever the operator allows: below them nothing starts.
MIN_MEMORY_MB, MAX_MEMORY_MB = 64, 1 << 20
MIN_PROCESSES, MAX_PROCESSES = 16, 1 << 22


def checkout_path_problem(value: str) -> str | None:
    """Why `value` is not a relative path that stays inside the checkout, or None."""
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in value):
        return "must not contain control characters"
    if value.startswith(("/", "\\", "-", "~")) or re.match(r"\A[A-Za-z]:", value):
        return "must be a path relative to the repository's root, such as docker/Dockerfile"
    if ".." in re.split(r"[/\\]", value):
        return "must stay inside the repository: '..' is not allowed"
    return None


class DeploymentConfig(BaseModel):
    """How a project's previews are built and run. Commands are shell command lines, run as
    `/bin/sh -c <command>` in the deployment's sandbox; only the project's own configured text is
    ever a command line (PR text reaches them as environment variables)."""

    model_config = ConfigDict(extra="forbid")

    install_command: str | None = None
    build_command: str | None = None
    start_command: str | None = None
    # Run after the build and before the preview starts (Heroku's `release:`, Render's
    # preDeployCommand): migrations, say. It failing fails the deployment; the live sha keeps serving.
    release_command: str | None = None
    port: int = PydanticField(default=8080, ge=1, le=65535)
    env_vars: dict[str, str] = PydanticField(default_factory=dict)
    dockerfile_path: str | None = None
    # Validated here, once: a typo is an error beside the field when the config is saved, not a
    # failed deploy later.
    fly_config: FlyConfig = PydanticField(default_factory=FlyConfig)
    clone_url: str | None = None
    build_timeout_seconds: int | None = PydanticField(default=None, ge=10, le=6 * 3600)
    # Pull requests from forks: "approve" (a maintainer approves each sha before it is built with the
    # project's secrets), "never" (forks are not previewed) or "always" (forks are trusted like branches).
    fork_policy: Literal["approve", "never", "always"] = "approve"
    # Each build step and each preview runs in a sandbox with these limits (a cgroup each), held under
    # the operator's ceilings (PREVIEWD_MAX_MEMORY_MB, PREVIEWD_MAX_PROCESSES; see `over_ceilings`).
    build_memory_mb: int = PydanticField(default=1024, ge=MIN_MEMORY_MB, le=MAX_MEMORY_MB)
    preview_memory_mb: int = PydanticField(default=1024, ge=MIN_MEMORY_MB, le=MAX_MEMORY_MB)
    max_processes: int = PydanticField(default=512, ge=MIN_PROCESSES, le=MAX_PROCESSES)
    # Builds of this project at once, on top of each worker's PREVIEWD_MAX_CONCURRENT_BUILDS: a busy
    # project queues its own builds (FIFO, models/build_slots.py) instead of taking every worker's.
    max_concurrent_builds: int = PydanticField(default=1, ge=1, le=64)
    # Awake previews of this project; beyond it the least recently used one sleeps (see
    # `idle_minutes`). Held under PREVIEWD_MAX_LIVE_PREVIEWS like the other limits.
    max_live_previews: int = PydanticField(default=10, ge=1, le=1000)

    # Monorepos: where previewd.toml and the Procfile are read, and where the commands run.
    root_directory: str | None = None
    # Set: a push that changes none of these paths (relative to the repository's root; a trailing `/`
    # is a directory, `*` a glob) since the live sha is recorded as skipped, not built.
    watch_paths: list[str] = PydanticField(default_factory=list, max_length=100)
    # The local platform's readiness check: a 2xx/3xx answer on this path within this many seconds.
    health_check_path: str = PydanticField(default="/", max_length=500)
    health_check_timeout_seconds: int = PydanticField(default=60, ge=1, le=3600)
    # Log lines of a deployment that finished more than this many days ago are deleted by a daily
    # schedule (activities/log_retention.py). A project setting only: never read from previewd.toml.
    log_retention_days: int = PydanticField(default=30, ge=1, le=3650)
    # A live preview nobody pushed to or visited for this many days is torn down (status `expired`);
    # 0: never. Set in the dashboard only (models/repo_config.py refuses it in previewd.toml).
    expire_after_days: int = PydanticField(default=7, ge=0, le=365)
    # Local platform: a preview that served no request for this long is stopped until its next
    # request (0 = never sleeps); and at most this many of the project's previews are awake at once
    # (`max_live_previews`: the least recently used beyond it is put to sleep, never destroyed). Set
    # in the dashboard only: how much of the host a project keeps is not the repository's to decide.
    idle_minutes: int = PydanticField(default=15, ge=0, le=7 * 24 * 60)
    # A database per PR (issue 16, activities/preview_db): "postgres", or None for none. `database_seed`
    # is a `.sql` file of the checkout run once into a new database with the PR's own role, or else a
    # command run once (in the sandbox, after the release command) against it. `database_template`
    # (dashboard only) is an operator's database copied with CREATE DATABASE … TEMPLATE.
    database_engine: Literal["postgres"] | None = None
    database_seed: str | None = PydanticField(default=None, max_length=1000)
    database_template: str | None = PydanticField(default=None, max_length=63, pattern=r"^[a-z_][a-z0-9_]*$")
    # Dashboard only: a preview database over this size is stopped; held under the operator's ceiling.
    database_max_mb: int = PydanticField(default=1024, ge=1, le=1 << 20)

    @field_validator("install_command", "build_command", "start_command", "release_command")
    @classmethod
    def _command_line(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        # A NUL cannot be passed to a program as an argument: say so on save, not at deploy time.
        if "\x00" in value:
            raise ValueError("must not contain a NUL character")
        # A quote left open is a shell syntax error every time it runs: refused on save instead.
        try:
            shlex.split(value, comments=True)
        except ValueError as error:
            raise ValueError(f"is not a complete command line: {error}") from None
        return value.strip()

    @field_validator("dockerfile_path", "root_directory")
    @classmethod
    def _inside_the_checkout(cls, value: str | None) -> str | None:
        # Handed to the builder as a path in the checkout: an absolute path or a `..` would build
        # from a file of the host (another project's, previewd's own).
        if value is None or not value.strip():
            return None
        value = value.strip()
        problem = checkout_path_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("watch_paths")
    @classmethod
    def _watch_paths(cls, value: list[str]) -> list[str]:
        paths = [path.strip() for path in value if path.strip()]
        for path in paths:
            problem = checkout_path_problem(path)
            if problem:
                raise ValueError(f"{path!r} {problem}")
        return paths

    @field_validator("database_seed")
    @classmethod
    def _seed(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if value.endswith(".sql"):
            problem = checkout_path_problem(value)
            if problem:
                raise ValueError(problem)
        elif "\x00" in value:
            raise ValueError("must not contain a NUL character")
        return value

    @field_validator("database_template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        # A PR's database is written by PR code: copied into every other PR, it would carry that PR's
        # data and objects its role owns (and hold that role's drop) into theirs.
        if value is not None and value.startswith(PREVIEW_DATABASE_PREFIX):
            raise ValueError(f"must not be a PR's own database ({PREVIEW_DATABASE_PREFIX}…)")
        return value

    @field_validator("health_check_path")
    @classmethod
    def _absolute_path(cls, value: str) -> str:
        # A path on the preview's own server, never another host: `//host` would be one.
        if not value.startswith("/") or value.startswith("//") or any(ord(ch) <= 0x20 for ch in value):
            raise ValueError("must be a path on the preview such as /healthz")
        return value

    def clone_url_problem(self, rules: CloneRules) -> str | None:
        """Why `clone_url` may not be cloned on this previewd, or None. A method, not a validator:
        the rules are settings (hosts the operator allows, local mode), like `over_ceilings`."""
        return rules.problem(self.clone_url)

    @field_serializer("fly_config")
    def _fly_config_as_stored(self, value: FlyConfig, info: SerializationInfo) -> dict[str, Any]:
        # Stored, and answered by the API, as only what differs from the defaults: the shape saved
        # configs have always had.
        return value.model_dump(mode=info.mode, exclude_defaults=True)

    def over_ceilings(self, ceilings: Ceilings) -> dict[str, str]:
        """Limits above what the operator allows, as {field: message}. Checked where a config is
        saved (the ceilings are settings, not part of the model); at run time they are clamped.
        A value left at its default is never an error (an operator whose ceiling is below a default,
        say 5 live previews, must not make every save fail): it is clamped like the others."""
        errors: dict[str, str] = {}
        for name in CEILING_OF_FIELD:
            value = getattr(self, name)
            default = type(self).model_fields[name].get_default(call_default_factory=True)
            if value is not None and value != default and value > ceilings.of(name):
                errors[name] = ceilings.message(name)
        return errors

    @field_validator("env_vars")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not ENV_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid environment variable name")
        return value


class Project(SQLModel, table=True):
    __tablename__ = "projects"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID | None = Field(default=None, foreign_key="users.id", index=True)
    github_repo_id: int = Field(index=True, sa_type=BigInteger)
    github_repo_full_name: str = Field(max_length=200)
    github_installation_id: int | None = Field(default=None, index=True, sa_type=BigInteger)
    deployment_config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    is_active: bool = True
    # Why the project is inactive, when something other than a person switched it off (the App's
    # installation was suspended or deleted, the repository was removed from it): the matching event
    # switches it back on.
    disabled_reason: str | None = Field(default=None, max_length=100)
    # Fly previews are also served at `{app}.{preview_domain}` with a certificate from Fly
    # (models/preview_domains.py); set by an admin in the dashboard only, never by previewd.toml.
    preview_domain: str | None = Field(default=None, max_length=253)
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()

    def config(self) -> DeploymentConfig:
        return DeploymentConfig.model_validate(self.deployment_config)


class ProjectSecret(SQLModel, table=True):
    """A secret env var of a project, AES-GCM encrypted under the key named by key_id."""

    __tablename__ = "project_secrets"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    project_id: uuid.UUID = Field(foreign_key="projects.id", ondelete="CASCADE")
    name: str = Field(max_length=200)
    encrypted_value: bytes
    key_id: str = Field(max_length=16)
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()
