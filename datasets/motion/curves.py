"""Scalar time/phase functions that procedural movements are written with.

Phases are in cycles (1.0 = one full period); angles come out in whatever
unit the key values are given in (the movements use degrees, then convert).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.interpolate import CubicSpline, PchipInterpolator


def periodic_curve(keys: Sequence[tuple[float, float]]) -> CubicSpline:
    """Smooth periodic function of phase through (phase, value) key points.

    Args:
        keys: (phase, value) pairs with phases strictly increasing in [0, 1).
            The curve repeats with period 1 and is C2 everywhere.

    Returns:
        Callable f(phase [...]) -> [...]; evaluate with ``phase % 1``.
    """
    phases = np.array([p for p, _ in keys] + [keys[0][0] + 1.0])
    values = np.array([v for _, v in keys] + [keys[0][1]])
    return CubicSpline(phases, values, bc_type="periodic")


def periodic_monotone_curve(keys: Sequence[tuple[float, float]]):
    """Like :func:`periodic_curve` but shape-preserving (PCHIP): no overshoot between keys.

    Flat stretches between equal keys stay exactly flat; the curve is C1.
    Evaluate with ``phase % 1``.
    """
    phases = np.array([p for p, _ in keys])
    values = np.array([v for _, v in keys])
    # Three periods side by side make the interpolant periodic on [0, 1).
    return PchipInterpolator(np.concatenate([phases - 1.0, phases, phases + 1.0]), np.tile(values, 3))


def smoothstep(u: np.ndarray | float) -> np.ndarray:
    """C1 ramp from 0 (u <= 0) to 1 (u >= 1): 3u^2 - 2u^3."""
    u = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def smootherstep(u: np.ndarray | float) -> np.ndarray:
    """C2 ramp from 0 (u <= 0) to 1 (u >= 1): 6u^5 - 15u^4 + 10u^3."""
    u = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)
    return u * u * u * (u * (6.0 * u - 15.0) + 10.0)


def window(phase: np.ndarray, start: float, stop: float) -> np.ndarray:
    """Progress through the phase window [start, stop]: 0 before, 1 after, linear inside."""
    return np.clip((np.asarray(phase) - start) / (stop - start), 0.0, 1.0)


def bump(u: np.ndarray) -> np.ndarray:
    """sin^2(pi u) on [0, 1], 0 outside: a C1 bump that starts and ends flat."""
    u = np.asarray(u, dtype=np.float64)
    return np.where((u > 0) & (u < 1), np.sin(np.pi * np.clip(u, 0.0, 1.0)) ** 2, 0.0)


def cosine_cycle(phase: np.ndarray) -> np.ndarray:
    """(1 - cos 2 pi phase) / 2: 0 at whole phases, 1 at half phases."""
    return 0.5 * (1.0 - np.cos(2.0 * np.pi * np.asarray(phase)))


def smooth_noise(rng: np.random.Generator, t: np.ndarray, max_hz: float = 0.5, terms: int = 4) -> np.ndarray:
    """Deterministic smooth noise of unit-order amplitude (sum of sinusoids).

    Args:
        rng: random generator (consumed: frequencies and phases).
        t: [T] times in seconds.
        max_hz: highest frequency; frequencies are drawn in [max_hz / 5, max_hz].
        terms: number of sinusoids.

    Returns:
        [T] values in [-1, 1] (weights sum to 1).
    """
    freqs = rng.uniform(max_hz / 5.0, max_hz, terms)
    phases = rng.uniform(0.0, 2.0 * np.pi, terms)
    weights = rng.uniform(0.5, 1.0, terms)
    weights /= weights.sum()
    return np.sin(2.0 * np.pi * freqs * np.asarray(t)[:, None] + phases) @ weights


def key_track(u: np.ndarray, keys: Sequence[tuple[float, float]]) -> np.ndarray:
    """Ease in and out between key values: piecewise smoothstep through (u, value) keys.

    Args:
        u: [...] position, e.g. the phase within one repetition.
        keys: (u, value) pairs with u strictly increasing; before the first
            and after the last key the end values hold.

    Returns:
        [...] values; the track comes to rest (zero slope) at every key, like
        a person pausing briefly at each key pose.
    """
    u = np.asarray(u, dtype=np.float64)
    us = np.array([k for k, _ in keys])
    values = np.array([v for _, v in keys])
    segment = np.clip(np.searchsorted(us, u, side="right") - 1, 0, len(us) - 2)
    w = smoothstep((u - us[segment]) / (us[segment + 1] - us[segment]))
    return values[segment] + w * (values[segment + 1] - values[segment])
