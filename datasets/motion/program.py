"""A capture program: several library movements with drawn tempo and amplitude, joined.

``configs/datasets/motion.yaml`` describes one; :func:`program_from_config`
turns it into a single :class:`~wavecap.datasets.motion.motion.Motion`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from wavecap.body import BodyModel, build_body_model
from wavecap.datasets.motion.library import MOVEMENTS, generate, standin_model
from wavecap.datasets.motion.motion import NUM_BETAS, Motion
from wavecap.datasets.motion.sequence import sequence


def random_program(
    movements: Sequence[str],
    seconds: float,
    speed_range: tuple[float, float] = (0.9, 1.1),
    amplitude_range: tuple[float, float] = (0.8, 1.0),
    seed: int = 0,
    fps: float = 30.0,
    blend_seconds: float = 0.5,
    betas: np.ndarray | None = None,
    facing: float = -math.pi / 2,
    start_xy: tuple[float, float] = (0.0, 3.0),
    options: Mapping[str, Mapping[str, Any]] | None = None,
    model: BodyModel | None = None,
) -> Motion:
    """Generate each movement with a tempo and amplitude drawn uniformly from the ranges, then join them.

    Args:
        movements: library names, performed in this order.
        seconds: duration of each movement before the cross-fades overlap them.
        speed_range, amplitude_range: (low, high) for the uniform draws.
        seed: seeds the draws and each movement's natural variation.
        fps, betas, facing, start_xy, model: as for
            :func:`~wavecap.datasets.motion.library.generate` (facing and
            start apply to the first movement; the others continue from it).
        blend_seconds: cross-fade overlap, see
            :func:`~wavecap.datasets.motion.sequence.sequence`.
        options: per-movement options, e.g. ``{"walk_path": {"curvature": 0.5}}``.

    Returns:
        The joined motion; its ``segment`` labels name the movement per frame.
    """
    unknown = [name for name in movements if name not in MOVEMENTS]
    if unknown:
        raise KeyError(f"unknown movement(s) {unknown} (known: {', '.join(MOVEMENTS)})")
    rng = np.random.default_rng(seed)
    options = options or {}
    motions = [
        generate(name, seconds, fps=fps, speed=float(rng.uniform(*speed_range)),
                 amplitude=float(rng.uniform(*amplitude_range)), betas=betas, seed=int(rng.integers(2**31)),
                 facing=facing, start_xy=start_xy, model=model, **_movement_options(name, options, blend_seconds))
        for name in movements
    ]
    return sequence(motions, blend_seconds=blend_seconds, model=model)


def _movement_options(name: str, options: Mapping[str, Mapping[str, Any]], blend_seconds: float) -> dict[str, Any]:
    """A movement's options; walk_path closes its loops where the next cross-fade begins, unless told otherwise."""
    chosen = dict(options.get(name, {}))
    if name == "walk_path":
        chosen.setdefault("settle_seconds", blend_seconds)
    return chosen


def program_from_config(cfg: Any) -> Motion:
    """Build the program a ``configs/datasets/motion.yaml``-style config describes.

    Args:
        cfg: mapping (or DictConfig) with keys ``movements``, ``seconds``,
            ``speed_range``, ``amplitude_range``, ``seed``, ``fps``,
            ``blend_seconds``, ``betas`` (null = zeros), ``facing``,
            ``start_xy``, ``options`` and ``body_model`` ("stand-in" or a
            path to SMPL files).
    """
    source = str(cfg["body_model"])
    model = standin_model() if source == "stand-in" else build_body_model(source).double()
    betas = None if cfg["betas"] is None else np.asarray(list(cfg["betas"]), dtype=np.float64)
    if betas is not None and betas.shape != (NUM_BETAS,):
        raise ValueError(f"betas must have {NUM_BETAS} values, got {betas.shape}")
    options = {name: dict(values) for name, values in dict(cfg["options"] or {}).items()}
    return random_program(
        movements=list(cfg["movements"]),
        seconds=float(cfg["seconds"]),
        speed_range=tuple(float(v) for v in cfg["speed_range"]),
        amplitude_range=tuple(float(v) for v in cfg["amplitude_range"]),
        seed=int(cfg["seed"]),
        fps=float(cfg["fps"]),
        blend_seconds=float(cfg["blend_seconds"]),
        betas=betas,
        facing=float(cfg["facing"]),
        start_xy=tuple(float(v) for v in cfg["start_xy"]),
        options=options,
        model=model,
    )
