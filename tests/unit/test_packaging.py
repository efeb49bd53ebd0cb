"""The distribution ships every package and data file of the application. An editable install reads
the source tree and checks none of it; a wheel (or the Docker image) holds only what pyproject.toml
declares, so this builds one."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOT_SHIPPED = {"tests", "bench", "examples", "build"}
DATA_DIRS = ("web/templates", "web/static", "migrations")
SETUPTOOLS_COMPLAINT = "is absent from the `packages` configuration"


def _shipped_tops() -> list[Path]:
    return [p for p in ROOT.iterdir() if p.is_dir() and p.name not in NOT_SHIPPED and p.name[0] != "."]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[set[str], str]:
    """The names in a wheel built from a copy of the tree (setuptools writes build/ and *.egg-info
    beside its input), and what the build printed."""
    source = tmp_path_factory.mktemp("source")
    ignore = shutil.ignore_patterns(".*", "__pycache__", "*.egg-info", *NOT_SHIPPED)
    shutil.copytree(ROOT, source, ignore=ignore, dirs_exist_ok=True)
    out = tmp_path_factory.mktemp("wheel")
    build = "import sys; from setuptools import build_meta; build_meta.build_wheel(sys.argv[1])"
    done = subprocess.run(
        [sys.executable, "-c", build, str(out)], cwd=source, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    [built] = out.glob("*.whl")
    with zipfile.ZipFile(built) as archive:
        return set(archive.namelist()), done.stdout + done.stderr


def test_the_build_does_not_warn_about_undeclared_packages(wheel: tuple[set[str], str]) -> None:
    _, output = wheel
    assert SETUPTOOLS_COMPLAINT not in output


def test_every_package_is_in_the_wheel(wheel: tuple[set[str], str]) -> None:
    names, _ = wheel
    packages = {str(init.relative_to(ROOT)) for top in _shipped_tops() for init in top.rglob("__init__.py")}
    assert {"activities/fly/__init__.py", "web/dashboard/__init__.py"} <= packages
    assert packages - names == set(), "packages missing from the wheel"
    assert {"config.py", "worker.py", "webhook_signature.py"} <= names


def test_templates_static_files_and_migration_files_are_in_the_wheel(wheel: tuple[set[str], str]) -> None:
    names, _ = wheel
    data = {
        str(path.relative_to(ROOT))
        for folder in DATA_DIRS
        for path in (ROOT / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert {"web/templates/base.html", "web/static/vendor/htmx.LICENSE", "migrations/alembic.ini"} <= data
    assert data - names == set(), "data files missing from the wheel"


def test_every_static_file_a_template_asks_for_exists() -> None:
    """A missing one answers 404 on every page that links it (the browser console shows it)."""
    asked = {
        link
        for template in (ROOT / "web" / "templates").glob("*.html")
        for link in re.findall(r"""["'](/static/[^"'?#]+)""", template.read_text())
    }
    assert "/static/favicon.svg" in asked
    missing = {link for link in asked if not (ROOT / "web" / link.lstrip("/")).is_file()}
    assert missing == set()
