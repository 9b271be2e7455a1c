"""Foot contacts from foot-point trajectories (no ground truth needed).

The thresholds follow ``metrics.md`` section 4.5 ("without GT, use height +
velocity thresholds"): a point is in contact while it is both near the floor
and nearly still.

* Height: 3 cm above the floor plane. The heel/toe vertices sit above the
  sole (about 1.5-2.7 cm on the stand-in body, similar on SMPL), so the
  1 cm PhysCap threshold, which is meant for the lowest point, would miss
  flat-footed stance; 3 cm still rejects a foot lifted in swing.
* Speed: 0.2 m/s, i.e. 6.7 mm/frame at 30 fps, stricter than the 1 cm/frame
  (0.3 m/s at 30 fps) that WHAM/GVHMR use to mark ground-truth contact for
  their foot-sliding metric (``metrics.md`` 4.1). It is a speed, so the same
  threshold holds at any frame rate.
"""

from __future__ import annotations

import numpy as np

CONTACT_HEIGHT_M = 0.03
CONTACT_SPEED_M_S = 0.2


def foot_contacts(
    foot_points: np.ndarray,
    fps: float,
    height_thresh: float = CONTACT_HEIGHT_M,
    speed_thresh: float = CONTACT_SPEED_M_S,
    floor_z: float = 0.0,
) -> np.ndarray:
    """Which foot points touch the floor in each frame.

    Args:
        foot_points: [T, P, 3] point positions in metres, world frame z-up
            (P = 4 for (left_heel, left_toe, right_heel, right_toe)).
        fps: frames per second of the trajectory.
        height_thresh: a point is low enough when z - floor_z < this (m).
        speed_thresh: and slow enough when its 3D speed < this (m/s); speed
            by central differences (one-sided at the ends, 0 for T = 1).
        floor_z: height of the floor plane (m).

    Returns:
        [T, P] bool contacts.
    """
    points = np.asarray(foot_points, dtype=np.float64)
    if points.ndim != 3 or points.shape[-1] != 3:
        raise ValueError(f"foot_points must be [T, P, 3], got {points.shape}")
    if points.shape[0] > 1:
        speed = np.linalg.norm(np.gradient(points, axis=0), axis=-1) * fps  # [T, P] m/s
    else:
        speed = np.zeros(points.shape[:2])
    return (points[..., 2] - floor_z < height_thresh) & (speed < speed_thresh)
