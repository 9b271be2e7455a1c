"""The body model every stage shares: a thin layer over ``smplx.SMPLLayer``.

Poses are local joint rotations in SMPL's order (root first). Outputs are in
whatever frame the root rotation and translation put them: SMPL parameters
stored in WaveCap sessions are world-frame (z-up), i.e. the root rotation
already contains the SMPL-canonical-to-world change of frame (see
``docs/frames.md``).
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import smplx
import torch
from smplx.lbs import batch_rigid_transform
from smplx.utils import Struct
from torch import nn

from wavecap.body.skeleton import LEAF_VERTEX_IDS, NUM_SMPL_JOINTS, SMPL_PARENTS
from wavecap.body.smpl_files import find_smpl_file, load_smpl_arrays
from wavecap.body.standin import STANDIN_TAG, standin_arrays
from wavecap.errors import BodyModelError
from wavecap.geometry.rotations import axis_angle_to_matrix


@dataclass
class BodyOutput:
    """Posed body. Units metres; frame set by the root rotation/translation.

    Attributes:
        joints: [B, 24, 3] SMPL joints.
        joints29: [B, 29, 3] SMPL joints + HybrIK leaves (head top, middle
            fingertips, big toes).
        vertices: [B, V, 3] or None when not asked for.
        transforms: [B, 24, 4, 4] global joint transforms (rotation of each
            joint's frame, and its position before translation).
    """

    joints: torch.Tensor
    joints29: torch.Tensor
    vertices: torch.Tensor | None
    transforms: torch.Tensor


def _rotmats(pose: torch.Tensor, joints: int) -> torch.Tensor:
    """Local rotations of ``joints`` joints as matrices [B, joints, 3, 3].

    Accepts axis-angle [B, joints*3] / [B, joints, 3] or matrices
    [B, joints, 3, 3] (and [B, 3, 3] for a single joint). The rank decides,
    since a batch of three root axis-angles is also 3x3.
    """
    is_matrix = pose.ndim == 4 or (pose.ndim == 3 and joints == 1 and pose.shape[-2:] == (3, 3))
    if is_matrix:
        return pose.reshape(-1, joints, 3, 3)
    return axis_angle_to_matrix(pose.reshape(-1, joints, 3))


class BodyModel(nn.Module):
    """SMPL (real or stand-in) with batched FK to 24 / 29 joints and vertices.

    Args:
        arrays: SMPL-file arrays (see :func:`wavecap.body.smpl_files.load_smpl_arrays`).
        tag: ``"smpl"`` or ``"stand-in"``; written into every artifact's
            ``body_model`` attribute.
        num_betas: shape coefficients used (at most the file's).
    """

    def __init__(self, arrays: dict[str, np.ndarray], tag: str, num_betas: int = 10) -> None:
        super().__init__()
        num_betas = min(num_betas, arrays["shapedirs"].shape[-1])
        struct = Struct(**{key: arrays[key] for key in
                           ("v_template", "f", "weights", "J_regressor", "shapedirs", "posedirs", "kintree_table")})
        # smplx prints a warning for every 10-beta model; it is expected here.
        with contextlib.redirect_stdout(io.StringIO()):
            self.smpl = smplx.SMPLLayer(model_path=None, data_struct=struct, num_betas=num_betas)
        self.tag = tag
        self.num_betas = num_betas
        leaves = torch.tensor(LEAF_VERTEX_IDS)
        # Joint regression and leaf vertices are linear in beta: precompute
        # them so joint-only FK never touches the 6890 vertices.
        smpl = self.smpl
        self.register_buffer("j_template", smpl.J_regressor @ smpl.v_template)  # [24, 3]
        self.register_buffer("j_shapedirs", torch.einsum("jv,vck->jck", smpl.J_regressor, smpl.shapedirs))  # [24, 3, K]
        self.register_buffer("leaf_template", smpl.v_template[leaves])  # [5, 3]
        self.register_buffer("leaf_shapedirs", smpl.shapedirs[leaves])  # [5, 3, K]
        posedirs = smpl.posedirs.reshape(smpl.posedirs.shape[0], -1, 3)  # [207, V, 3]
        self.register_buffer("leaf_posedirs", posedirs[:, leaves].reshape(posedirs.shape[0], -1))  # [207, 15]
        self.register_buffer("leaf_weights", smpl.lbs_weights[leaves])  # [5, 24]
        self.parents = list(SMPL_PARENTS)

    @property
    def is_standin(self) -> bool:
        """True for the generated stand-in body (not licensed SMPL data)."""
        return self.tag == STANDIN_TAG

    @property
    def faces(self) -> np.ndarray:
        """[F, 3] triangle indices."""
        return np.asarray(self.smpl.faces, dtype=np.int64)

    def _betas(self, betas: torch.Tensor | None, batch: int) -> torch.Tensor:
        dtype, device = self.j_template.dtype, self.j_template.device
        if betas is None:
            return torch.zeros(batch, self.num_betas, dtype=dtype, device=device)
        betas = betas.to(dtype)[..., : self.num_betas]
        return betas.expand(batch, -1) if betas.shape[0] == 1 else betas

    def rest_joints(self, betas: torch.Tensor | None = None, batch: int = 1) -> torch.Tensor:
        """[B, 29, 3] rest-pose joints (24 + leaves) for shapes ``betas`` [B, K]."""
        betas = self._betas(betas, batch if betas is None else betas.shape[0])
        joints = self.j_template + torch.einsum("jck,bk->bjc", self.j_shapedirs, betas)
        leaves = self.leaf_template + torch.einsum("lck,bk->blc", self.leaf_shapedirs, betas)
        return torch.cat([joints, leaves], dim=1)

    def forward(
        self,
        global_orient: torch.Tensor,
        body_pose: torch.Tensor,
        betas: torch.Tensor | None = None,
        transl: torch.Tensor | None = None,
        return_vertices: bool = True,
    ) -> BodyOutput:
        """Pose the body.

        Args:
            global_orient: root rotation, axis-angle [B, 3] or matrix [B, 3, 3].
            body_pose: 23 local rotations, axis-angle [B, 69] / [B, 23, 3] or
                matrices [B, 23, 3, 3].
            betas: [B, K] or [1, K] shape coefficients; zeros when None.
            transl: [B, 3] metres, added to every output point.
            return_vertices: full LBS over all vertices (slower) when True;
                otherwise only joints and leaf vertices are computed.
        """
        root = _rotmats(global_orient, 1)
        body = _rotmats(body_pose, NUM_SMPL_JOINTS - 1)
        rot = torch.cat([root, body], dim=1).to(self.j_template.dtype)  # [B, 24, 3, 3]
        batch = rot.shape[0]
        betas = self._betas(betas, batch)
        transl = torch.zeros(batch, 3, dtype=rot.dtype, device=rot.device) if transl is None else transl.to(rot.dtype)

        rest = self.rest_joints(betas)  # [B, 29, 3]
        joints, transforms = batch_rigid_transform(rot, rest[:, :NUM_SMPL_JOINTS], self.smpl.parents)
        vertices = None
        if return_vertices:
            out = self.smpl(global_orient=root.to(rot.dtype), body_pose=body.to(rot.dtype), betas=betas)
            vertices = out.vertices + transl[:, None]
        # Leaves by the same LBS smplx applies to vertices, on five vertices only.
        pose_feature = (rot[:, 1:] - torch.eye(3, dtype=rot.dtype, device=rot.device)).reshape(batch, -1)  # [B, 207]
        leaf_rest = rest[:, NUM_SMPL_JOINTS:] + (pose_feature @ self.leaf_posedirs).reshape(batch, -1, 3)
        skin = torch.einsum("lj,bjxy->blxy", self.leaf_weights, transforms)  # [B, 5, 4, 4]
        leaves = torch.einsum("blxy,bly->blx", skin[..., :3, :3], leaf_rest) + skin[..., :3, 3]
        joints = joints + transl[:, None]
        global_transforms = transforms.clone()
        global_transforms[..., :3, 3] = joints  # joint positions, not LBS offsets
        return BodyOutput(
            joints=joints,
            joints29=torch.cat([joints, leaves + transl[:, None]], dim=1),
            vertices=vertices,
            transforms=global_transforms,
        )


def build_body_model(source: str = STANDIN_TAG, gender: str = "neutral", num_betas: int = 10) -> BodyModel:
    """Build the body model from ``"stand-in"`` or a user's SMPL file / folder.

    Args:
        source: ``"stand-in"``, a model file (``.npz`` or official ``.pkl``),
            or a folder holding one (see :func:`find_smpl_file`).
        gender: which model to pick from a folder.
        num_betas: shape coefficients to use.

    Raises:
        BodyModelError: the file cannot be found or read.
    """
    if source == STANDIN_TAG:
        return BodyModel(standin_arrays(), STANDIN_TAG, num_betas)
    path = Path(source).expanduser()
    if path.is_dir():
        path = find_smpl_file(path, gender)
    arrays = load_smpl_arrays(path)
    tag = str(arrays["body_model"]) if "body_model" in arrays else "smpl"
    if arrays["v_template"].shape != (6890, 3) or arrays["kintree_table"].shape != (2, 24):
        raise BodyModelError(f"{path}: not an SMPL body (v_template {arrays['v_template'].shape}, "
                             f"kintree_table {arrays['kintree_table'].shape})")
    return BodyModel(arrays, tag, num_betas)
