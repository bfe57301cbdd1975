"""A simulated resident on a smart mattress: pure, seeded, driven by device time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from devices import Metric

EpisodeKind = Literal["tachycardia", "bradycardia"]

# Target rates well inside the NEWS2 score-3 bands (>= 131, <= 40 /min) so an injected episode is
# unambiguous; ramps take `_RAMP_S` seconds as a real rate change does.
_EPISODE_TARGET_BPM: dict[str, float] = {"tachycardia": 142.0, "bradycardia": 36.0}
_RAMP_S = 15.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Episode:
    kind: EpisodeKind
    onset_s: float  # seconds after the simulation start
    duration_s: float

    def weight(self, t: float) -> float:
        """0 before and after, 1 at full effect, linear ramps in between."""
        if t < self.onset_s or t > self.onset_s + self.duration_s:
            return 0.0
        return min(
            1.0, (t - self.onset_s) / _RAMP_S, (self.onset_s + self.duration_s - t) / _RAMP_S
        )


class MattressResident:
    """Heart rate and respiration around a personal baseline with autocorrelated noise (AR(1)).

    Baselines follow resting ranges for older adults: heart rate 60-80 /min, respiration 12-20 /min
    (NEWS2 0-score bands: pulse 51-90, respiration 12-20).
    """

    def __init__(self, *, seed: int, episodes: tuple[Episode, ...] = ()) -> None:
        self._rng = np.random.default_rng(seed)
        self.baseline_hr = float(np.clip(self._rng.normal(68.0, 6.0), 58.0, 82.0))
        self.baseline_rr = float(np.clip(self._rng.normal(15.0, 1.5), 12.0, 19.0))
        self.episodes = episodes
        self._hr_noise = 0.0
        self._rr_noise = 0.0

    def sample(self, t: float) -> dict[Metric, float]:
        """Values at `t` seconds after the start; call with increasing t (state is AR noise)."""
        self._hr_noise = 0.95 * self._hr_noise + self._rng.normal(0.0, 0.6)
        self._rr_noise = 0.95 * self._rr_noise + self._rng.normal(0.0, 0.2)
        hr = self.baseline_hr + self._hr_noise
        for episode in self.episodes:
            w = episode.weight(t)
            if w:
                target = _EPISODE_TARGET_BPM[episode.kind] + self._hr_noise
                hr = (1 - w) * hr + w * target
        return {
            Metric.HEART_RATE: round(float(np.clip(hr, 25.0, 220.0)), 1),
            Metric.RESPIRATION_RATE: round(
                float(np.clip(self.baseline_rr + self._rr_noise, 6, 40)), 1
            ),
            Metric.BED_PRESENCE: 1.0,
            Metric.MOVEMENT: round(float(abs(self._rng.normal(0.05, 0.03))), 3),
            Metric.SIGNAL_QUALITY: round(float(np.clip(self._rng.normal(0.9, 0.04), 0.6, 1.0)), 2),
        }
