"""Building blocks for procedural poses: elementary rotations, joint ids, mirroring.

Local SMPL joint rotations are expressed in SMPL's canonical axes (x = body's
left, y = up, z = forward). With the body standing in the rest pose, the signs
that matter are (all angles in radians):

* hip flexion (thigh forward)        ``rot_x(-a)``;  knee flexion ``rot_x(+a)``;
* ankle dorsiflexion (toes up)        ``rot_x(-a)``;  toe extension ``rot_x(-a)``;
* left hip abduction ``rot_z(+a)``, right hip abduction ``rot_z(-a)``;
* spine / neck forward flexion ``rot_x(+a)``, bend to the left ``rot_z(-a)``;
* twist about the vertical ``rot_y(a)`` (a pelvis ``rot_y(a)`` is a world yaw
  of +a, counter-clockwise seen from above);
* arms start horizontal (T-pose): lowering the left arm is ``rot_z(-a)``, the
  right ``rot_z(+a)``; a hanging arm swings forward with ``rot_x(-a)``
  applied on top; elbow flexion is ``rot_y(-a)`` left, ``rot_y(+a)`` right.
"""

from __future__ import annotations

import numpy as np

from wavecap.body.skeleton import SMPL_JOINT_NAMES

J = {name: index for index, name in enumerate(SMPL_JOINT_NAMES)}
NUM_JOINTS = len(SMPL_JOINT_NAMES)
# Joint index of each joint's mirror image (left <-> right).
MIRROR_JOINTS = np.array(
    [J[name.replace("left_", "right_")] if name.startswith("left_")
     else J[name.replace("right_", "left_")] if name.startswith("right_") else index
     for index, name in enumerate(SMPL_JOINT_NAMES)]
)
_MIRROR_X = np.diag([-1.0, 1.0, 1.0])


def _elementary(angle: np.ndarray | float, i: int, j: int) -> np.ndarray:
    """[..., 3, 3] rotation by ``angle`` in the (i, j) coordinate plane."""
    angle = np.asarray(angle, dtype=np.float64)
    out = np.zeros(angle.shape + (3, 3))
    c, s = np.cos(angle), np.sin(angle)
    k = 3 - i - j
    out[..., k, k] = 1.0
    out[..., i, i] = c
    out[..., j, j] = c
    out[..., i, j] = -s
    out[..., j, i] = s
    return out


def rot_x(angle: np.ndarray | float) -> np.ndarray:
    """[..., 3, 3] rotation about x by ``angle`` (radians, right hand)."""
    return _elementary(angle, 1, 2)


def rot_y(angle: np.ndarray | float) -> np.ndarray:
    """[..., 3, 3] rotation about y by ``angle`` (radians, right hand)."""
    return _elementary(angle, 2, 0)


def rot_z(angle: np.ndarray | float) -> np.ndarray:
    """[..., 3, 3] rotation about z by ``angle`` (radians, right hand)."""
    return _elementary(angle, 0, 1)


def identity_pose(frames: int) -> np.ndarray:
    """[T, 24, 3, 3] identity local rotations (SMPL rest pose)."""
    return np.broadcast_to(np.eye(3), (frames, NUM_JOINTS, 3, 3)).copy()


def mirror_pose(rot: np.ndarray) -> np.ndarray:
    """Mirror local rotations through the body's sagittal plane (x -> -x).

    Args:
        rot: [..., 24, 3, 3] local rotations in SMPL canonical axes.

    Returns:
        [..., 24, 3, 3] rotations of the mirror-image motion: left and right
        joints swapped and each rotation reflected (M R M, M = diag(-1, 1, 1)).
    """
    return _MIRROR_X @ rot[..., MIRROR_JOINTS, :, :] @ _MIRROR_X
