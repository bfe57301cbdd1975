"""Simulators: plausible residents on bedside devices, published over MQTT like real firmware."""

from simulators._publisher import WardPublisher
from simulators._resident import Episode, EpisodeKind, MattressResident
from simulators._ward import SimulatedBed, demo_ward

__all__ = [
    "Episode",
    "EpisodeKind",
    "MattressResident",
    "SimulatedBed",
    "WardPublisher",
    "demo_ward",
]
