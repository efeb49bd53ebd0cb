"""Fly Machines' published per-second prices, for Insights' cost estimate (machine size × seconds
running). An estimate: Fly bills by region, adds volumes, IPs and bandwidth, stops idle machines on
its own (auto_stop) and includes allowances in its plans; none of that is counted here.

Source: https://fly.io/docs/about/pricing/ (Machines, "Compute"), per-second figures as Fly published
them (fly.io/blog/new-vms-more-ram-extra-cpu-and-a-dollar-menu: shared-cpu-1x 256 MB $0.0000008/s,
1 dedicated/performance vCPU with 2 GB $0.0000120/s; memory beyond a preset's $5/GB per 30 days, which
gives the 1 GB / 2 GB / 4 GB figures of the same table). Update the date with the figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from models.fly_config import FlyGuest

PRICES_AS_OF = date(2026, 11, 30)
PRICES_SOURCE = "https://fly.io/docs/about/pricing/"
CURRENCY = "USD"


@dataclass(frozen=True)
class CpuPrice:
    per_cpu_second: float
    # Memory each vCPU of the preset comes with; more is charged per GB.
    included_mb_per_cpu: int


CPU_PRICES: dict[Literal["shared", "performance"], CpuPrice] = {
    "shared": CpuPrice(per_cpu_second=0.0000008, included_mb_per_cpu=256),
    "performance": CpuPrice(per_cpu_second=0.0000120, included_mb_per_cpu=2048),
}
# $5 per GB and 30 days, per second.
EXTRA_MEMORY_PER_GB_SECOND = 5.0 / (30 * 86400)


def price_per_second(guest: FlyGuest) -> float:
    cpu = CPU_PRICES[guest.cpu_kind]
    extra_mb = max(0, guest.memory_mb - guest.cpus * cpu.included_mb_per_cpu)
    return guest.cpus * cpu.per_cpu_second + extra_mb / 1024 * EXTRA_MEMORY_PER_GB_SECOND


def guest_of(effective_config: dict[str, Any] | None) -> FlyGuest:
    """The machine size a deployment ran with (its recorded config), or Fly's defaults previewd uses."""
    config = (effective_config or {}).get("config") or {}
    guest = (config.get("fly_config") or {}).get("guest")
    try:
        return FlyGuest.model_validate(guest) if isinstance(guest, dict) else FlyGuest()
    except ValueError:
        return FlyGuest()


def machine_label(guest: FlyGuest) -> str:
    """Fly's own name for the size: shared-cpu-1x 256 MB, performance-2x 4096 MB."""
    kind = "shared-cpu" if guest.cpu_kind == "shared" else "performance"
    return f"{kind}-{guest.cpus}x {guest.memory_mb} MB"
