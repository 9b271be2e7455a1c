"""Tracking targets from the input motion: smoothing, limits, per-substep interpolation.

Everything here is computed once per motion, vectorised, before the
simulation starts; the loop then hands PyBullet rows of these arrays (cheaper
than converting them to nested lists first: measured 255 vs 333 us per
stable-PD command including the conversion).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from wavecap.body import BodyModel
from wavecap.body.skeleton import SMPL_JOINT_NAMES
from wavecap.geometry import (
    matrix_to_axis_angle,
    matrix_to_quaternion,
    quaternion_to_matrix,
    resample_linear,
    resample_rotations,
)
from wavecap.physics.contacts import smooth_points


def clamp_joint_limits(body_pose: np.ndarray, limits: Mapping[str, list[list[float]]] | None) -> np.ndarray:
    """Clamp the configured joints' axis-angle components.

    Args:
        body_pose: [T, 69] local axis-angles of SMPL joints 1..23 (rad).
        limits: ``{joint name: [[lo x, lo y, lo z], [hi x, hi y, hi z]]}`` (rad); None = none.

    Returns:
        [T, 69] clamped copy (the input itself when there are no limits).
    """
    if not limits:
        return body_pose
    pose = body_pose.reshape(len(body_pose), -1, 3).copy()
    for name, (low, high) in limits.items():
        joint = SMPL_JOINT_NAMES.index(name) - 1
        pose[:, joint] = np.clip(pose[:, joint], low, high)
    return pose.reshape(len(body_pose), -1)


def smooth_rotations(rot: torch.Tensor, sigma: float) -> torch.Tensor:
    """Zero-phase Gaussian smoothing of rotation tracks.

    Quaternions are made to share a hemisphere from frame to frame, averaged
    with Gaussian weights and renormalised: accurate for the small frame-to-
    frame changes of a motion sampled at video rate.

    Args:
        rot: [T, J, 3, 3] rotations.
        sigma: standard deviation in frames (0 = unchanged).

    Returns:
        [T, J, 3, 3] float64.
    """
    if sigma <= 0:
        return rot
    q = matrix_to_quaternion(rot.double()).numpy()  # [T, J, 4]
    flips = np.cumprod(np.where((q[1:] * q[:-1]).sum(-1) < 0, -1.0, 1.0), axis=0)  # [T-1, J]
    q[1:] *= flips[..., None]
    q = smooth_points(q, sigma)
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    return quaternion_to_matrix(torch.from_numpy(q))


def reference_transforms(model: BodyModel, rot: torch.Tensor, betas: np.ndarray, transl: np.ndarray) -> np.ndarray:
    """Link frames of a motion, which are the character's link frames.

    Args:
        model: the body model.
        rot: [T, 24, 3, 3] local rotations, world root first.
        betas: [10] shape.
        transl: [T, 3] translation (m, world).

    Returns:
        [T, 24, 4, 4] float64 T_world_from_link (m).
    """
    betas_t = torch.as_tensor(betas, dtype=torch.float32)[None]
    out = []
    with torch.no_grad():
        for start in range(0, rot.shape[0], 512):
            part = slice(start, start + 512)
            out.append(model(rot[part, 0].float(), rot[part, 1:].float(), betas_t,
                             torch.as_tensor(transl[part], dtype=torch.float32),
                             return_vertices=False).transforms.double().numpy())
    return np.concatenate(out)


def points_on_links(transforms: np.ndarray, joints: np.ndarray, local: np.ndarray) -> np.ndarray:
    """World positions of points fixed in links.

    Args:
        transforms: [T, 24, 4, 4] link frames.
        joints: [P] link (SMPL joint) of each point.
        local: [P, 3] points in their link frames (m).

    Returns:
        [T, P, 3] (m, world).
    """
    frames = transforms[:, joints]  # [T, P, 4, 4]
    return np.einsum("tpxy,py->tpx", frames[..., :3, :3], local) + frames[..., :3, 3]


@dataclass
class Targets:
    """Per-substep tracking targets and per-frame references.

    Attributes:
        joint_xyzw: [N, 23, 4] joint rotations (x, y, z, w), N = (T - 1) * substeps + 1.
        joint_velocity: [N, 23, 3] joint angular velocities, child frame (rad/s).
        root_xyzw: [N, 4] root rotation (x, y, z, w), world.
        pelvis: [N, 3] pelvis joint position (m, world).
        frame_quat: [T, 24, 4] (w, x, y, z) rotations per video frame.
        frame_pelvis: [T, 3] pelvis per video frame (m).
    """

    joint_xyzw: np.ndarray
    joint_velocity: np.ndarray
    root_xyzw: np.ndarray
    pelvis: np.ndarray
    frame_quat: np.ndarray
    frame_pelvis: np.ndarray


def substep_targets(rot: torch.Tensor, pelvis: np.ndarray, fps: float, substeps: int) -> Targets:
    """Interpolate the video-rate targets to the simulation rate.

    Args:
        rot: [T, 24, 3, 3] local rotations (world root first), float64.
        pelvis: [T, 3] pelvis joint positions (m, world).
        fps: video frame rate.
        substeps: simulation steps per video frame.

    Returns:
        SLERP-interpolated rotations, linearly interpolated pelvis and
        forward-difference joint velocities at every simulation step.
    """
    frames = rot.shape[0]
    src = torch.arange(frames, dtype=torch.float64)
    dst = torch.arange((frames - 1) * substeps + 1, dtype=torch.float64) / substeps
    fine = resample_rotations(src, rot, dst)  # [N, 24, 3, 3]
    fine_pelvis = resample_linear(src, torch.from_numpy(pelvis), dst).numpy()  # [N, 3]
    xyzw = matrix_to_quaternion(fine)[..., [1, 2, 3, 0]].numpy()  # [N, 24, 4]
    # Child-frame angular velocity: R_i^T R_{i+1} = exp([w] dt).
    step = matrix_to_axis_angle(fine[:-1, 1:].transpose(-1, -2) @ fine[1:, 1:]).numpy() * (fps * substeps)
    velocity = np.concatenate([step, step[-1:]], axis=0)  # [N, 23, 3]
    return Targets(joint_xyzw=xyzw[:, 1:], joint_velocity=velocity, root_xyzw=xyzw[:, 0], pelvis=fine_pelvis,
                   frame_quat=matrix_to_quaternion(rot).numpy(), frame_pelvis=pelvis)
