"""Stance-consistent root targets: the root moves so that planted feet stay planted.

Estimated motion drifts: the root slides slowly while a foot is planted, and
the whole body sits above or below the floor. A simulated body whose feet are
pinned cannot follow such a root without fighting its own legs (the bounded
root wrench against the pins and the floor), so before tracking, the root
targets are made consistent with the contacts:

* horizontally, every frame-to-frame slip of the feet that are in contact in
  both frames is taken off the root, accumulated over time (a planted foot
  cannot move, so its motion is the root's error); a "slip" faster than a
  contact can be is a step under a wrong flag and is left alone;
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
    max_step: float,
) -> np.ndarray:
    """Offsets to add to the root translation so contact points neither slide nor leave the floor.

    Args:
        points: [T, P, 3] foot contact points of the input motion (m, world).
        contacts: [T, P] bool contact flags.
        floor_z: floor height (m).
        smooth_sigma: Gaussian smoothing of the points and of the vertical
            offset (frames).
        max_step: a point flagged in contact that moves further than this in
            one frame (m) is taken to be stepping, not slipping, and ignored:
            one wrong contact flag must not drag the whole body along.

    Returns:
        [T, 3] root offsets (m).
    """
    points = smooth_points(points, smooth_sigma)
    contacts = np.asarray(contacts, dtype=bool)
    frames = len(points)
    offsets = np.zeros((frames, 3))

    step = np.diff(points[..., :2], axis=0)  # [T-1, P, 2]
    held = contacts[:-1] & contacts[1:] & (np.linalg.norm(step, axis=-1) < max_step)  # [T-1, P] planted
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


def contact_anchors(points: np.ndarray, contacts: np.ndarray) -> np.ndarray:
    """Where each contact point is held during each of its contact phases.

    Args:
        points: [T, P, 3] contact points of the (stance-corrected) targets (m, world).
        contacts: [T, P] bool.

    Returns:
        [T, P, 3] per frame the mean target position of the point over its
        current contact phase (NaN outside contact). Averaging over the
        phase removes the per-frame noise the targets still carry.
    """
    contacts = np.asarray(contacts, dtype=bool)
    anchors = np.full(points.shape, np.nan)
    for k in range(contacts.shape[1]):
        edges = np.flatnonzero(np.diff(np.concatenate([[0], contacts[:, k].astype(np.int8), [0]])))
        for start, stop in zip(edges[::2], edges[1::2]):
            anchors[start:stop, k] = points[start:stop, k].mean(axis=0)
    return anchors
