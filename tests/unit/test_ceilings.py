"""Operator ceilings: a project asks for less, never more. A save above one is an error naming the field
(API and dashboard form); a config saved before a ceiling was lowered is clamped where it is used."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from config import Settings
from models.build_slots import builds_ahead_text
from models.ceilings import CEILING_OF_FIELD, Ceilings
from models.effective_config import RepoFiles, Source, resolve
from models.projects import DeploymentConfig
from web.dashboard.config_form import parse, values_of


def test_each_limit_above_its_ceiling_is_an_error_naming_the_field_and_the_setting() -> None:
    ceilings = Ceilings(memory_mb=2048, processes=512, build_timeout_seconds=600, live_previews=5,
                        builds_per_project=2)  # fmt: skip
    config = DeploymentConfig(
        build_memory_mb=4096, max_processes=1000, build_timeout_seconds=900, max_live_previews=6,
        max_concurrent_builds=3,
    )  # fmt: skip
    errors = config.over_ceilings(ceilings)
    assert set(errors) == {
        "build_memory_mb", "max_processes", "build_timeout_seconds", "max_live_previews",
        "max_concurrent_builds",
    }  # fmt: skip
    assert errors["build_timeout_seconds"] == (
        "at most 600 seconds on this previewd (PREVIEWD_MAX_BUILD_TIMEOUT_SECONDS)"
    )
    assert errors["max_live_previews"] == "at most 5 on this previewd (PREVIEWD_MAX_LIVE_PREVIEWS)"
    assert errors["max_concurrent_builds"] == "at most 2 on this previewd (PREVIEWD_MAX_BUILDS_PER_PROJECT)"
    at_ceiling = DeploymentConfig(build_timeout_seconds=600, max_live_previews=5, max_concurrent_builds=2)
    assert at_ceiling.over_ceilings(ceilings) == {}
    # Defaults are never an error, even above a ceiling (10 live previews here): they are clamped. An
    # unset build time limit is the operator's default, which the settings hold under its ceiling.
    assert DeploymentConfig().over_ceilings(ceilings) == {}
    assert resolve({}, RepoFiles(), ceilings=ceilings).config.max_live_previews == 5


def test_defaults_one_build_at_a_time_and_ten_live_previews() -> None:
    config = DeploymentConfig()
    assert (config.max_concurrent_builds, config.max_live_previews) == (1, 10)
    with pytest.raises(ValidationError):
        DeploymentConfig(max_concurrent_builds=0)


def test_the_settings_make_the_ceilings_and_refuse_a_default_timeout_above_its_ceiling(
    clean_env: Path,
) -> None:
    settings = Settings(
        previewd_max_build_timeout_seconds=1200,
        previewd_max_live_previews=20,
        previewd_max_builds_per_project=3,
    )
    assert settings.ceilings == Ceilings(build_timeout_seconds=1200, live_previews=20, builds_per_project=3)
    with pytest.raises(ValidationError, match="PREVIEWD_MAX_BUILD_TIMEOUT_SECONDS"):
        Settings(previewd_build_timeout_seconds=1800, previewd_max_build_timeout_seconds=1200)


def test_a_config_saved_before_a_ceiling_was_lowered_is_clamped_and_says_so() -> None:
    stored = {"build_timeout_seconds": 3000, "max_concurrent_builds": 8, "max_live_previews": 50}
    effective = resolve(stored, RepoFiles(), ceilings=Ceilings(build_timeout_seconds=600, live_previews=20))
    config, sources = effective.config, effective.sources
    assert (config.build_timeout_seconds, sources["build_timeout_seconds"]) == (600, Source.CEILING)
    assert (config.max_concurrent_builds, sources["max_concurrent_builds"]) == (4, Source.CEILING)
    assert (config.max_live_previews, sources["max_live_previews"]) == (20, Source.CEILING)
    assert set(CEILING_OF_FIELD) <= set(effective.record(RepoFiles())["config"])


def test_the_form_takes_builds_at_once_and_the_build_time_limit(clean_env: Path) -> None:
    settings = Settings(previewd_max_builds_per_project=2, previewd_max_build_timeout_seconds=900)
    over = parse({"max_concurrent_builds": "3", "build_timeout_seconds": "1000"}, settings=settings)
    assert "PREVIEWD_MAX_BUILDS_PER_PROJECT" in over.errors["max_concurrent_builds"]
    assert "at most 900 seconds" in over.errors["build_timeout_seconds"]
    good = parse({"max_concurrent_builds": "2", "build_timeout_seconds": ""}, settings=settings)
    assert good.config is not None and good.errors == {}
    assert (good.config.max_concurrent_builds, good.config.build_timeout_seconds) == (2, None)
    assert values_of(good.config.model_dump())["max_concurrent_builds"] == "2"


def test_a_place_in_line_reads_as_people_say_it() -> None:
    assert [builds_ahead_text(n) for n in (1, 2)] == ["1 build ahead", "2 builds ahead"]
