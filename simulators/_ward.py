"""A simulated ward: which resident lies on which device, for a demo or a test."""

from __future__ import annotations

from dataclasses import dataclass

from devices import SMART_MATTRESS
from eldercare.registry import Bedside
from simulators._resident import Episode

# Demo display names, shared by the ward and the scenario builder.
RESIDENT_NAMES = (
    "Wang Fang",
    "Li Wei",
    "Zhang Min",
    "Liu Yang",
    "Chen Jing",
    "Yang Li",
    "Zhao Lei",
    "Huang Mei",
    "Zhou Qiang",
    "Wu Xia",
    "Xu Hui",
    "Sun Hong",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatedBed:
    bedside: Bedside
    seed: int
    episodes: tuple[Episode, ...] = ()


def demo_ward(
    *,
    site_id: str,
    residents: int,
    seed: int,
    episodes: dict[int, tuple[Episode, ...]] | None = None,
) -> list[SimulatedBed]:
    """`residents` beds at `site_id`; `episodes` maps a bed index to that resident's episodes."""
    episodes = episodes or {}
    return [
        SimulatedBed(
            bedside=Bedside(
                site_id=site_id,
                resident_id=f"{site_id}-r{i + 1:03d}",
                display_name=RESIDENT_NAMES[i % len(RESIDENT_NAMES)],
                bed_id=f"{site_id}-bed{i + 1:03d}",
                device_id=f"{site_id}-mat{i + 1:03d}",
                device_model=SMART_MATTRESS.key,
            ),
            seed=seed * 1000 + i,
            episodes=episodes.get(i, ()),
        )
        for i in range(residents)
    ]
