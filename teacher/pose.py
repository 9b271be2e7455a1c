"""Network output -> SMPL parameters in the camera frame (HybrIK's last step)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from wavecap.body import BodyModel
from wavecap.teacher.ik import solve_ik
from wavecap.teacher.network import TeacherOutput


@dataclass
class TeacherPose:
    """SMPL parameters of a batch of crops, OpenCV camera frame, metres.

    ``body_model(rotmats[:, 0], rotmats[:, 1:], betas, transl)`` places the
    body in the camera frame with its root joint at the network's
    ``cam_root``.

    Attributes:
        rotmats: [B, 24, 3, 3] local rotations; the root's includes the
            SMPL-canonical -> camera change of frame.
        betas: [B, K] shape.
        transl: [B, 3] SMPL translation, camera frame.
        flags: [B] True where the IK met degenerate input.
    """

    rotmats: torch.Tensor
    betas: torch.Tensor
    transl: torch.Tensor
    flags: torch.Tensor


def pose_from_output(
    output: TeacherOutput, body_model: BodyModel, variant: str = "adaptive", root: str | None = None
) -> TeacherPose:
    """Run the analytic IK on the network's joints, twists and shape.

    Args:
        output: the network's prediction.
        body_model: body model whose rest skeleton the IK uses.
        variant, root: see :func:`wavecap.teacher.ik.solve_ik`.
    """
    rest = body_model.rest_joints(output.betas)  # [B, 29, 3]
    ik = solve_ik(output.xyz29, output.phi, rest, variant, root)
    # FK rotates the body about the rest root, which translation then moves
    # onto the predicted root.
    transl = output.cam_root - rest[:, 0].to(output.cam_root.dtype)
    return TeacherPose(rotmats=ik.rotmats, betas=output.betas, transl=transl, flags=ik.flags)
