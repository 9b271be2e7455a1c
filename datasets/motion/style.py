"""Seeded natural variation shared by all procedural movements.

One seed gives one "performance": a phase offset, a slightly irregular tempo,
a personal arm carriage and swing, and small head and trunk movements. All of
it is drawn from ``numpy.random.default_rng(seed)`` in a fixed order, so a
seed reproduces a motion bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wavecap.datasets.motion.curves import smooth_noise


@dataclass(frozen=True)
class Style:
    """Per-seed variation of one performance (angles in radians).

    Attributes:
        phase0: start phase of cyclic movements, cycles in [0, 1).
        tempo_jitter: relative tempo variation (a few percent), drives the
            smooth time warp of :meth:`phase`.
        amplitude: multiplier (~1 +- 5 %) on the movement's amplitude.
        arm_swing: multiplier (~1 +- 20 %) on arm swing.
        arm_down: how far the arms hang below horizontal (~75 deg).
        elbow: resting elbow flexion (~12 deg).
        lean: constant forward trunk lean (0..3 deg).
        seed: the seed, for the time-dependent noise below.
    """

    phase0: float
    tempo_jitter: float
    amplitude: float
    arm_swing: float
    arm_down: float
    elbow: float
    lean: float
    seed: int

    @classmethod
    def sample(cls, seed: int) -> Style:
        """Draw the variation of ``seed``."""
        rng = np.random.default_rng(seed)
        return cls(
            phase0=float(rng.uniform(0.0, 1.0)),
            tempo_jitter=float(rng.uniform(0.01, 0.04)),
            amplitude=float(np.clip(1.0 + 0.05 * rng.standard_normal(), 0.9, 1.1)),
            arm_swing=float(rng.uniform(0.8, 1.2)),
            arm_down=float(np.deg2rad(rng.uniform(72.0, 80.0))),
            elbow=float(np.deg2rad(rng.uniform(8.0, 16.0))),
            lean=float(np.deg2rad(rng.uniform(0.0, 3.0))),
            seed=int(seed),
        )

    def _noise(self, stream: int, t: np.ndarray, max_hz: float) -> np.ndarray:
        """[T] smooth noise in [-1, 1]; ``stream`` picks an independent channel."""
        return smooth_noise(np.random.default_rng([self.seed, stream]), t, max_hz)

    def phase(self, t: np.ndarray, rate: float, offset: float | None = None) -> np.ndarray:
        """Cycle phase with a smooth tempo jitter.

        Args:
            t: [T] seconds.
            rate: mean cycles per second.
            offset: start phase; ``phase0`` when None.

        Returns:
            [T] phase in cycles (not wrapped), increasing.
        """
        warp = 1.0 + self.tempo_jitter * self._noise(1, t, 0.3)  # [T], always > 0
        dt = np.diff(t, prepend=t[0])
        start = self.phase0 if offset is None else offset
        return start + rate * np.cumsum(warp * dt)

    def head(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[T] head yaw and [T] head pitch wander, radians (a few degrees)."""
        return np.deg2rad(4.0) * self._noise(2, t, 0.4), np.deg2rad(2.5) * self._noise(3, t, 0.5)

    def trunk(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[T] trunk sideways bend and [T] forward flexion wander, radians."""
        return np.deg2rad(1.0) * self._noise(4, t, 0.3), np.deg2rad(1.0) * self._noise(5, t, 0.25)

    def arms(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[T] left and [T] right arm wander (forward swing), radians."""
        return np.deg2rad(3.0) * self._noise(6, t, 0.3), np.deg2rad(3.0) * self._noise(7, t, 0.3)
