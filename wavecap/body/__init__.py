"""The shared body model: SMPL through smplx, or the generated stand-in."""

from wavecap.body.model import BodyModel, BodyOutput, build_body_model
from wavecap.body.skeleton import (
    FOOT_VERTEX_IDS,
    HYBRIK_JOINT_NAMES,
    HYBRIK_PARENTS,
    LEAF_VERTEX_IDS,
    SMPL_JOINT_NAMES,
    SMPL_PARENTS,
    SMPL_REST_JOINTS,
)
from wavecap.body.standin import STANDIN_TAG, standin_arrays

__all__ = [
    "BodyModel", "BodyOutput", "build_body_model", "FOOT_VERTEX_IDS", "HYBRIK_JOINT_NAMES",
    "HYBRIK_PARENTS", "LEAF_VERTEX_IDS", "SMPL_JOINT_NAMES", "SMPL_PARENTS", "SMPL_REST_JOINTS",
    "STANDIN_TAG", "standin_arrays",
]
