"""Sensor clocks of the simulated capture: offset, drift and jitter.

Each sensor triggers frames on its own clock at its nominal rate. Times are
expressed on the session clock (seconds, the ground truth's timeline), and a
sensor's k-th frame is captured at

    t_k = offset + k / (rate * (1 + drift_ppm * 1e-6)) + jitter_k,

i.e. a clock that runs fast by ``drift_ppm`` fires slightly more often, and
``jitter_k`` is zero-mean Gaussian trigger noise. The frames are rendered at
exactly these times and stored with them, so two sensors never share a
timestamp and consumers must align streams by time, as with real hardware.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from wavecap.errors import DataError


@dataclass(frozen=True)
class ClockConfig:
    """One sensor's clock relative to the session clock.

    Attributes:
        offset_s: session time of the sensor's frame 0 (s).
        drift_ppm: rate error of the sensor clock (parts per million; > 0
            runs fast).
        jitter_s: standard deviation of the per-frame trigger noise (s).
    """

    offset_s: float = 0.0
    drift_ppm: float = 0.0
    jitter_s: float = 0.0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.offset_s) and np.isfinite(self.drift_ppm) and self.jitter_s >= 0):
            raise DataError("clock needs a finite offset and drift and jitter >= 0", group="clocks")
        if abs(self.drift_ppm) >= 1e5:
            raise DataError(f"drift of {self.drift_ppm} ppm is not a clock error", group="clocks", field="drift_ppm")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ClockConfig:
        """Build from a plain or hydra mapping; absent keys keep defaults."""
        if OmegaConf.is_config(values):
            values = OmegaConf.to_container(values, resolve=True)  # type: ignore[assignment]
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise DataError(f"unknown clock keys {sorted(unknown)}", group="clocks", field=sorted(unknown)[0])
        return cls(**values)


def sensor_timestamps(rate_hz: float, duration_s: float, clock: ClockConfig, rng: np.random.Generator) -> np.ndarray:
    """Session times of a sensor's frames within ``[0, duration_s]``.

    Jitter is clipped to +-40 % of the frame period so the frame order (and
    strictly increasing timestamps) is kept.

    Args:
        rate_hz: nominal frame rate of the sensor (Hz).
        duration_s: length of the capture on the session clock (s).
        clock: the sensor's clock model.
        rng: generator of the jitter.

    Returns:
        [T] float64 strictly increasing times in seconds.
    """
    if not (rate_hz > 0 and duration_s >= 0):
        raise DataError(f"need rate > 0 and duration >= 0, got {rate_hz}, {duration_s}", group="clocks")
    period = 1.0 / (rate_hz * (1.0 + clock.drift_ppm * 1e-6))
    first = int(np.ceil(-clock.offset_s / period - 0.5))  # frames before t = 0 are never kept
    count = int(np.floor((duration_s - clock.offset_s) / period + 0.5)) - first + 1
    k = first + np.arange(max(count, 0))
    jitter = np.clip(rng.normal(0.0, clock.jitter_s, size=k.size), -0.4 * period, 0.4 * period)
    t = clock.offset_s + k * period + jitter
    return t[(t >= 0.0) & (t <= duration_s)]
