"""Stance runs and the values carried across the gaps between them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from wavecap.datasets.motion.curves import smoothstep


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True in ``mask`` [T] as inclusive (first, last) frame pairs."""
    padded = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]


def lerp(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """[N, D] linear blend from ``a`` [D] to ``b`` [D] at weights ``w`` [N]."""
    return a + (b - a) * w[:, None]


def bridge(values: np.ndarray, mask: np.ndarray,
           blend: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] = lerp) -> np.ndarray:
    """Fill the frames outside ``mask`` from the neighbouring runs.

    Args:
        values: [T, D] per-frame values; only frames inside ``mask`` are read.
        mask: [T] bool, e.g. a foot's stance.
        blend: ``blend(a, b, w) -> [N, D]`` from value ``a`` to ``b``.

    Returns:
        [T, D]: between two runs the value goes from the last frame of one
        to the first of the next at smoothstep weights; before the first and
        after the last run it is held. Without any run, ``values`` unchanged.
    """
    found = runs(mask)
    if not found:
        return values
    out = values.copy()
    out[: found[0][0]] = values[found[0][0]]
    out[found[-1][1] + 1:] = values[found[-1][1]]
    for (_, last), (first, _) in zip(found[:-1], found[1:]):
        gap = np.arange(last + 1, first)
        if gap.size:
            out[gap] = blend(values[last], values[first], smoothstep((gap - last) / (first - last)))
    return out
