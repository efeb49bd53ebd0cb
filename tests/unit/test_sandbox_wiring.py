"""How builds and previews are put in their sandbox: limits under the operator's ceilings, an
environment built from nothing, the sandbox mode chosen at start, and the settings form's limits."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import cast

import pytest

import activities.builders
import activities.local.sandboxing as sandboxing
from activities.builders import LocalBuilder
from activities.environment import app_values, sandboxed_env
from activities.local.sandboxing import SandboxUnavailable, decide, limits
from activities.logsink import LogSink
from activities.sandbox import Probe
from config import Settings
from models import DeploymentConfig, LogType
from models.ceilings import Ceilings
from models.db import Database
from web.dashboard.config_form import parse
from workflows.activity_io import DeploymentRef

REF = DeploymentRef(
    deployment_id=str(uuid.uuid4()),
    project_id=str(uuid.uuid4()),
    pr_number=7,
    commit_sha="ab" * 20,
    app_name="pr-7-app",
)


def test_limits_are_the_projects_under_the_operators_ceilings(clean_env: Path) -> None:
    settings = Settings(previewd_max_memory_mb=2048, previewd_max_processes=300)
    config = DeploymentConfig(build_memory_mb=4096, preview_memory_mb=512, max_processes=1000)
    assert limits(settings, config, memory_mb=config.build_memory_mb).memory_bytes == 2048 << 20
    assert limits(settings, config, memory_mb=config.preview_memory_mb).memory_bytes == 512 << 20
    assert limits(settings, config, memory_mb=512).max_pids == 300


def test_a_config_over_the_ceilings_names_each_field() -> None:
    config = DeploymentConfig(build_memory_mb=4096, preview_memory_mb=1024, max_processes=1000)
    errors = config.over_ceilings(Ceilings(memory_mb=2048, processes=512))
    assert set(errors) == {"build_memory_mb", "max_processes"}
    assert "PREVIEWD_MAX_MEMORY_MB" in errors["build_memory_mb"]
    assert DeploymentConfig().over_ceilings(Ceilings(memory_mb=1024, processes=512)) == {}


def test_the_form_shows_limit_mistakes_beside_their_fields(clean_env: Path) -> None:
    settings = Settings(previewd_max_memory_mb=2048)
    form = parse(
        {"build_memory_mb": "lots", "preview_memory_mb": "4096", "max_processes": "8"}, settings=settings
    )
    assert form.errors["build_memory_mb"] == "must be a whole number"
    assert "greater than or equal to 16" in form.errors["max_processes"]
    good = parse({"preview_memory_mb": "4096"}, settings=settings)
    assert "at most 2048 MB" in good.errors["preview_memory_mb"]
    assert parse({"preview_memory_mb": "2048"}, settings=settings).errors == {}


def test_the_sandbox_env_holds_nothing_of_the_workers(clean_env: Path) -> None:
    host = {
        "FLY_API_TOKEN": "fo1_secret",
        "DATABASE_URL": "postgresql://x",
        "LD_PRELOAD": "/evil.so",
        "SSL_CERT_FILE": "/etc/ssl/certs/ca.pem",
        "PIP_CERT": "/etc/ssl/certs/ca.pem",
    }
    config = DeploymentConfig(env_vars={"NODE_ENV": "production", "PORT": "1"})
    values = app_values(
        settings=Settings(), config=config, secrets={"API_KEY": "k"}, ref=REF, port=8080, sandboxed=True
    )
    env = sandboxed_env(values, home="/home/preview", host=host)
    assert env["PORT"] == "8080" and env["HOST"] == "0.0.0.0" and env["API_KEY"] == "k"
    assert env["HOME"] == "/home/preview" and env["npm_config_cache"] == "/home/preview/.cache/npm"
    assert env["npm_config_store_dir"] == "/home/preview/.cache/pnpm-store"  # kept between builds too
    assert env["SSL_CERT_FILE"] == env["PIP_CERT"] == "/etc/ssl/certs/ca.pem"
    assert env["CI"] == "true" and env["COMMIT_SHA"] == REF.commit_sha
    assert not {"FLY_API_TOKEN", "DATABASE_URL", "LD_PRELOAD"} & set(env)


async def test_a_sandboxed_plan_runs_each_step_in_a_sandbox_of_its_own(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handed: list[Path] = []
    monkeypatch.setattr(activities.builders, "hand_over", handed.append)
    settings = Settings(previewd_data_dir=tmp_path / "data")
    config = DeploymentConfig(install_command="npm ci", build_command="npm run build", build_memory_mb=256)
    sink = LogSink(cast(Database, None), REF.deployment_id, LogType.BUILD)
    builder = LocalBuilder(settings, sandboxed=True)
    steps = await builder.plan(REF, config, secrets={}, source=tmp_path / "src", sink=sink)
    specs = [step.sandbox for step in steps]
    assert [s.name for s in specs if s] == [f"d-{REF.deployment_id}-install", f"d-{REF.deployment_id}-build"]
    cache = settings.data_dir / "cache" / REF.project_id
    assert all(s and s.cache_dir == cache and s.limits.memory_bytes == 256 << 20 for s in specs)
    assert handed == [cache]  # created once, handed to the sandbox uid


async def test_sandbox_modes(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandboxing, "probe", lambda: Probe(["bwrap not found"]))
    off = await decide(Settings(previewd_sandbox="off"))
    assert not off.sandboxed and off.why_not == "PREVIEWD_SANDBOX=off"
    auto = await decide(Settings())
    assert not auto.sandboxed and auto.why_not == "bwrap not found"
    with pytest.raises(SandboxUnavailable, match="bwrap not found"):
        await decide(Settings(previewd_sandbox="required"))
    monkeypatch.setattr(sandboxing, "probe", lambda: Probe([]))
    assert (await decide(Settings(previewd_sandbox="required"))).sandboxed
