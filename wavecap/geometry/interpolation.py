"""Interpolation of rotations and vectors in time (e.g. radar to camera rate)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from wavecap.geometry.rotations import matrix_to_quaternion, quaternion_to_matrix


def slerp(q0: torch.Tensor, q1: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Spherical linear interpolation along the shortest arc.

    Args:
        q0: [..., 4] unit quaternions (w, x, y, z), the value at t = 0.
        q1: [..., 4] unit quaternions (w, x, y, z), the value at t = 1.
        t: [...] interpolation parameter, broadcastable with the batch dims of
            q0 and q1; values outside [0, 1] extrapolate.

    Returns:
        [..., 4] unit quaternions. Where q0 and q1 are nearly identical the
        result is the normalised linear interpolation, which agrees with SLERP
        to rounding there.
    """
    t = torch.as_tensor(t, dtype=q0.dtype, device=q0.device)[..., None]
    dot = (q0 * q1).sum(-1, keepdim=True)
    q1 = torch.where(dot < 0, -q1, q1)  # q1 and -q1 are one rotation; take the short way
    # Angle between the quaternions on the 3-sphere (half the relative rotation
    # angle); atan2 of chord lengths stays accurate where acos(dot) loses half
    # its digits (dot near 1).
    theta = 2 * torch.atan2(
        torch.linalg.vector_norm(q1 - q0, dim=-1, keepdim=True),
        torch.linalg.vector_norm(q1 + q0, dim=-1, keepdim=True),
    )
    near = theta < torch.finfo(q0.dtype).eps ** 0.5
    theta = torch.where(near, torch.ones_like(theta), theta)
    sin = torch.sin(theta)
    w0 = torch.where(near, 1 - t, torch.sin((1 - t) * theta) / sin)
    w1 = torch.where(near, t, torch.sin(t * theta) / sin)
    return F.normalize(w0 * q0 + w1 * q1, dim=-1)


def _bracket(
    times_src: torch.Tensor, times_dst: torch.Tensor, n_src: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validate times; return bracketing indices i0, i1 [M] and fractions [M] in [0, 1]."""
    if times_src.ndim != 1 or times_dst.ndim != 1:
        raise ValueError(
            f"times must be 1-D, got times_src {tuple(times_src.shape)}, "
            f"times_dst {tuple(times_dst.shape)}"
        )
    if times_src.numel() == 0:
        raise ValueError("times_src is empty")
    if times_src.shape[0] != n_src:
        raise ValueError(f"times_src has {times_src.shape[0]} samples but the data has {n_src}")
    # float64 so that absolute timestamps (e.g. Unix seconds) keep sub-ms resolution.
    times_src, times_dst = times_src.double(), times_dst.double()
    if not bool(torch.all(times_src[1:] > times_src[:-1])):
        raise ValueError("times_src must be strictly increasing (and free of NaN)")
    last = times_src.shape[0] - 1
    i1 = torch.searchsorted(times_src, times_dst, right=True).clamp(1, max(last, 1))
    i0 = i1 - 1
    if last == 0:  # one sample: every query clamps to it
        return i0, i0, torch.zeros_like(times_dst)
    frac = (times_dst - times_src[i0]) / (times_src[i1] - times_src[i0])
    return i0, i1, frac.clamp(0, 1)


def resample_rotations(
    times_src: torch.Tensor, R_src: torch.Tensor, times_dst: torch.Tensor
) -> torch.Tensor:
    """Resample a rotation track by SLERP between bracketing samples.

    Queries before the first or after the last source time take the end
    value (no extrapolation).

    Args:
        times_src: [T] strictly increasing sample times (any unit, e.g. s).
        R_src: [T, ..., 3, 3] rotation matrices at those times.
        times_dst: [M] query times, same unit as times_src.

    Returns:
        [M, ..., 3, 3] rotation matrices, dtype of R_src.

    Raises:
        ValueError: times_src is not 1-D, empty, not strictly increasing, or
            its length differs from R_src's first dimension.
    """
    i0, i1, frac = _bracket(times_src, times_dst, R_src.shape[0])
    q = matrix_to_quaternion(R_src)  # [T, ..., 4]
    frac = frac.to(R_src.dtype).reshape((-1,) + (1,) * (q.ndim - 2))  # [M, 1, ...]
    return quaternion_to_matrix(slerp(q[i0], q[i1], frac))


def resample_linear(
    times_src: torch.Tensor, x_src: torch.Tensor, times_dst: torch.Tensor
) -> torch.Tensor:
    """Resample a track by linear interpolation between bracketing samples.

    Queries outside the source time range take the end value.

    Args:
        times_src: [T] strictly increasing sample times.
        x_src: [T, ...] values at those times (positions in metres, etc.).
        times_dst: [M] query times, same unit as times_src.

    Returns:
        [M, ...] interpolated values, dtype of x_src.

    Raises:
        ValueError: as for :func:`resample_rotations`.
    """
    i0, i1, frac = _bracket(times_src, times_dst, x_src.shape[0])
    frac = frac.to(x_src.dtype).reshape((-1,) + (1,) * (x_src.ndim - 1))  # [M, 1, ...]
    x0, x1 = x_src[i0], x_src[i1]
    return x0 + frac * (x1 - x0)
