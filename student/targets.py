"""Training targets derived from labels: foot contacts from foot height and speed.

Thresholds follow ``metrics.md`` section 4.5 (without ground truth, decide
contact by height + velocity) and match ``wavecap.datasets.motion.contacts``:
a heel/toe vertex is in contact while it is within 3 cm of the floor (the
vertices sit 1.5-3 cm above the sole) and slower than 0.2 m/s (a speed, so it
holds at any frame rate).
"""

from __future__ import annotations

import torch

from wavecap.body import FOOT_VERTEX_IDS, BodyModel

CONTACT_HEIGHT_M = 0.03
CONTACT_SPEED_M_S = 0.2


def foot_points(body_model: BodyModel, global_orient: torch.Tensor, body_pose: torch.Tensor,
                betas: torch.Tensor, transl: torch.Tensor) -> torch.Tensor:
    """Heel and toe vertices of posed SMPL bodies.

    Args:
        body_model: the shared body model.
        global_orient: [T, 3] axis-angle or [T, 3, 3], world frame (z-up).
        body_pose: [T, 69] / [T, 23, 3] axis-angle or [T, 23, 3, 3].
        betas: [T, K] or [1, K].
        transl: [T, 3] metres.

    Returns:
        [T, 4, 3] world positions (metres) of ``FOOT_VERTEX_IDS`` (left heel,
        left toe, right heel, right toe).
    """
    with torch.no_grad():
        vertices = body_model(global_orient, body_pose, betas, transl, return_vertices=True).vertices
    return vertices[:, list(FOOT_VERTEX_IDS.values())]


def contacts_from_feet(points: torch.Tensor, fps: float, height_m: float = CONTACT_HEIGHT_M,
                       speed_m_s: float = CONTACT_SPEED_M_S, floor_z: float = 0.0) -> torch.Tensor:
    """Foot contacts: low and slow foot points.

    Args:
        points: [..., T, P, 3] foot point tracks, metres, world frame (z-up).
        fps: frame rate of the tracks (Hz).
        height_m: contact while ``z - floor_z`` is below this.
        speed_m_s: and the 3D speed (central differences, one-sided at the
            ends) is below this.
        floor_z: floor height (m).

    Returns:
        [..., T, P] bool.
    """
    if points.shape[-3] > 1:
        velocity = torch.gradient(points, dim=-3)[0] * fps  # [..., T, P, 3] m/s
        speed = torch.linalg.vector_norm(velocity, dim=-1)
    else:
        speed = torch.zeros(points.shape[:-1], dtype=points.dtype, device=points.device)
    return (points[..., 2] - floor_z < height_m) & (speed < speed_m_s)
