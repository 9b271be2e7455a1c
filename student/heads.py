"""Output heads of the radar student, applied per frame to temporal features.

* :class:`SMPLHead`: 6D rotation per SMPL joint (world-frame root, as in
  sessions), per-frame shape estimates (pooled over the sequence by
  :func:`pool_frames`), root translation.
* :class:`KeypointHead`: J x 3 positions for any named skeleton.
* :class:`ContactHead`: foot-contact logits for ``CONTACT_NAMES``.
* :class:`UncertaintyHead`: per-joint log Laplace/Gaussian scale (metres).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from wavecap.body.skeleton import FOOT_VERTEX_IDS, NUM_SMPL_JOINTS
from wavecap.geometry.frames import world_from_smpl
from wavecap.geometry.rotations import matrix_to_rotation_6d, rotation_6d_to_matrix

CONTACT_NAMES: tuple[str, ...] = tuple(FOOT_VERTEX_IDS)  # left_heel, left_toe, right_heel, right_toe
# Initial per-joint scale: a few centimetres, the order of a good radar estimate.
_INITIAL_SCALE_M = 0.05


def pool_frames(x: torch.Tensor, mask: torch.Tensor | None, causal: bool) -> torch.Tensor:
    """Masked mean over frames, shown at every frame.

    Args:
        x: [B, T, K] per-frame values.
        mask: [B, T] bool, True = valid frame; None = all valid.
        causal: mean over valid frames up to and including t (what a stream
            knows at t); otherwise over the whole sequence.

    Returns:
        [B, T, K]; 0 where no valid frame has been seen yet.
    """
    weight = (torch.ones(x.shape[:2], dtype=x.dtype, device=x.device) if mask is None
              else mask.to(x.dtype))[..., None]  # [B, T, 1]
    if causal:
        total, count = (x * weight).cumsum(1), weight.cumsum(1)
    else:
        total, count = (x * weight).sum(1, keepdim=True), weight.sum(1, keepdim=True)
    return (total / count.clamp_min(1.0)).expand_as(x)


class SMPLHead(nn.Module):
    """SMPL parameters per frame.

    Starts at an upright rest pose: root = R_world_from_smpl, other joints
    identity, so early training is not fighting a random orientation.

    Args:
        dim: input features C.
        num_betas: shape coefficients K.
    """

    def __init__(self, dim: int, num_betas: int = 10) -> None:
        super().__init__()
        self.rotations = nn.Linear(dim, NUM_SMPL_JOINTS * 6)
        self.betas = nn.Linear(dim, num_betas)
        self.transl = nn.Linear(dim, 3)
        rest = torch.eye(3).expand(NUM_SMPL_JOINTS, 3, 3).clone()
        rest[0] = world_from_smpl()
        with torch.no_grad():
            self.rotations.weight.mul_(0.1)
            self.rotations.bias.copy_(matrix_to_rotation_6d(rest).flatten())

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Predict SMPL parameters.

        Args:
            h: [B, T, C] temporal features.

        Returns:
            rot6d [B, T, 24, 6]; rotmats [B, T, 24, 3, 3] local joint
            rotations (root in the label frame); per-frame shape estimates
            [B, T, K], to be pooled over frames (:func:`pool_frames`); transl
            [B, T, 3] metres.
        """
        rot6d = self.rotations(h).unflatten(-1, (NUM_SMPL_JOINTS, 6))
        return rot6d, rotation_6d_to_matrix(rot6d), self.betas(h), self.transl(h)


class KeypointHead(nn.Module):
    """Joint positions of one named skeleton (Kinect, H36M, ...).

    Args:
        dim: input features C.
        skeleton: skeleton name, as in the label's ``skeleton`` attribute.
        joints: number of joints J.
    """

    def __init__(self, dim: int, skeleton: str, joints: int) -> None:
        super().__init__()
        self.skeleton = skeleton
        self.joints = joints
        self.linear = nn.Linear(dim, joints * 3)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """[B, T, C] -> [B, T, J, 3] positions, metres, label frame."""
        return self.linear(h).unflatten(-1, (self.joints, 3))


class ContactHead(nn.Module):
    """Foot-contact logits, one per ``CONTACT_NAMES`` entry."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, len(CONTACT_NAMES))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """[B, T, C] -> [B, T, 4] logits (sigmoid = contact probability)."""
        return self.linear(h)


class UncertaintyHead(nn.Module):
    """Per-joint log scale of the position error of the 24 SMPL joints."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, NUM_SMPL_JOINTS)
        with torch.no_grad():
            self.linear.weight.mul_(0.1)
            self.linear.bias.fill_(math.log(_INITIAL_SCALE_M))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """[B, T, C] -> [B, T, 24] log scale (log metres)."""
        return self.linear(h)
