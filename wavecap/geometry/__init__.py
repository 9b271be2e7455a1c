"""Shared geometry: rotations, interpolation, alignment, cameras, transforms, frames.

All functions are torch, batched over leading dims, float32/float64. The
coordinate frames are defined in :mod:`wavecap.geometry.frames`.
"""

from __future__ import annotations

from wavecap.geometry.alignment import apply_rigid, procrustes_align, rigid_align
from wavecap.geometry.camera import intrinsics_matrix, look_at, project_points, unproject_points
from wavecap.geometry.frames import (
    smpl_from_world,
    smpl_global_orient_to_world,
    smpl_to_world_points,
    world_from_smpl,
    world_to_smpl_points,
)
from wavecap.geometry.interpolation import resample_linear, resample_rotations, slerp
from wavecap.geometry.rotations import (
    axis_angle_to_matrix,
    axis_angle_to_quaternion,
    geodesic_distance,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    matrix_to_rotation_6d,
    quaternion_conjugate,
    quaternion_multiply,
    quaternion_to_axis_angle,
    quaternion_to_matrix,
    quaternion_wxyz_to_xyzw,
    quaternion_xyzw_to_wxyz,
    random_rotation_matrix,
    rotation_6d_to_matrix,
    rotation_angle,
)
from wavecap.geometry.transforms import compose, invert_transform, make_transform, transform_points

__all__ = [
    "apply_rigid",
    "axis_angle_to_matrix",
    "axis_angle_to_quaternion",
    "compose",
    "geodesic_distance",
    "intrinsics_matrix",
    "invert_transform",
    "look_at",
    "make_transform",
    "matrix_to_axis_angle",
    "matrix_to_quaternion",
    "matrix_to_rotation_6d",
    "procrustes_align",
    "project_points",
    "quaternion_conjugate",
    "quaternion_multiply",
    "quaternion_to_axis_angle",
    "quaternion_to_matrix",
    "quaternion_wxyz_to_xyzw",
    "quaternion_xyzw_to_wxyz",
    "random_rotation_matrix",
    "resample_linear",
    "resample_rotations",
    "rigid_align",
    "rotation_6d_to_matrix",
    "rotation_angle",
    "slerp",
    "smpl_from_world",
    "smpl_global_orient_to_world",
    "smpl_to_world_points",
    "transform_points",
    "unproject_points",
    "world_from_smpl",
    "world_to_smpl_points",
]
