"""Coordinate frames used by WaveCap: the one place they are defined.

All frames are right-handed and in metres.

=============  ==================  ==========  ===============  ===============
Frame          +x                  +y          +z               Origin
=============  ==================  ==========  ===============  ===============
world          horizontal          horizontal  up (gravity -z)  on the floor
SMPL           body's left         up          body's forward   template origin
OpenCV camera  image right         image down  optical axis     optical centre
TI radar       right of boresight  boresight   up               antenna array
=============  ==================  ==========  ===============  ===============

World
    z-up, floor is the plane z = 0. PyBullet and the TI radar mounts use z-up,
    so simulation and radar geometry need no conversion.

SMPL canonical
    The frame SMPL/SMPL-X templates are defined in (y-up). With zero
    ``global_orient`` the body stands along +y and faces +z.
    ``R_world_from_smpl`` is the +90 degree rotation about x:
    x -> x, y -> z, z -> -y. A body in its canonical pose therefore stands
    upright in the world, its left is world +x and it faces world -y, i.e. it
    faces a radar at the origin whose boresight is +y.

OpenCV camera
    x right, y down, z forward along the optical axis; pixels (u, v) follow
    x and y. Camera poses are stored as ``T_world_from_cam``
    (see :func:`wavecap.geometry.camera.look_at`).

TI radar
    x to the right of the boresight, y along the boresight, z up: the frame of
    TI mmWave point clouds. A radar mounted level has its z along world z.

Transforms are named ``T_dst_from_src`` (see :mod:`wavecap.geometry.transforms`).
"""

from __future__ import annotations

import torch

# Columns are the SMPL axes expressed in world: x -> x, y -> z, z -> -y.
_WORLD_FROM_SMPL = ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0), (0.0, 1.0, 0.0))


def world_from_smpl(
    dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> torch.Tensor:
    """Rotation R_world_from_smpl (+90 degrees about x).

    Args:
        dtype: result dtype.
        device: result device.

    Returns:
        [3, 3] rotation taking SMPL-canonical (y-up) coordinates to world (z-up).
    """
    return torch.tensor(_WORLD_FROM_SMPL, dtype=dtype, device=device)


def smpl_from_world(
    dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> torch.Tensor:
    """Rotation R_smpl_from_world, the inverse of :func:`world_from_smpl`.

    Args:
        dtype: result dtype.
        device: result device.

    Returns:
        [3, 3] rotation taking world (z-up) coordinates to SMPL canonical (y-up).
    """
    return world_from_smpl(dtype, device).T


def smpl_to_world_points(x: torch.Tensor) -> torch.Tensor:
    """Re-express points (or direction vectors) from SMPL canonical in world.

    Args:
        x: [..., 3] coordinates in the SMPL canonical frame (metres).

    Returns:
        [..., 3] coordinates in the world frame.
    """
    return x @ world_from_smpl(x.dtype, x.device).T


def world_to_smpl_points(x: torch.Tensor) -> torch.Tensor:
    """Re-express points (or direction vectors) from world in SMPL canonical.

    Args:
        x: [..., 3] coordinates in the world frame (metres).

    Returns:
        [..., 3] coordinates in the SMPL canonical frame.
    """
    return x @ smpl_from_world(x.dtype, x.device).T


def smpl_global_orient_to_world(R_root: torch.Tensor) -> torch.Tensor:
    """Turn a SMPL root rotation expressed in SMPL canonical into world.

    SMPL poses the template as ``R_root @ v`` in the canonical frame; the
    returned ``R_world_from_smpl @ R_root`` poses it directly in world, so
    it can be fed back as ``global_orient`` to get world-frame vertices.

    Only the rotation changes frame here. SMPL rotates about the root joint
    ``J0``, not the origin, so the matching translation is
    ``R_world_from_smpl @ (J0 + transl) - J0``, not ``R_world_from_smpl @ transl``.

    Args:
        R_root: [..., 3, 3] root (global_orient) rotation matrices.

    Returns:
        [..., 3, 3] root rotations mapping the SMPL template into world.
    """
    return world_from_smpl(R_root.dtype, R_root.device) @ R_root
