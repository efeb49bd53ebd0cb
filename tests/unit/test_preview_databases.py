"""Preview databases (issue 16) without a server: their names, the URL a PR is given (never the
operator's credentials), what a sandbox is shown, and the `[database]` section of previewd.toml."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from activities.preview_db.activities import SeedFailed, _read_seed
from activities.preview_db.urls import PreviewPostgres
from config import Settings
from models import DeploymentConfig
from models.ceilings import Ceilings
from models.effective_config import RepoFiles, resolve
from models.preview_databases import name_for, parse_name
from models.repo_config import RepoConfigError, key_lines, parse, parse_procfile
from runtime.preview_postgres import SOCKET_INSIDE

PROJECT = uuid.UUID("9cddc54f-6336-425b-a915-ac953a4bf8bd")


def settings(tmp_path: Path, operator: str | None = None) -> Settings:
    return Settings(
        previewd_data_dir=tmp_path,
        previewd_preview_database_url=SecretStr(operator) if operator else None,
    )


def test_a_name_stands_for_its_project_and_pr_and_fits_postgres() -> None:
    name = name_for(PROJECT, 2147483647)
    assert len(name) <= 63 and name.startswith("previewd_pr_")
    assert parse_name(name) == (PROJECT, 2147483647)
    for other in ("postgres", "previewd_pr_x_1", f"previewd_pr_{PROJECT.hex}_", f"{name}_evil"):
        assert parse_name(other) is None


def test_the_embedded_url_names_the_socket_the_step_sees(tmp_path: Path) -> None:
    postgres = PreviewPostgres(settings(tmp_path))
    inside = postgres.pr_url("previewd_pr_a_1", "s3cret", sandboxed=True)
    assert inside == "postgresql://previewd_pr_a_1:s3cret@%2Frun%2Fpreviewd-db/previewd_pr_a_1"
    outside = postgres.pr_url("previewd_pr_a_1", "s3cret", sandboxed=False)
    assert str(tmp_path.resolve() / "preview-postgres" / "socket").replace("/", "%2F") in outside


def test_the_operators_url_lends_its_host_and_options_never_its_role(tmp_path: Path) -> None:
    operator = "postgresql://admin:TOP-SECRET@pg.flycast:5433/postgres?sslmode=require"
    postgres = PreviewPostgres(settings(tmp_path, operator))
    url = postgres.pr_url("previewd_pr_a_1", "s3cret", sandboxed=True)
    assert url == "postgresql://previewd_pr_a_1:s3cret@pg.flycast:5433/previewd_pr_a_1?sslmode=require"
    assert "admin" not in url and "TOP-SECRET" not in url


def test_a_sandbox_is_shown_the_socket_directory_only_with_the_prs_url(tmp_path: Path) -> None:
    postgres = PreviewPostgres(settings(tmp_path))
    url = postgres.pr_url("previewd_pr_a_1", "pw", sandboxed=True)
    [bind] = postgres.sandbox_binds({"DATABASE_URL": url})
    assert (bind.host, bind.inside) == (postgres.cluster.socket_dir, SOCKET_INSIDE)
    # No database, or the project's own DATABASE_URL (a secret of its own): nothing bound.
    assert postgres.sandbox_binds({}) == ()
    assert postgres.sandbox_binds({"DATABASE_URL": "postgresql://u:p@db.example.com/app"}) == ()
    remote = PreviewPostgres(settings(tmp_path, "postgresql://a:b@pg.internal/postgres"))
    assert remote.sandbox_binds({"DATABASE_URL": url}) == ()


def test_a_seed_link_out_of_the_checkout_is_refused_unread(tmp_path: Path) -> None:
    checkout = tmp_path / "src"
    checkout.mkdir()
    (tmp_path / "secret-keys").write_text("the host's key")
    (checkout / "seed.sql").symlink_to(tmp_path / "secret-keys")
    with pytest.raises(SeedFailed, match="not a file of the repository"):
        _read_seed(checkout, "seed.sql")
    (checkout / "real.sql").write_text("SELECT 1;")
    assert _read_seed(checkout, "real.sql") == "SELECT 1;"


def test_previewd_toml_asks_for_a_database_and_a_seed_never_a_template() -> None:
    text = '[database]\nengine = "postgres"\nseed = "db/seed.sql"\n'
    files = RepoFiles(
        config=parse(text), config_path="previewd.toml", config_lines=key_lines(text),
        procfile=parse_procfile(""), read_at="a" * 40,
    )  # fmt: skip
    config = resolve({}, files, ceilings=Ceilings()).config
    assert (config.database_engine, config.database_seed) == ("postgres", "db/seed.sql")
    with pytest.raises(RepoConfigError) as caught:
        parse('[database]\nengine = "postgres"\ntemplate = "prod_copy"\nmax_mb = 99999\n')
    assert caught.value.problems == [
        "previewd.toml:3: database.template: set in the dashboard (the database template), "
        "not in previewd.toml",
        "previewd.toml:4: database.max_mb: set in the dashboard (limits), not in previewd.toml",
    ]


def test_bad_database_settings_are_refused_naming_the_field() -> None:
    for field, value in (
        ("database_engine", "mysql"),
        ("database_seed", "../../etc/passwd.sql"),
        ("database_template", "Robert'); DROP"),
        # Another PR's database, written by its code: never copied into the others.
        ("database_template", "previewd_pr_0123456789abcdef0123456789abcdef_7"),
        ("database_max_mb", 0),
    ):
        with pytest.raises(ValidationError) as caught:
            DeploymentConfig.model_validate({field: value})
        assert caught.value.errors()[0]["loc"] == (field,)
    over = DeploymentConfig(database_max_mb=5000).over_ceilings(Ceilings(database_mb=1024))
    assert over == {"database_max_mb": "at most 1024 MB on this previewd (PREVIEWD_PREVIEW_DATABASE_MAX_MB)"}


async def test_a_periodic_look_never_starts_the_embedded_cluster(tmp_path: Path) -> None:
    # The schedule runs on every previewd; one that never made a preview database starts nothing.
    assert await PreviewPostgres(settings(tmp_path)).admin_url_if_there() is None
    assert not (tmp_path / "preview-postgres").exists()
    operator = "postgresql://a:b@pg.internal/postgres"
    assert await PreviewPostgres(settings(tmp_path, operator)).admin_url_if_there() == operator
