"""SMPL's kinematic tree and HybrIK's 29-joint extension, as plain tables.

Index order, names and parents follow SMPL; the five leaf joints HybrIK adds
are template vertices (head top, middle fingertips, big toes). Rest joints are
SMPL's neutral model at beta = 0 in the SMPL canonical frame (y up, x toward
the body's left, z forward), metres.
"""

from __future__ import annotations

import numpy as np

SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee",
    "spine2", "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot",
    "neck", "left_collar", "right_collar", "head", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hand", "right_hand",
)
SMPL_PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)
NUM_SMPL_JOINTS = 24

# HybrIK's leaf joints 24..28 and the template vertices that define them.
LEAF_NAMES: tuple[str, ...] = ("head_top", "left_middle", "right_middle", "left_bigtoe", "right_bigtoe")
LEAF_VERTEX_IDS: tuple[int, ...] = (411, 2445, 5905, 3216, 6617)
LEAF_PARENTS: tuple[int, ...] = (15, 22, 23, 10, 11)
HYBRIK_JOINT_NAMES: tuple[str, ...] = SMPL_JOINT_NAMES + LEAF_NAMES
HYBRIK_PARENTS: tuple[int, ...] = SMPL_PARENTS + LEAF_PARENTS
NUM_HYBRIK_JOINTS = 29

# Foot vertices used by foot-contact and foot-skating metrics.
FOOT_VERTEX_IDS: dict[str, int] = {
    "left_heel": 3387, "left_toe": 3216, "right_heel": 6787, "right_toe": 6617,
}

# Left/right pairs over the 29 joints (used for flips and symmetric checks).
FLIP_PAIRS_29: tuple[tuple[int, int], ...] = (
    (1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21),
    (22, 23), (25, 26), (27, 28),
)

# SMPL neutral rest joints (beta = 0), metres, SMPL canonical frame.
SMPL_REST_JOINTS = np.array(
    [
        [-0.0018, -0.2233, 0.0282], [0.0677, -0.3147, 0.0214], [-0.0695, -0.3139, 0.0239],
        [-0.0043, -0.1144, 0.0015], [0.1020, -0.6899, 0.0169], [-0.1078, -0.6964, 0.0150],
        [0.0012, 0.0208, 0.0026], [0.0884, -1.0879, -0.0268], [-0.0920, -1.0948, -0.0273],
        [0.0026, 0.0737, 0.0280], [0.1148, -1.1437, 0.0925], [-0.1174, -1.1430, 0.0961],
        [-0.0002, 0.2876, -0.0148], [0.0815, 0.1955, -0.0060], [-0.0791, 0.1926, -0.0106],
        [0.0050, 0.3526, 0.0365], [0.1724, 0.2260, -0.0149], [-0.1752, 0.2251, -0.0197],
        [0.4321, 0.2132, -0.0424], [-0.4289, 0.2118, -0.0411], [0.6813, 0.2222, -0.0435],
        [-0.6842, 0.2196, -0.0467], [0.7653, 0.2140, -0.0585], [-0.7688, 0.2134, -0.0570],
    ],
    dtype=np.float64,
)


def children_of(parents: tuple[int, ...]) -> list[list[int]]:
    """All children of each joint of a tree given by its parent array."""
    children: list[list[int]] = [[] for _ in parents]
    for joint, parent in enumerate(parents):
        if parent >= 0:
            children[parent].append(joint)
    return children
