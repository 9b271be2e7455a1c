"""Rotation representations and conversions between them.

Conventions used throughout:

* Rotation matrices act on column vectors: ``y = R @ x``.
* Axis-angle vectors are ``angle * unit_axis`` with the angle in radians.
* Quaternions are **(w, x, y, z)**, scalar first, Hamilton product. PyBullet
  uses (x, y, z, w); convert at that boundary with
  :func:`quaternion_xyzw_to_wxyz` / :func:`quaternion_wxyz_to_xyzw`.
* The 6D representation is the first two **columns** of ``R`` concatenated,
  as in Zhou et al., "On the Continuity of Rotation Representations in Neural
  Networks", CVPR 2019. (PyTorch3D uses the first two rows instead; the two
  are not interchangeable.)

All functions accept arbitrary leading batch dimensions ``...`` and work in
float32 and float64.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _eps(x: torch.Tensor) -> float:
    return torch.finfo(x.dtype).eps


def _skew(v: torch.Tensor) -> torch.Tensor:
    """[..., 3] -> [..., 3, 3] cross-product matrix, ``_skew(a) @ b == a x b``."""
    x, y, z = v.unbind(-1)
    zero = torch.zeros_like(x)
    rows = (zero, -z, y, z, zero, -x, -y, x, zero)
    return torch.stack(rows, dim=-1).reshape(v.shape + (3,))


def axis_angle_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula, exact and differentiable at zero angle.

    Args:
        aa: [..., 3] axis-angle vectors (radians).

    Returns:
        [..., 3, 3] rotation matrices.
    """
    theta2 = (aa * aa).sum(-1)  # [...]
    # Below eps, the Taylor series truncated after the theta^2 term is exact to
    # rounding; above it, the closed forms have no 0/0.
    small = theta2 < _eps(aa)
    # sqrt only sees values >= eps, so its gradient never becomes inf; an inf
    # in the unused branch of torch.where would still turn gradients to NaN.
    theta = torch.where(small, torch.ones_like(theta2), theta2).sqrt()
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)  # sin(t)/t
    # 2 sin^2(t/2) instead of 1 - cos(t) avoids cancellation for small t.
    b_large = 2 * torch.sin(theta / 2) ** 2 / theta**2
    b = torch.where(small, 0.5 - theta2 / 24, b_large)  # (1 - cos t)/t^2
    K = _skew(aa)  # [..., 3, 3]
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device)
    return eye + a[..., None, None] * K + b[..., None, None] * (K @ K)


def axis_angle_to_quaternion(aa: torch.Tensor) -> torch.Tensor:
    """Axis-angle to unit quaternion, differentiable at zero angle.

    Args:
        aa: [..., 3] axis-angle vectors (radians).

    Returns:
        [..., 4] unit quaternions (w, x, y, z) with w >= 0 for angles <= pi.
    """
    theta2 = (aa * aa).sum(-1)  # [...]
    small = theta2 < _eps(aa)
    theta = torch.where(small, torch.ones_like(theta2), theta2).sqrt()
    half = torch.where(small, 0.5 - theta2 / 48, torch.sin(theta / 2) / theta)  # sin(t/2)/t
    w = torch.where(small, 1 - theta2 / 8, torch.cos(theta / 2))
    return torch.cat([w[..., None], aa * half[..., None]], dim=-1)


def quaternion_to_axis_angle(q: torch.Tensor) -> torch.Tensor:
    """Quaternion logarithm: accurate near angle 0 and angle pi.

    Uses ``angle = 2 atan2(|v|, w)`` rather than ``acos(w)``, whose derivative
    blows up at w = +-1. The quaternion need not be unit length.

    Args:
        q: [..., 4] quaternions (w, x, y, z), non-zero.

    Returns:
        [..., 3] axis-angle vectors with angle in [0, pi]. At exactly pi the
        sign of the axis follows the sign of the vector part.
    """
    q = torch.where(q[..., :1] < 0, -q, q)  # q and -q are the same rotation
    w, v = q[..., 0], q[..., 1:]  # [...], [..., 3]
    n2 = (v * v).sum(-1)
    # Relative test, so the result does not depend on the quaternion's scale.
    small = n2 < _eps(q) * w * w
    n = torch.where(small, torch.ones_like(n2), n2).sqrt()
    # w is 0 at angle pi, where the (unused) series would give inf gradients.
    ws = torch.where(small, w, torch.ones_like(w))
    # Taylor series of 2 atan(r)/r with r = |v|/w.
    factor_small = 2 / ws * (1 - n2 / (3 * ws * ws))
    factor = torch.where(small, factor_small, 2 * torch.atan2(n, w) / n)
    return v * factor[..., None]


def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """Quaternion to rotation matrix.

    Args:
        q: [..., 4] quaternions (w, x, y, z); normalised internally.

    Returns:
        [..., 3, 3] rotation matrices.
    """
    w, x, y, z = q.unbind(-1)
    s = 2 / (q * q).sum(-1)  # 2/|q|^2 normalises non-unit input
    entries = (
        1 - s * (y * y + z * z), s * (x * y - z * w), s * (x * z + y * w),
        s * (x * y + z * w), 1 - s * (x * x + z * z), s * (y * z - x * w),
        s * (x * z - y * w), s * (y * z + x * w), 1 - s * (x * x + y * y),
    )  # fmt: skip
    return torch.stack(entries, dim=-1).reshape(q.shape[:-1] + (3, 3))


def matrix_to_quaternion(R: torch.Tensor) -> torch.Tensor:
    """Rotation matrix to quaternion by Shepperd's method.

    Each of w, x, y, z can be recovered by dividing by one of the others; the
    component with the largest magnitude is used as the divisor, so there is
    no catastrophic cancellation anywhere (in particular at angle pi, where
    w = 0).

    Args:
        R: [..., 3, 3] rotation matrices.

    Returns:
        [..., 4] unit quaternions (w, x, y, z), sign chosen so that w >= 0.
    """
    m = R.reshape(R.shape[:-2] + (9,)).unbind(-1)
    m00, m01, m02, m10, m11, m12, m20, m21, m22 = m
    # 4w^2, 4x^2, 4y^2, 4z^2
    sq = torch.stack(
        [
            1 + m00 + m11 + m22,
            1 + m00 - m11 - m22,
            1 - m00 + m11 - m22,
            1 - m00 - m11 + m22,
        ],
        dim=-1,
    )  # [..., 4]
    # Row k is 4 * q_k * (w, x, y, z); dividing by 4|q_k| recovers +-q.
    cand = torch.stack(
        [
            torch.stack([sq[..., 0], m21 - m12, m02 - m20, m10 - m01], dim=-1),
            torch.stack([m21 - m12, sq[..., 1], m10 + m01, m02 + m20], dim=-1),
            torch.stack([m02 - m20, m10 + m01, sq[..., 2], m12 + m21], dim=-1),
            torch.stack([m10 - m01, m20 + m02, m21 + m12, sq[..., 3]], dim=-1),
        ],
        dim=-2,
    )  # [..., 4, 4]
    # The chosen row always has sq >= 1; the floor only keeps the unused rows
    # (and their gradients) finite.
    cand = cand / (2 * sq.clamp_min(0.01).sqrt()[..., None])
    best = sq.argmax(dim=-1)  # [...]
    index = best[..., None, None].expand(best.shape + (1, 4))
    q = cand.gather(-2, index).squeeze(-2)  # [..., 4]
    q = torch.where(q[..., :1] < 0, -q, q)
    return F.normalize(q, dim=-1)


def matrix_to_axis_angle(R: torch.Tensor) -> torch.Tensor:
    """Rotation matrix to axis-angle, accurate at all angles including 0 and pi.

    Args:
        R: [..., 3, 3] rotation matrices.

    Returns:
        [..., 3] axis-angle vectors, angle in [0, pi].
    """
    return quaternion_to_axis_angle(matrix_to_quaternion(R))


def quaternion_multiply(q1: torch.Tensor, q2: torch.Tensor) -> torch.Tensor:
    """Hamilton product ``q1 * q2`` (apply q2 first, then q1).

    Args:
        q1: [..., 4] quaternions (w, x, y, z).
        q2: [..., 4] quaternions (w, x, y, z), broadcastable with q1.

    Returns:
        [..., 4] product; ``quaternion_to_matrix`` of it equals
        ``quaternion_to_matrix(q1) @ quaternion_to_matrix(q2)``.
    """
    w1, x1, y1, z1 = q1.unbind(-1)
    w2, x2, y2, z2 = q2.unbind(-1)
    return torch.stack(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ],
        dim=-1,
    )


def quaternion_conjugate(q: torch.Tensor) -> torch.Tensor:
    """Conjugate (the inverse rotation for unit quaternions).

    Args:
        q: [..., 4] quaternions (w, x, y, z).

    Returns:
        [..., 4] quaternions (w, -x, -y, -z).
    """
    return torch.cat([q[..., :1], -q[..., 1:]], dim=-1)


def quaternion_xyzw_to_wxyz(q: torch.Tensor) -> torch.Tensor:
    """Reorder a scalar-last quaternion (PyBullet, SciPy) to scalar-first.

    Args:
        q: [..., 4] quaternions (x, y, z, w).

    Returns:
        [..., 4] quaternions (w, x, y, z).
    """
    return torch.cat([q[..., 3:], q[..., :3]], dim=-1)


def quaternion_wxyz_to_xyzw(q: torch.Tensor) -> torch.Tensor:
    """Reorder a scalar-first quaternion to scalar-last (PyBullet, SciPy).

    Args:
        q: [..., 4] quaternions (w, x, y, z).

    Returns:
        [..., 4] quaternions (x, y, z, w).
    """
    return torch.cat([q[..., 1:], q[..., :1]], dim=-1)


def matrix_to_rotation_6d(R: torch.Tensor) -> torch.Tensor:
    """Rotation matrix to the 6D representation of Zhou et al. (2019).

    Args:
        R: [..., 3, 3] rotation matrices.

    Returns:
        [..., 6] first column of R followed by its second column.
    """
    return torch.cat([R[..., :, 0], R[..., :, 1]], dim=-1)


def rotation_6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """6D representation to rotation matrix by Gram-Schmidt.

    Args:
        d6: [..., 6] two 3-vectors (need not be orthonormal, must not be
            parallel), read as the first and second columns of R.

    Returns:
        [..., 3, 3] rotation matrices (det +1).
    """
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)  # columns


def rotation_angle(R: torch.Tensor) -> torch.Tensor:
    """Geodesic angle of a rotation, accurate near 0 and pi.

    ``atan2(sin, cos)`` with sin from the antisymmetric part and cos from the
    trace; unlike ``acos((tr R - 1) / 2)`` it keeps full precision at both
    ends and has a finite gradient at the identity.

    Args:
        R: [..., 3, 3] rotation matrices.

    Returns:
        [...] angle in radians, in [0, pi].
    """
    axis_sin = torch.stack(
        [R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]],
        dim=-1,
    )  # [..., 3], equals 2 sin(angle) * axis
    sin = torch.linalg.vector_norm(axis_sin, dim=-1) / 2
    cos = (R.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2
    return torch.atan2(sin, cos)


def geodesic_distance(R1: torch.Tensor, R2: torch.Tensor) -> torch.Tensor:
    """Angle of the relative rotation between R1 and R2.

    Args:
        R1: [..., 3, 3] rotation matrices.
        R2: [..., 3, 3] rotation matrices, broadcastable with R1.

    Returns:
        [...] angle in radians, in [0, pi].
    """
    return rotation_angle(R1.transpose(-1, -2) @ R2)


def random_rotation_matrix(
    shape: int | tuple[int, ...] | torch.Size,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Rotations drawn uniformly (Haar measure) from SO(3).

    A normalised 4D Gaussian is uniform on the unit 3-sphere, and the sphere
    double-covers SO(3) evenly, so the matrices are uniform too.

    Args:
        shape: batch shape ``...``.
        generator: source of randomness; pass a seeded one for reproducibility.
        dtype: floating dtype of the result.
        device: device of the result (must match the generator's).

    Returns:
        [..., 3, 3] rotation matrices.
    """
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    q = torch.randn(shape + (4,), generator=generator, dtype=dtype, device=device)
    return quaternion_to_matrix(q)
