"""Per-joint PD gains from per-group settings.

The 23 actuated SMPL joints are grouped by what they carry (trunk, legs,
arms, ...); the config gives each group a stiffness, damping and torque limit
(``configs/physics/refine.yaml``, ``gains``), and this module expands them to
one value per joint in PyBullet link order (link ``j - 1`` = SMPL joint ``j``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from wavecap.body.skeleton import SMPL_JOINT_NAMES

JOINT_GROUPS: dict[str, tuple[str, ...]] = {
    "spine": ("spine1", "spine2", "spine3"),
    "neck": ("neck", "head"),
    "hip": ("left_hip", "right_hip"),
    "knee": ("left_knee", "right_knee"),
    "ankle": ("left_ankle", "right_ankle"),
    "toe": ("left_foot", "right_foot"),
    "collar": ("left_collar", "right_collar"),
    "shoulder": ("left_shoulder", "right_shoulder"),
    "elbow": ("left_elbow", "right_elbow"),
    "wrist": ("left_wrist", "right_wrist", "left_hand", "right_hand"),
}


def joint_gains(groups: Mapping[str, Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expand group gains to the 23 actuated joints.

    Args:
        groups: for every name in :data:`JOINT_GROUPS`, a mapping with
            ``kp`` (N m/rad), ``kd`` (N m s/rad) and ``max_torque`` (N m).

    Returns:
        kp [23], kd [23], max_torque [23], SMPL joints 1..23 in order.

    Raises:
        KeyError: a group is missing, unknown, or lacks one of the three values.
    """
    unknown = set(groups) - set(JOINT_GROUPS)
    missing = set(JOINT_GROUPS) - set(groups)
    if unknown or missing:
        raise KeyError(f"gain groups: unknown {sorted(unknown)}, missing {sorted(missing)}")
    values = np.zeros((3, len(SMPL_JOINT_NAMES) - 1))  # kp, kd, max_torque per joint
    for group, names in JOINT_GROUPS.items():
        row = [float(groups[group][key]) for key in ("kp", "kd", "max_torque")]
        for name in names:
            values[:, SMPL_JOINT_NAMES.index(name) - 1] = row
    return values[0], values[1], values[2]
