"""Foot geometry of a posed body: exact LBS restricted to the foot vertices.

Grounding a motion needs, per frame, the soles of both feet and the four
heel/toe points. Skinning only those few hundred vertices (the same linear
blend skinning smplx applies, pose correctives included) gives the exact
vertex positions at a fraction of the cost of posing all 6890.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from wavecap.body import FOOT_VERTEX_IDS, BodyModel
from wavecap.datasets.motion.angles import J
from wavecap.datasets.motion.motion import FOOT_POINT_NAMES, Motion
from wavecap.geometry import world_from_smpl

# Per foot: the joints whose vertices form the foot (ankle segment + toes).
FOOT_JOINTS: dict[str, tuple[int, int]] = {
    "left": (J["left_ankle"], J["left_foot"]),
    "right": (J["right_ankle"], J["right_foot"]),
}


@dataclass
class FootState:
    """Posed feet and skeleton for a batch of frames (metres, world frame).

    Attributes:
        soles: per foot ("left", "right"): [B, K, 3] positions of every vertex
            skinned mostly to that foot's ankle or toe joint.
        points: [B, 4, 3] heel/toe vertices, order ``FOOT_POINT_NAMES``.
        joints: [B, 24, 3] joint positions.
        rotations: [B, 24, 3, 3] global joint rotations.
    """

    soles: dict[str, torch.Tensor]
    points: torch.Tensor
    joints: torch.Tensor
    rotations: torch.Tensor


class FootSkin:
    """Foot vertices of one subject (model + betas), posed by exact LBS.

    Args:
        model: the body model (its dtype is used throughout).
        betas: [10] shape coefficients.
    """

    def __init__(self, model: BodyModel, betas: np.ndarray) -> None:
        self.model = model
        smpl = model.smpl
        dtype = model.j_template.dtype
        self.betas = torch.as_tensor(np.asarray(betas), dtype=dtype)[None, : model.num_betas]  # [1, K]
        dominant = smpl.lbs_weights.argmax(dim=1)  # [V]
        sole_ids = {side: torch.nonzero(torch.isin(dominant, torch.tensor(joints))).flatten()
                    for side, joints in FOOT_JOINTS.items()}
        point_ids = torch.tensor([FOOT_VERTEX_IDS[name] for name in FOOT_POINT_NAMES])
        ids = torch.cat([sole_ids["left"], sole_ids["right"], point_ids])
        self._split = (len(sole_ids["left"]), len(sole_ids["right"]), len(point_ids))
        shaped = smpl.v_template[ids] + torch.einsum("vck,bk->vc", smpl.shapedirs[ids][..., : self.betas.shape[1]],
                                                     self.betas)  # [K, 3]
        posedirs = smpl.posedirs.reshape(smpl.posedirs.shape[0], -1, 3)[:, ids]  # [207, K, 3]
        self._shaped = shaped.to(dtype)
        self._posedirs = posedirs.reshape(posedirs.shape[0], -1).to(dtype)  # [207, K*3]
        self._weights = smpl.lbs_weights[ids].to(dtype)  # [K, 24]
        self.rest_joints = model.rest_joints(self.betas)[0, :24]  # [24, 3] rest joints of this subject
        rest = self(self.rest_rotations())
        # Height of each heel/toe point above the lowest sole vertex of its foot
        # when standing flat; contact tests compare against it.
        lowest = torch.stack([rest.soles["left"][0, :, 2].min(), rest.soles["right"][0, :, 2].min()])
        self.point_rest_height = (rest.points[0, :, 2] - lowest.repeat_interleave(2)).cpu().numpy()  # [4]

    @property
    def dtype(self) -> torch.dtype:
        """Floating dtype of the body model (and of every result)."""
        return self._shaped.dtype

    def rest_rotations(self) -> torch.Tensor:
        """[1, 24, 3, 3] local rotations of the upright rest pose facing world -y."""
        rot = torch.eye(3, dtype=self.dtype).repeat(1, 24, 1, 1)
        rot[:, 0] = world_from_smpl(self.dtype)
        return rot

    def __call__(self, rot: torch.Tensor, transl: torch.Tensor | None = None) -> FootState:
        """Pose the feet.

        Args:
            rot: [B, 24, 3, 3] local rotations, root (world frame) first.
            transl: [B, 3] smplx translation in metres; zeros when None.

        Returns:
            The posed :class:`FootState`.
        """
        rot = rot.to(self.dtype)
        batch = rot.shape[0]
        out = self.model(rot[:, 0], rot[:, 1:], self.betas, transl, return_vertices=False)
        global_rot = out.transforms[..., :3, :3]  # [B, 24, 3, 3]
        pose_feature = (rot[:, 1:] - torch.eye(3, dtype=self.dtype)).reshape(batch, -1)  # [B, 207]
        posed = self._shaped + (pose_feature @ self._posedirs).reshape(batch, -1, 3)  # [B, K, 3]
        # Blend the joint transforms per vertex, as smplx's lbs does:
        # v = (sum_j w_j A_j) v, A_j = [R_j | J_j - R_j J_j^rest], joints already translated.
        offsets = out.joints - torch.einsum("bjxy,jy->bjx", global_rot, self.rest_joints)  # [B, 24, 3]
        transforms = torch.cat([global_rot, offsets[..., None]], dim=-1).reshape(batch, 24, 12)
        blended = (self._weights @ transforms).reshape(batch, -1, 3, 4)  # [B, K, 3, 4]
        verts = torch.einsum("bkxy,bky->bkx", blended[..., :3], posed) + blended[..., 3]  # [B, K, 3]
        left, right, points = torch.split(verts, self._split, dim=1)
        return FootState(soles={"left": left, "right": right}, points=points, joints=out.joints, rotations=global_rot)


def foot_points(motion: Motion, model: BodyModel) -> np.ndarray:
    """Heel and toe vertices of every frame of a motion.

    Args:
        motion: the motion (world frame).
        model: body model to pose it with.

    Returns:
        [T, 4, 3] positions in metres, world frame, order
        (left_heel, left_toe, right_heel, right_toe) = SMPL vertices
        (3387, 3216, 6787, 6617).
    """
    skin = FootSkin(model, motion.betas)
    rot = torch.from_numpy(motion.rotations())
    transl = torch.from_numpy(motion.transl)
    return skin(rot, transl).points.detach().cpu().double().numpy()
