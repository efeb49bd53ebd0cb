"""The distribution ships every package of the application (a wheel or the Docker image is built from
pyproject.toml's list, which an editable install does not check)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_SHIPPED = {"tests", "bench", "examples", "build"}


def test_every_package_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    tops = [p for p in ROOT.iterdir() if p.is_dir() and p.name not in NOT_SHIPPED and p.name[0] != "."]
    found = {
        ".".join(init.parent.relative_to(ROOT).parts) for top in tops for init in top.rglob("__init__.py")
    }
    assert {"activities.fly", "web.dashboard"} <= found
    assert found - listed == set(), "packages missing from [tool.setuptools] packages"
