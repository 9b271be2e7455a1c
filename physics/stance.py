"""Stance-consistent root targets: the root moves so that planted feet stay planted.

Estimated motion drifts: the root slides slowly while a foot is planted, and
the whole body sits above or below the floor. A simulated body whose feet are
pinned cannot follow such a root without fighting its own legs (the bounded
root wrench against the pins and the floor), so before tracking, the root
targets are made consistent with the contacts:

* horizontally, every frame-to-frame slip of the feet that are in contact in
  both frames is taken off the root, accumulated over time (a planted foot
  cannot move, so its motion is the root's error);
* vertically, the root is shifted so that the contact points are on the
  floor, interpolated across frames without contact and smoothed.

This is the kinematic side of PhysCap's foot stabilisation and floor
placement; the simulation then holds the feet where they land. Positions in
metres, world frame (z up).
"""

from __future__ import annotations

import numpy as np

from wavecap.physics.contacts import smooth_points


def stance_root_offsets(
    points: np.ndarray,
    contacts: np.ndarray,
    floor_z: float,
    smooth_sigma: float,
) -> np.ndarray:
    """Offsets to add to the root translation so contact points neither slide nor leave the floor.

    Args:
        points: [T, P, 3] foot contact points of the input motion (m, world).
        contacts: [T, P] bool contact flags.
        floor_z: floor height (m).
        smooth_sigma: Gaussian smoothing of the points and of the vertical
            offset (frames).

    Returns:
        [T, 3] root offsets (m).
    """
    points = smooth_points(points, smooth_sigma)
    contacts = np.asarray(contacts, dtype=bool)
    frames = len(points)
    offsets = np.zeros((frames, 3))

    held = contacts[:-1] & contacts[1:]  # [T-1, P] planted across the step
    step = np.diff(points[..., :2], axis=0)  # [T-1, P, 2]
    count = held.sum(axis=1)
    slip = np.where(count[:, None] > 0, (step * held[..., None]).sum(axis=1) / np.maximum(count, 1)[:, None], 0.0)
    offsets[1:, :2] = -np.cumsum(slip, axis=0)

    touching = contacts.any(axis=1)  # [T]
    if touching.any():
        height = np.where(contacts, points[..., 2] - floor_z, 0.0).sum(axis=1) / np.maximum(contacts.sum(axis=1), 1)
        frames_in = np.flatnonzero(touching)
        lift = np.interp(np.arange(frames), frames_in, -height[frames_in])  # held flat beyond the ends
        offsets[:, 2] = smooth_points(lift, smooth_sigma)
    return offsets
