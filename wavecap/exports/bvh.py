"""SMPL motion <-> BVH (Biovision hierarchy) for Blender, Maya and MotionBuilder.

Conventions of the written file (BVH has no place to state them; they are
WaveCap's fixed choices):

* Skeleton: SMPL's 24 joints (``SMPL_JOINT_NAMES``, ``SMPL_PARENTS``); the
  OFFSETs are the subject's rest joints (``body_model.rest_joints(betas)``)
  relative to their parents. Leaf joints end in an ``End Site`` at HybrIK's
  extra leaf points (head top, middle fingertips, big toes).
* Axes: BVH is Y-up. The file's frame is SMPL's canonical frame (x left of
  the subject, y up, z forward at rest), i.e. world (z-up) -> BVH is -90 deg
  about x: world (x, y, z) -> BVH (x, z, -y). A subject facing world -y
  faces BVH +z.
* Units: centimetres by default (``scale`` = 100 BVH units per metre).
* Rotations: ``Zrotation Yrotation Xrotation`` channels, degrees; a joint's
  local rotation is R = Rz(z) Ry(y) Rx(x) (intrinsic Z-Y-X, the BVH reading
  of the channel order), and the local-to-parent transform of joint j is
  translate(OFFSET_j) * R_j. Joint rotations are SMPL's local rotations
  unchanged (SMPL's rest pose has identity rotations, like BVH's); the root
  carries R_bvh_from_world * global_orient and the pelvis position.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from wavecap.body import BodyModel
from wavecap.body.skeleton import LEAF_PARENTS, NUM_SMPL_JOINTS, SMPL_JOINT_NAMES, SMPL_PARENTS
from wavecap.datasets.motion import Motion
from wavecap.errors import DataError

# world z-up -> BVH y-up (= SMPL canonical): -90 deg about x.
R_BVH_FROM_WORLD = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
EULER_ORDER = "ZYX"  # channel order; scipy's upper case = intrinsic, R = Rz Ry Rx
_CHANNEL = {"Xrotation": "X", "Yrotation": "Y", "Zrotation": "Z"}


@dataclass
class BVHMotion:
    """A parsed BVH file, in its own units and axes.

    Attributes:
        names: joint names (End Sites excluded), file order.
        parents: parent index per joint (-1 for the root).
        offsets: [J, 3] OFFSETs (file units, parent frame).
        end_sites: joint index -> [3] End Site offset.
        channels: per joint, its channel names in order.
        frame_time: seconds per frame.
        values: [T, sum of channels] the MOTION rows.
    """

    names: list[str]
    parents: list[int]
    offsets: np.ndarray
    end_sites: dict[int, np.ndarray]
    channels: list[list[str]]
    frame_time: float
    values: np.ndarray

    def rotations(self) -> np.ndarray:
        """[T, J, 3, 3] local rotation matrices from the rotation channels."""
        out = np.tile(np.eye(3), (len(self.values), len(self.names), 1, 1))
        column = 0
        for j, chans in enumerate(self.channels):
            rot = [k for k, c in enumerate(chans) if c in _CHANNEL]
            if rot:
                order = "".join(_CHANNEL[chans[k]] for k in rot)
                angles = self.values[:, [column + k for k in rot]]
                out[:, j] = Rotation.from_euler(order, angles, degrees=True).as_matrix()
            column += len(chans)
        return out

    def root_positions(self) -> np.ndarray:
        """[T, 3] root position channels (file units)."""
        names = ("Xposition", "Yposition", "Zposition")
        return self.values[:, [self.channels[0].index(n) for n in names]]

    def joint_positions(self) -> np.ndarray:
        """[T, J, 3] global joint positions by forward kinematics (file units and axes)."""
        rot = self.rotations()  # [T, J, 3, 3]
        glob_rot = np.empty_like(rot)
        pos = np.empty(rot.shape[:2] + (3,))
        for j, parent in enumerate(self.parents):
            if parent < 0:
                glob_rot[:, j], pos[:, j] = rot[:, j], self.root_positions()
            else:
                glob_rot[:, j] = glob_rot[:, parent] @ rot[:, j]
                pos[:, j] = pos[:, parent] + glob_rot[:, parent] @ self.offsets[j]
        return pos


def _children(parents: tuple[int, ...]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {j: [] for j in range(len(parents))}
    for j, p in enumerate(parents):
        if p >= 0:
            out[p].append(j)
    return out


def write_bvh(motion: Motion, body_model: BodyModel, path: str | os.PathLike[str], scale: float = 100.0) -> None:
    """Write a world-frame SMPL motion as BVH (conventions in the module docstring).

    Args:
        motion: SMPL motion, world frame (z-up, metres, axis-angle).
        body_model: the motion's body model (rest joints of ``motion.betas``).
        path: ``.bvh`` file to write.
        scale: BVH units per metre (100 = centimetres).

    Raises:
        DataError: a non-finite value in the motion.
    """
    frames = len(motion)
    aa = np.concatenate([motion.global_orient, motion.body_pose], 1).reshape(frames, NUM_SMPL_JOINTS, 3)
    if not (np.isfinite(aa).all() and np.isfinite(motion.transl).all()):
        raise DataError("motion has non-finite rotations or translations", field="global_orient")
    dtype = next(body_model.buffers()).dtype
    betas = torch.as_tensor(np.asarray(motion.betas, np.float64)[None], dtype=dtype)
    with torch.no_grad():
        rest = body_model.rest_joints(betas)[0].double().numpy()  # [29, 3] SMPL frame
    pelvis = motion.transl + rest[0]  # [T, 3] smplx rotates about the rest pelvis, then translates
    rot = Rotation.from_rotvec(aa.reshape(-1, 3)).as_matrix().reshape(frames, NUM_SMPL_JOINTS, 3, 3)
    rot[:, 0] = R_BVH_FROM_WORLD @ rot[:, 0]
    euler = Rotation.from_matrix(rot.reshape(-1, 3, 3)).as_euler(EULER_ORDER, degrees=True).reshape(frames, -1)
    root = pelvis @ R_BVH_FROM_WORLD.T * scale  # [T, 3]

    children = _children(SMPL_PARENTS)
    leaf_sites = {parent: rest[24 + k] - rest[parent] for k, parent in enumerate(LEAF_PARENTS)}
    lines = ["HIERARCHY"]

    def emit(j: int, depth: int) -> None:
        pad = "  " * depth
        offset = (rest[j] - rest[SMPL_PARENTS[j]]) * scale if SMPL_PARENTS[j] >= 0 else np.zeros(3)
        lines.append(f"{pad}{'ROOT' if j == 0 else 'JOINT'} {SMPL_JOINT_NAMES[j]}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {offset[0]:.6f} {offset[1]:.6f} {offset[2]:.6f}")
        position = "Xposition Yposition Zposition " if j == 0 else ""
        lines.append(f"{pad}  CHANNELS {6 if j == 0 else 3} {position}Zrotation Yrotation Xrotation")
        for child in children[j]:
            emit(child, depth + 1)
        if not children[j]:
            site = leaf_sites.get(j, np.zeros(3)) * scale
            lines.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {site[0]:.6f} {site[1]:.6f} {site[2]:.6f}",
                          f"{pad}  }}"])
        lines.append(f"{pad}}}")

    emit(0, 0)
    # The hierarchy is written depth-first, so the MOTION columns follow that order.
    order = [j for j in _depth_first(children)]
    lines += ["MOTION", f"Frames: {frames}", f"Frame Time: {1.0 / motion.fps:.8f}"]
    for t in range(frames):
        row = [*root[t], *euler[t, 0:3]] + [v for j in order[1:] for v in euler[t, 3 * j:3 * j + 3]]
        lines.append(" ".join(f"{v:.6f}" for v in row))
    # No header comment: Blender's importer wants HIERARCHY on the first line.
    Path(path).write_text("\n".join(lines) + "\n")


def _depth_first(children: dict[int, list[int]], root: int = 0) -> list[int]:
    out = [root]
    for child in children[root]:
        out += _depth_first(children, child)
    return out


def read_bvh(path: str | os.PathLike[str]) -> BVHMotion:
    """Parse a BVH file (any hierarchy).

    Raises:
        DataError: the file is not valid BVH.
    """
    tokens = Path(path).read_text().split()
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[list[str]] = []
    end_sites: dict[int, np.ndarray] = {}
    stack: list[int] = []
    i = 0
    try:
        while tokens[i] != "MOTION":
            tok = tokens[i]
            if tok in ("ROOT", "JOINT"):
                names.append(tokens[i + 1])
                parents.append(stack[-1] if stack else -1)
                stack.append(len(names) - 1)
                i += 2
            elif tok == "End":
                end = [float(x) for x in tokens[i + 4:i + 7]]  # End Site { OFFSET x y z }
                end_sites[stack[-1]] = np.array(end)
                i += 8
            elif tok == "OFFSET":
                offsets.append([float(x) for x in tokens[i + 1:i + 4]])
                i += 4
            elif tok == "CHANNELS":
                n = int(tokens[i + 1])
                channels.append(tokens[i + 2:i + 2 + n])
                i += 2 + n
            elif tok == "}":
                stack.pop()
                i += 1
            else:
                i += 1
        frames = int(tokens[i + 2])
        frame_time = float(tokens[i + 5])
        values = np.array(tokens[i + 6:], dtype=np.float64)
        width = sum(len(c) for c in channels)
        values = values.reshape(frames, width)
    except (IndexError, ValueError) as err:
        raise DataError(f"not a valid BVH file: {err}", file=str(path)) from err
    return BVHMotion(names, parents, np.array(offsets), end_sites, channels, frame_time, values)


def bvh_joints_world(bvh: BVHMotion, scale: float = 100.0) -> np.ndarray:
    """[T, J, 3] joint positions of a WaveCap BVH back in the world frame (z-up, metres)."""
    return bvh.joint_positions() @ R_BVH_FROM_WORLD / scale  # row vectors: R^T applied
