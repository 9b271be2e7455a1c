"""Analytic two-bone leg IK: put an ankle at a target with a given foot orientation.

Used to lock stance feet: the knee hinge is solved in closed form for the
hip-to-ankle distance, then the leg swings about the hip (shortest rotation)
to point at the target, and the ankle takes whatever local rotation gives the
requested foot orientation. All batched over frames, torch, any float dtype.
"""

from __future__ import annotations

import torch

from wavecap.datasets.motion.angles import J
from wavecap.geometry import axis_angle_to_matrix

LEG_JOINTS: dict[str, tuple[int, int, int]] = {
    "left": (J["left_hip"], J["left_knee"], J["left_ankle"]),
    "right": (J["right_hip"], J["right_knee"], J["right_ankle"]),
}


def _rotate_about(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """[B, 3, 3] rotation by ``angle`` [B] about unit ``axis`` [B, 3]."""
    return axis_angle_to_matrix(axis * angle[:, None])


def _shortest_rotation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """[B, 3, 3] smallest rotation taking direction ``a`` [B, 3] to ``b`` [B, 3]."""
    cross = torch.linalg.cross(a, b)
    sin = torch.linalg.vector_norm(cross, dim=-1)
    angle = torch.atan2(sin, (a * b).sum(-1))
    # cross / |cross| * angle without dividing by zero: angle ~ sin/(|a||b|) there.
    scale = angle / sin.clamp_min(torch.finfo(a.dtype).tiny ** 0.5)
    return axis_angle_to_matrix(cross * scale[:, None])


def solve_leg(
    local: torch.Tensor,
    global_rot: torch.Tensor,
    joints: torch.Tensor,
    side: str,
    ankle_target: torch.Tensor,
    foot_target: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bend the knee and swing the hip so the ankle reaches ``ankle_target``.

    The knee only flexes about its own hinge (the thigh's x axis), choosing
    the smaller of the two solutions, and never hyperextends; a target out of
    reach gets as close as the knee allows (straight or fully bent). The thigh is swung by the
    shortest rotation about the hip, and the ankle's local rotation is set so
    the foot (ankle joint frame) has the orientation ``foot_target``.

    Args:
        local: [B, 24, 3, 3] local rotations (root first) of the current pose.
        global_rot: [B, 24, 3, 3] their global rotations (FK of ``local``).
        joints: [B, 24, 3] joint positions of the current pose (metres).
        side: "left" or "right".
        ankle_target: [B, 3] wanted ankle joint positions.
        foot_target: [B, 3, 3] wanted global rotation of the ankle joint.

    Returns:
        ``local`` with the hip, knee and ankle rotations of that leg replaced
        ([B, 24, 3, 3], a new tensor), and [B] metres by which the ankle
        misses its target (0 unless out of reach).
    """
    hip, knee, ankle = LEG_JOINTS[side]
    pelvis_rot, hip_rot, knee_rot = global_rot[:, 0], global_rot[:, hip], global_rot[:, knee]
    H, K, A = joints[:, hip], joints[:, knee], joints[:, ankle]  # [B, 3]
    thigh, shank = K - H, A - K
    # Knee flexion delta: |H - A(d)|^2 = |thigh|^2 + |shank|^2 + 2 thigh . R(u, d) shank,
    # and thigh . R(u, d) shank = alpha + beta cos d + gamma sin d (Rodrigues).
    axis = hip_rot[..., :, 0]  # [B, 3] hinge = thigh x axis in world
    parallel = (shank * axis).sum(-1, keepdim=True) * axis
    perp = shank - parallel
    alpha = (thigh * parallel).sum(-1)
    beta = (thigh * perp).sum(-1)
    gamma = (thigh * torch.linalg.cross(axis, perp)).sum(-1)
    rho = torch.hypot(beta, gamma)
    wanted = ((ankle_target - H) ** 2).sum(-1)
    f = 0.5 * (wanted - (thigh**2).sum(-1) - (shank**2).sum(-1)) - alpha
    phi = torch.atan2(gamma, beta)
    spread = torch.acos((f / rho).clamp(-1.0, 1.0))
    candidates = torch.stack([phi + spread, phi - spread], dim=-1)
    candidates = torch.remainder(candidates + torch.pi, 2 * torch.pi) - torch.pi  # wrap to [-pi, pi)
    # Of the two solutions take the smaller change; the knee never
    # hyperextends (flexion about +x stays >= 0): a target that needs it is
    # out of reach, and the leg stops straight.
    flexion = torch.atan2(local[:, knee, 2, 1], local[:, knee, 1, 1])  # [B]
    cost = candidates.abs() + 10.0 * (flexion[:, None] + candidates < 0)
    delta = candidates.gather(-1, cost.argmin(-1, keepdim=True)).squeeze(-1)  # [B]
    delta = torch.maximum(delta, -flexion)
    bend = _rotate_about(axis, delta)  # [B, 3, 3] world rotation of the shank about the knee
    A_bent = K + torch.einsum("bxy,by->bx", bend, shank)
    swing = _shortest_rotation(A_bent - H, ankle_target - H)  # [B, 3, 3]

    new_hip_rot = swing @ hip_rot
    new_knee_local = hip_rot.transpose(-1, -2) @ bend @ knee_rot  # local knee = hip^T (bend @ knee_global)
    new_knee_rot = new_hip_rot @ new_knee_local
    out = local.clone()
    out[:, hip] = pelvis_rot.transpose(-1, -2) @ new_hip_rot
    out[:, knee] = new_knee_local
    out[:, ankle] = new_knee_rot.transpose(-1, -2) @ foot_target
    reached = H + torch.einsum("bxy,by->bx", swing, A_bent - H)
    return out, torch.linalg.vector_norm(reached - ankle_target, dim=-1)
