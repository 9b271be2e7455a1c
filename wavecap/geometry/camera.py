"""Pinhole camera model in the OpenCV camera frame (x right, y down, z forward).

See :mod:`wavecap.geometry.frames` for the frame definitions. Pixel
coordinates are (u, v) = (column, row) with the origin at the top-left image
corner, as in OpenCV.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from wavecap.geometry.transforms import make_transform


def intrinsics_matrix(
    fx: torch.Tensor | float,
    fy: torch.Tensor | float,
    cx: torch.Tensor | float,
    cy: torch.Tensor | float,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Build pinhole intrinsics K (no skew).

    Args:
        fx, fy: focal lengths in pixels; floats or [...] tensors.
        cx, cy: principal point in pixels; floats or [...] tensors.
        dtype: result dtype; defaults to the first tensor argument's dtype,
            else torch's default dtype.

    Returns:
        [..., 3, 3] ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]``.
    """
    values = (fx, fy, cx, cy)
    ref = next((v for v in values if isinstance(v, torch.Tensor)), None)
    if dtype is None:
        dtype = ref.dtype if ref is not None else torch.get_default_dtype()
    device = ref.device if ref is not None else None
    fx, fy, cx, cy = torch.broadcast_tensors(
        *(torch.as_tensor(v, dtype=dtype, device=device) for v in values)
    )
    zero, one = torch.zeros_like(fx), torch.ones_like(fx)
    entries = (fx, zero, cx, zero, fy, cy, zero, zero, one)
    return torch.stack(entries, dim=-1).reshape(fx.shape + (3, 3))


def project_points(
    points_cam: torch.Tensor, K: torch.Tensor, min_depth: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor]:
    """Project camera-frame points to pixels.

    Points at or behind the camera (depth <= min_depth) are divided by
    ``min_depth`` instead of their depth, so their pixels are finite but
    meaningless; mask them with ``depth > 0``.

    Args:
        points_cam: [..., N, 3] points in the OpenCV camera frame (metres).
        K: [..., 3, 3] intrinsics with last row (0, 0, 1); batch dims
            broadcastable with the points'.
        min_depth: depth floor in metres used for the division.

    Returns:
        uv: [..., N, 2] pixel coordinates (u right, v down).
        depth: [..., N] z in the camera frame (metres), unclamped.
    """
    depth = points_cam[..., 2]  # [..., N]
    z = depth.clamp_min(min_depth)[..., None]  # [..., N, 1]
    xy1 = torch.cat([points_cam[..., :2] / z, torch.ones_like(z)], dim=-1)  # [..., N, 3]
    uv = xy1 @ K[..., :2, :].transpose(-1, -2)  # [..., N, 2]
    return uv, depth


def unproject_points(uv: torch.Tensor, depth: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Lift pixels with known depth back to camera-frame points.

    Args:
        uv: [..., N, 2] pixel coordinates.
        depth: [..., N] z in the camera frame (metres), not ray length.
        K: [..., 3, 3] intrinsics with last row (0, 0, 1).

    Returns:
        [..., N, 3] points in the OpenCV camera frame (metres).
    """
    uv1 = torch.cat([uv, torch.ones_like(uv[..., :1])], dim=-1)  # [..., N, 3]
    rays = uv1 @ torch.linalg.inv(K).transpose(-1, -2)  # [..., N, 3], z == 1
    return rays * depth[..., None]


def look_at(eye: torch.Tensor, target: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """Pose of an OpenCV camera at ``eye`` looking at ``target``.

    The camera's z axis points from eye to target, its x axis is horizontal
    (perpendicular to ``up``) pointing to the image's right, and its y axis
    points down in the image, i.e. it has a negative component along ``up``.

    Args:
        eye: [..., 3] camera centre in world (metres).
        target: [..., 3] point to put on the optical axis (world, metres).
        up: [..., 3] world up direction, e.g. (0, 0, 1) in WaveCap's z-up
            world; need not be unit length.

    Returns:
        [..., 4, 4] T_world_from_cam.

    Raises:
        ValueError: eye equals target, or the viewing direction is parallel
            to ``up`` (the camera roll is then undefined).
    """
    eye, target, up = torch.broadcast_tensors(eye, target, up)
    forward = target - eye  # [..., 3]
    right = torch.linalg.cross(forward, up, dim=-1)
    eps = torch.finfo(eye.dtype).eps
    fnorm = torch.linalg.vector_norm(forward, dim=-1)
    rnorm = torch.linalg.vector_norm(right, dim=-1)
    unorm = torch.linalg.vector_norm(up, dim=-1)
    if bool(torch.any(fnorm <= eps)) or bool(torch.any(rnorm <= 1e3 * eps * fnorm * unorm)):
        raise ValueError("look_at: eye equals target or the view direction is parallel to up")
    z = F.normalize(forward, dim=-1)
    x = F.normalize(right, dim=-1)
    y = torch.linalg.cross(z, x, dim=-1)  # z x x = y completes a right-handed frame
    R = torch.stack([x, y, z], dim=-1)  # columns are the camera axes in world
    return make_transform(R, eye)
