"""Foot contacts and floor height for physics refinement.

Contacts come from the student's contact head when it is given (per-point
probabilities, thresholded), otherwise from the motion itself: a foot point is
in contact while it is near the floor and nearly still (``metrics.md`` 4.5,
"without GT, use height + velocity thresholds"). Estimated poses jitter from
frame to frame, so the point trajectories are smoothed first (a zero-phase
Gaussian); otherwise the per-frame noise alone exceeds any sensible speed
threshold. The floor, when not given, is where the feet rest: the median
height of the lowest still foot point over all frames that have one.

The points are the four sole points of :class:`~wavecap.physics.character.Character`
(under the heels and big toes), so a point touching the floor has height 0.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import binary_closing, binary_opening, gaussian_filter1d

from wavecap.errors import DataError


def smooth_points(points: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Zero-phase Gaussian smoothing along time.

    Args:
        points: [T, ...] trajectories.
        sigma_frames: standard deviation in frames (0 = unchanged).

    Returns:
        Array of the same shape.
    """
    points = np.asarray(points, dtype=np.float64)
    if sigma_frames <= 0 or len(points) < 2:
        return points.copy()
    return gaussian_filter1d(points, sigma_frames, axis=0, mode="nearest")


def point_speeds(points: np.ndarray, fps: float) -> np.ndarray:
    """[T, P] 3-D speed (m/s) of [T, P, 3] trajectories, central differences."""
    if len(points) < 2:
        return np.zeros(points.shape[:2])
    return np.linalg.norm(np.gradient(points, axis=0), axis=-1) * fps


def estimate_floor(points: np.ndarray, fps: float, speed_thresh: float = 0.25, smooth_sigma: float = 2.0) -> float:
    """Floor height from stance phases.

    Args:
        points: [T, P, 3] foot sole points (m, world z up).
        fps: frame rate.
        speed_thresh: a point is "still" below this speed (m/s).
        smooth_sigma: smoothing of the trajectories before the speed test (frames).

    Returns:
        The median height of the lowest still point over the frames that
        have one (m); the lowest point overall when the feet never rest.

    Raises:
        DataError: the points are empty or not finite.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 3 or points.shape[0] == 0 or not np.all(np.isfinite(points)):
        raise DataError("foot points must be a finite, non-empty [T, P, 3] array", field="foot_points")
    smooth = smooth_points(points, smooth_sigma)
    still = point_speeds(smooth, fps) < speed_thresh  # [T, P]
    heights = np.where(still, smooth[..., 2], np.inf).min(axis=1)  # [T]
    stance = np.isfinite(heights)
    if not stance.any():
        return float(smooth[..., 2].min())
    return float(np.median(heights[stance]))


def contacts_from_motion(
    points: np.ndarray,
    fps: float,
    floor_z: float,
    height_thresh: float = 0.03,
    speed_thresh: float = 0.25,
    smooth_sigma: float = 2.0,
    min_frames: int = 3,
) -> np.ndarray:
    """Contacts from foot-point height and speed.

    Args:
        points: [T, P, 3] foot sole points (m, world).
        fps: frame rate.
        floor_z: floor height (m).
        height_thresh: in contact below this height above the floor (m).
        speed_thresh: and below this 3-D speed (m/s).
        smooth_sigma: Gaussian smoothing of the trajectories first (frames).
        min_frames: contact phases and gaps shorter than this are removed.

    Returns:
        [T, P] bool.
    """
    smooth = smooth_points(points, smooth_sigma)
    flags = (smooth[..., 2] - floor_z < height_thresh) & (point_speeds(smooth, fps) < speed_thresh)
    if min_frames > 1 and len(flags) >= min_frames:
        structure = np.ones((min_frames, 1), dtype=bool)
        # Fill short gaps, then drop short blips; edge padding leaves the ends as they are.
        flags = binary_closing(np.pad(flags, ((min_frames, min_frames), (0, 0)), mode="edge"), structure)
        flags = binary_opening(flags, structure)[min_frames:-min_frames]
    return flags


def contacts_from_probabilities(probabilities: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Contacts from the contact head's per-point probabilities.

    Args:
        probabilities: [T, P] in [0, 1] (bool is accepted as-is).
        threshold: in contact at or above this probability.

    Returns:
        [T, P] bool.

    Raises:
        DataError: values are not finite.
    """
    probabilities = np.asarray(probabilities)
    if probabilities.dtype == bool:
        return probabilities.copy()
    probabilities = probabilities.astype(np.float64)
    if not np.all(np.isfinite(probabilities)):
        raise DataError("contact probabilities contain NaN or Inf", field="contacts")
    return probabilities >= threshold
