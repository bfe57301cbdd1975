"""Device faults, each with a configurable rate (pure data; the scenario applies them)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum


class FaultType(StrEnum):
    PACKET_LOSS = "packet_loss"
    DUPLICATE = "duplicate"
    REORDER = "reorder"
    SEND_JITTER = "send_jitter"
    CLOCK_SKEW = "clock_skew"
    SILENCE = "silence"
    STUCK_VALUE = "stuck_value"
    PROBE_OFF = "probe_off"
    POOR_SIGNAL = "poor_signal"
    LOW_BATTERY = "low_battery"


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultRates:
    """How often each fault happens. Zero everywhere (the default) is a perfect device."""

    packet_loss: float = 0.0  # probability that a message is lost
    duplicate: float = 0.0  # probability that a message is sent twice
    reorder: float = 0.0  # probability that a message is held back 2-10 s (arrives late)
    send_jitter_s: float = 0.0  # standard deviation of the send delay, seconds
    clock_skew: float = 0.0  # fraction of devices whose clock is off by 5-300 s
    silence_per_day: float = 0.0  # silent windows (5-30 min) per device-day
    stuck_value_per_day: float = 0.0  # one metric frozen for 10-40 min, per device-day
    probe_off_per_day: float = 0.0  # oximeter probe off 1-15 min in bed, per device-day
    low_battery_per_day: float = 0.0  # low-battery spells (battery devices), per device-day
    poor_signal_per_day: float = 0.0  # bed sensor displaced: quality < 0.5 for 10-40 min in bed

    @classmethod
    def realistic(cls) -> FaultRates:
        """Rates in the spirit of published bed-sensor data loss (6-34 %) and firmware reality."""
        return cls(
            packet_loss=0.02,
            duplicate=0.005,
            reorder=0.005,
            send_jitter_s=0.3,
            clock_skew=0.1,
            silence_per_day=1.0,
            stuck_value_per_day=0.3,
            probe_off_per_day=2.0,
            low_battery_per_day=0.2,
            poor_signal_per_day=0.3,
        )

    @classmethod
    def parse(cls, text: str) -> FaultRates:
        """`none`, `realistic`, or `name=rate,name=rate` (field names of this class)."""
        text = text.strip()
        if text in ("", "none"):
            return cls()
        if text == "realistic":
            return cls.realistic()
        known = {f.name for f in fields(cls)}
        values: dict[str, float] = {}
        for part in text.split(","):
            name, sep, rate = part.partition("=")
            name = name.strip()
            if not sep or name not in known:
                raise ValueError(
                    f"fault {part!r}: use none, realistic or NAME=RATE with NAME one of "
                    f"{', '.join(sorted(known))}"
                )
            values[name] = float(rate)
            if values[name] < 0:
                raise ValueError(f"fault {part!r}: rate must be >= 0")
        return cls(**values)


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultEvent:
    """A fault window that happened (for the faults file; per-message faults are not listed).

    `observed_start`/`observed_end` bound the samples the fault actually changed (a silenced
    sample, a frozen value that was sent, a probe-off or poor-quality reading while in bed); both
    are None when it changed nothing a device would have sent (a stuck heart rate while the
    resident was out of bed, a cuff silenced between two scheduled readings)."""

    type: FaultType
    device_id: str
    start: datetime
    end: datetime
    detail: str = ""
    observed_start: datetime | None = None
    observed_end: datetime | None = None
