"""Homogeneous 4x4 rigid transforms.

Naming convention: a transform is called ``T_dst_from_src``; it maps the
coordinates of a point in frame ``src`` to its coordinates in frame ``dst``:
``x_dst = T_dst_from_src @ x_src``. Names then chain visibly:
``T_a_from_c = compose(T_a_from_b, T_b_from_c)``. The same convention holds
for bare rotations (``R_dst_from_src``). Frames are defined in
:mod:`wavecap.geometry.frames`.
"""

from __future__ import annotations

import torch


def make_transform(R: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Build a homogeneous transform from a rotation and a translation.

    Args:
        R: [..., 3, 3] rotation R_dst_from_src.
        t: [..., 3] position of src's origin in dst (metres); batch dims
            broadcastable with R's.

    Returns:
        [..., 4, 4] T_dst_from_src.
    """
    batch = torch.broadcast_shapes(R.shape[:-2], t.shape[:-1])
    top = torch.cat([R.expand(batch + (3, 3)), t.expand(batch + (3,))[..., None]], dim=-1)
    bottom = torch.zeros(batch + (1, 4), dtype=R.dtype, device=R.device)
    bottom[..., 0, 3] = 1
    return torch.cat([top, bottom], dim=-2)


def invert_transform(T: torch.Tensor) -> torch.Tensor:
    """Invert a rigid transform using R^T rather than a general matrix inverse.

    Args:
        T: [..., 4, 4] T_dst_from_src (rotation block must be orthonormal).

    Returns:
        [..., 4, 4] T_src_from_dst.
    """
    R_inv = T[..., :3, :3].transpose(-1, -2)  # [..., 3, 3]
    t_inv = -(R_inv @ T[..., :3, 3:]).squeeze(-1)  # [..., 3]
    return make_transform(R_inv, t_inv)


def transform_points(T: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Map points from frame src to frame dst.

    Args:
        T: [..., 4, 4] T_dst_from_src.
        x: [..., N, 3] points in src.

    Returns:
        [..., N, 3] the same points in dst.
    """
    return x @ T[..., :3, :3].transpose(-1, -2) + T[..., None, :3, 3]


def compose(T_a_from_b: torch.Tensor, T_b_from_c: torch.Tensor) -> torch.Tensor:
    """Chain two transforms: apply T_b_from_c first, then T_a_from_b.

    Args:
        T_a_from_b: [..., 4, 4].
        T_b_from_c: [..., 4, 4], batch dims broadcastable with T_a_from_b's.

    Returns:
        [..., 4, 4] T_a_from_c.
    """
    return T_a_from_b @ T_b_from_c
