"""Teacher labels as tracks: change of sensor frame, resampling, smoothing.

A label track is a :class:`LabelTrack` of T frames: SMPL local rotations,
shape, translation and the 29 joints, all in one sensor frame, plus
per-joint and per-frame confidence and a validity flag. The root rotation
includes the change of frame, so ``body_model(rotmats[:, 0], rotmats[:, 1:],
betas, transl)`` gives points in that frame.

These are pure functions of the tracks; reading and writing sessions is
:mod:`wavecap.teacher.labeling`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import torch

from wavecap.body import BodyModel
from wavecap.geometry import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    quaternion_to_matrix,
    resample_linear,
    resample_rotations,
)

# Per-frame fields of a label group and their shapes (the label contract).
LABEL_FIELDS: dict[str, tuple[tuple[int, ...], str]] = {
    "global_orient": ((3,), "float32"),
    "body_pose": ((69,), "float32"),
    "betas": ((10,), "float32"),
    "transl": ((3,), "float32"),
    "joints29": ((29, 3), "float32"),
    "joint_confidence": ((29,), "float32"),
    "confidence": ((), "float32"),
    "valid": ((), "bool"),
}


@dataclass
class LabelTrack:
    """T frames of teacher labels in one sensor frame (metres, radians).

    Attributes:
        rotmats: [T, 24, 3, 3] local rotations, root first (the root's
            includes the SMPL-canonical -> sensor change of frame).
        betas: [T, 10] shape.
        transl: [T, 3] smplx translation in the sensor frame.
        joints29: [T, 29, 3] joints in the sensor frame.
        joint_confidence: [T, 29] in [0, 1].
        confidence: [T] in [0, 1].
        valid: [T] bool.
    """

    rotmats: torch.Tensor
    betas: torch.Tensor
    transl: torch.Tensor
    joints29: torch.Tensor
    joint_confidence: torch.Tensor
    confidence: torch.Tensor
    valid: torch.Tensor

    def __len__(self) -> int:
        return self.rotmats.shape[0]

    def slice(self, start: int, stop: int) -> LabelTrack:
        """Frames [start, stop)."""
        return LabelTrack(**{k: getattr(self, k)[start:stop] for k in self.__dataclass_fields__})

    def to_fields(self) -> dict[str, np.ndarray]:
        """The label-group fields (:data:`LABEL_FIELDS`) as numpy arrays."""
        T = len(self)
        aa = matrix_to_axis_angle(self.rotmats.double())  # [T, 24, 3]
        return {
            "global_orient": aa[:, 0].float().numpy(),
            "body_pose": aa[:, 1:].reshape(T, 69).float().numpy(),
            "betas": self.betas.float().numpy(),
            "transl": self.transl.float().numpy(),
            "joints29": self.joints29.float().numpy(),
            "joint_confidence": self.joint_confidence.float().clamp(0, 1).numpy(),
            "confidence": self.confidence.float().clamp(0, 1).numpy(),
            "valid": self.valid.bool().numpy(),
        }

    @classmethod
    def from_fields(cls, fields: Mapping[str, np.ndarray]) -> LabelTrack:
        """Inverse of :meth:`to_fields` (float64 tensors)."""
        go = torch.as_tensor(np.asarray(fields["global_orient"]), dtype=torch.float64)
        bp = torch.as_tensor(np.asarray(fields["body_pose"]), dtype=torch.float64).reshape(-1, 23, 3)
        f64 = {k: torch.as_tensor(np.asarray(fields[k]), dtype=torch.float64)
               for k in ("betas", "transl", "joints29", "joint_confidence", "confidence")}
        return cls(rotmats=axis_angle_to_matrix(torch.cat([go[:, None], bp], dim=1)),
                   valid=torch.as_tensor(np.asarray(fields["valid"]), dtype=torch.bool), **f64)


def change_frame(track: LabelTrack, T_new_from_old: torch.Tensor, rest_root: torch.Tensor) -> LabelTrack:
    """Express a track in another frame: ``p_new = R p_old + t``.

    The root rotation is left-multiplied by R. smplx rotates the body about
    the rest root joint j0(beta) before adding ``transl``, so the new
    translation is ``R (j0 + transl) + t - j0``.

    Args:
        track: labels in the old frame.
        T_new_from_old: [4, 4] rigid transform.
        rest_root: [T, 3] rest root joint j0 for each frame's betas (SMPL canonical).
    """
    T = T_new_from_old.to(track.rotmats.dtype)
    R, t = T[:3, :3], T[:3, 3]
    rotmats = track.rotmats.clone()
    rotmats[:, 0] = R @ rotmats[:, 0]
    j0 = rest_root.to(track.transl.dtype)
    transl = (j0 + track.transl) @ R.T + t - j0
    joints = track.joints29 @ R.T + t
    return replace(track, rotmats=rotmats, transl=transl, joints29=joints)


def resample_track(
    times_src: np.ndarray,
    track: LabelTrack,
    times_dst: np.ndarray,
    gap_tolerance_s: float,
    gap_decay: float,
) -> LabelTrack:
    """Resample labels onto other timestamps (e.g. camera -> radar frames).

    Rotations are SLERPed, translation, joints and betas interpolated
    linearly, confidences linearly. A destination frame is valid only if it
    lies inside the source time span and both bracketing source frames are
    valid; outside the span the end frame's values are kept (finite) with
    zero confidence. Between source frames further apart than
    ``gap_tolerance_s`` (dropped frames) confidences are multiplied by
    ``gap_decay``.

    Args:
        times_src: [T] strictly increasing source times (s).
        track: T source frames.
        times_dst: [M] destination times (s).
        gap_tolerance_s: largest source spacing treated as no gap.
        gap_decay: confidence factor across a gap, in [0, 1].

    Returns:
        M frames.
    """
    src = torch.as_tensor(times_src, dtype=torch.float64)
    dst = torch.as_tensor(times_dst, dtype=torch.float64)
    i1 = torch.searchsorted(src, dst, right=True).clamp(1, max(len(src) - 1, 1))
    i0 = i1 - 1
    inside = (dst >= src[0]) & (dst <= src[-1])
    gap = (src[i1] - src[i0]) > gap_tolerance_s
    valid = inside & track.valid[i0] & track.valid[i1]
    factor = torch.where(gap, torch.tensor(float(gap_decay), dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
    factor = torch.where(valid, factor, torch.zeros_like(factor))
    lin = {k: resample_linear(src, getattr(track, k).double(), dst)
           for k in ("betas", "transl", "joints29", "joint_confidence", "confidence")}
    lin["joint_confidence"] = lin["joint_confidence"] * factor[:, None]
    lin["confidence"] = lin["confidence"] * factor
    rotmats = resample_rotations(src, track.rotmats.double(), dst)
    return LabelTrack(rotmats=rotmats, valid=valid, **lin)


def smooth_track(
    times: np.ndarray, track: LabelTrack, sigma_s: float, body_model: BodyModel
) -> LabelTrack:
    """Gaussian smoothing in time, in rotation space, of valid frames.

    Each local rotation becomes the normalised Gaussian-weighted average of
    its neighbours' quaternions (signs aligned to the centre frame first), a
    close approximation of the rotation mean for the small spreads of
    jitter; shape and translation are averaged linearly with the same
    weights. Joints are then recomputed by forward kinematics, so they stay
    consistent with the parameters. Invalid frames neither contribute nor
    change. Weights use the actual timestamps, so dropped frames are handled.

    Args:
        times: [T] frame times (s).
        track: labels (any frame).
        sigma_s: Gaussian standard deviation in seconds; <= 0 returns the track.
        body_model: for the forward kinematics.
    """
    if sigma_s <= 0 or len(track) < 2:
        return track
    t = torch.as_tensor(times, dtype=torch.float64)
    T = len(track)
    dt_min = float((t[1:] - t[:-1]).min())
    reach = max(1, int(np.ceil(3 * sigma_s / max(dt_min, 1e-6))))
    q = matrix_to_quaternion(track.rotmats.double())  # [T, 24, 4]
    lin = torch.cat([track.betas.double(), track.transl.double()], dim=-1)  # [T, 13]
    valid = track.valid.double()
    q_acc, lin_acc, w_acc = torch.zeros_like(q), torch.zeros_like(lin), torch.zeros(T, dtype=torch.float64)
    idx = torch.arange(T)
    for k in range(-reach, reach + 1):
        j = (idx + k).clamp(0, T - 1)
        inside = ((idx + k) >= 0) & ((idx + k) < T)
        w = torch.exp(-0.5 * ((t[j] - t) / sigma_s) ** 2) * valid[j] * inside.double()  # [T]
        qj = q[j]
        sign = torch.where((qj * q).sum(-1, keepdim=True) < 0, -1.0, 1.0)  # [T, 24, 1]
        q_acc += w[:, None, None] * sign * qj
        lin_acc += w[:, None] * lin[j]
        w_acc += w
    keep = track.valid & (w_acc > 0)
    q_new = torch.where(keep[:, None, None], q_acc / torch.linalg.vector_norm(q_acc, dim=-1, keepdim=True).clamp_min(1e-12), q)
    lin_new = torch.where(keep[:, None], lin_acc / w_acc.clamp_min(1e-12)[:, None], lin)
    rotmats = quaternion_to_matrix(q_new)
    betas, transl = lin_new[:, :10], lin_new[:, 10:]
    dtype = next(body_model.buffers()).dtype
    with torch.no_grad():
        joints = body_model(rotmats[:, 0].to(dtype), rotmats[:, 1:].to(dtype), betas.to(dtype), transl.to(dtype),
                            return_vertices=False).joints29.double()
    joints = torch.where(keep[:, None, None], joints, track.joints29.double())
    return replace(track, rotmats=rotmats, betas=betas, transl=transl, joints29=joints)
