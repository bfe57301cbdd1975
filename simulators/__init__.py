"""Simulators: plausible residents on bedside devices, published over MQTT like real firmware.

`build_scenario(ScenarioConfig(...))` is the batch path (no MQTT): every message, label and fault
of a seeded scenario. `ScenarioPublisher` publishes the same messages live. The simulated cuff
re-measures on alarm: a reading `cuff_alarm` flags gets one repeat `CUFF_REPEAT_DELAY_S` later.
`MattressResident` and `WardPublisher` are the minimal mattress-only simulator the end-to-end
slice test uses.
"""

from simulators._episodes import HARD_NEGATIVES, EpisodeSpec, EpisodeType, Label
from simulators._export import (
    LABELS_HEADER,
    READINGS_HEADER,
    readings_rows,
    write_faults_csv,
    write_labels_csv,
    write_readings_csv,
)
from simulators._faults import FaultEvent, FaultRates, FaultType
from simulators._live import PublishStats, ScenarioPublisher
from simulators._physiology import ResidentProfile, RiskTier
from simulators._publisher import WardPublisher
from simulators._resident import Episode, EpisodeKind, MattressResident
from simulators._scenario import (
    ALL_DEVICE_MODELS,
    CUFF_REPEAT_DELAY_S,
    DeviceMessage,
    Scenario,
    ScenarioConfig,
    ScenarioRun,
    SimulatedResident,
    build_scenario,
    cuff_alarm,
)
from simulators._ward import SimulatedBed, demo_ward

__all__ = [
    "ALL_DEVICE_MODELS",
    "CUFF_REPEAT_DELAY_S",
    "HARD_NEGATIVES",
    "LABELS_HEADER",
    "READINGS_HEADER",
    "DeviceMessage",
    "Episode",
    "EpisodeKind",
    "EpisodeSpec",
    "EpisodeType",
    "FaultEvent",
    "FaultRates",
    "FaultType",
    "Label",
    "MattressResident",
    "PublishStats",
    "ResidentProfile",
    "RiskTier",
    "Scenario",
    "ScenarioConfig",
    "ScenarioPublisher",
    "ScenarioRun",
    "SimulatedBed",
    "SimulatedResident",
    "WardPublisher",
    "build_scenario",
    "cuff_alarm",
    "demo_ward",
    "readings_rows",
    "write_faults_csv",
    "write_labels_csv",
    "write_readings_csv",
]
