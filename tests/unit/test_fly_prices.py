"""The Fly cost estimate's price math against the per-second figures Fly published for whole sizes."""

from __future__ import annotations

import pytest

from models.fly_config import FlyGuest
from models.fly_prices import guest_of, machine_label, price_per_second


@pytest.mark.parametrize(
    ("kind", "cpus", "memory_mb", "published"),
    [
        ("shared", 1, 256, 0.0000008),
        ("shared", 1, 1024, 0.0000022),
        ("shared", 1, 2048, 0.0000041),
        ("performance", 1, 2048, 0.0000120),
        ("performance", 1, 4096, 0.0000158),
        ("performance", 2, 4096, 0.0000239),
    ],
)
def test_prices_match_the_published_sizes(kind: str, cpus: int, memory_mb: int, published: float) -> None:
    guest = FlyGuest.model_validate({"cpu_kind": kind, "cpus": cpus, "memory_mb": memory_mb})
    # Fly rounds its table to 2 significant digits.
    assert price_per_second(guest) == pytest.approx(published, rel=0.03)


def test_a_day_of_the_default_machine_costs_cents() -> None:
    assert price_per_second(FlyGuest()) * 86400 == pytest.approx(0.069, abs=0.001)


def test_the_recorded_machine_size_is_read_from_the_effective_config() -> None:
    record = {"config": {"fly_config": {"guest": {"cpu_kind": "performance", "cpus": 2, "memory_mb": 4096}}}}
    guest = guest_of(record)
    assert (guest.cpu_kind, guest.cpus, guest.memory_mb) == ("performance", 2, 4096)
    assert machine_label(guest) == "performance-2x 4096 MB"


@pytest.mark.parametrize(
    "record", [None, {}, {"config": {}}, {"config": {"fly_config": {"guest": {"cpus": 99}}}}]
)
def test_a_missing_or_bad_record_prices_the_default_size(record: dict[str, object] | None) -> None:
    assert machine_label(guest_of(record)) == "shared-cpu-1x 256 MB"
