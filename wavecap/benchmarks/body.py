"""Section ``body``: batched forward kinematics of the body model.

Keys:
    body.fk_frames_per_s: frames/s of batched FK (24 joints + all vertices),
        float32, ``cfg.body_bench.batch`` frames per call.
    body.fk_joints_only_frames_per_s: the same without vertices (29 joints).
    body.fk_max_error_m: max |joint or vertex difference| in metres against
        an independent float64 NumPy FK + LBS on the same random poses.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from wavecap.benchmarks.timing import median_seconds
from wavecap.body import build_body_model
from wavecap.body.skeleton import SMPL_PARENTS
from wavecap.geometry.rotations import axis_angle_to_matrix


def _reference_fk(rot: np.ndarray, rest_v: np.ndarray, rest_j: np.ndarray, weights: np.ndarray) -> tuple:
    """Plain float64 FK + LBS of posed rest vertices: joints [B, 24, 3], vertices [B, V, 3]."""
    batch = rot.shape[0]
    world = np.zeros((batch, 24, 4, 4))
    for j, parent in enumerate(SMPL_PARENTS):
        local = np.tile(np.eye(4), (batch, 1, 1))
        local[:, :3, :3] = rot[:, j]
        local[:, :3, 3] = rest_j[:, j] - (rest_j[:, parent] if parent >= 0 else 0.0)
        world[:, j] = local if parent < 0 else world[:, parent] @ local
    joints = world[:, :, :3, 3]
    skin = world.copy()
    skin[:, :, :3, 3] -= np.einsum("bjxy,bjy->bjx", world[:, :, :3, :3], rest_j)
    blended = np.einsum("vj,bjxy->bvxy", weights, skin)
    verts = np.einsum("bvxy,bvy->bvx", blended[..., :3, :3], rest_v) + blended[..., :3, 3]
    return joints, verts


def run(cfg: Any) -> dict[str, float]:
    """Measure the body section (see module docstring)."""
    bench = cfg.body_bench
    generator = torch.Generator().manual_seed(int(cfg.seed))
    model = build_body_model(cfg.body.source, cfg.body.gender, cfg.body.num_betas)
    batch = int(bench.batch)
    pose = torch.randn(batch, 24, 3, generator=generator) * 0.4
    betas = torch.randn(batch, model.num_betas, generator=generator)
    transl = torch.randn(batch, 3, generator=generator)

    with torch.inference_mode():
        full = median_seconds(lambda: model(pose[:, 0], pose[:, 1:], betas, transl), int(bench.repeats))
        joints_only = median_seconds(
            lambda: model(pose[:, 0], pose[:, 1:], betas, transl, return_vertices=False), int(bench.repeats)
        )
        out = model(pose[:, 0], pose[:, 1:], betas, transl)

    n_check = min(batch, int(bench.check_frames))
    rot = axis_angle_to_matrix(pose[:n_check].double()).numpy()
    smpl = model.smpl
    v_shaped = smpl.v_template.double() + torch.einsum("vck,bk->bvc", smpl.shapedirs.double(), betas[:n_check].double())
    rest_j = torch.einsum("jv,bvc->bjc", smpl.J_regressor.double(), v_shaped).numpy()
    pose_feature = (rot[:, 1:] - np.eye(3)).reshape(n_check, -1)  # [B, 207]
    v_posed = v_shaped.numpy() + (pose_feature @ smpl.posedirs.double().numpy()).reshape(n_check, -1, 3)
    ref_j, ref_v = _reference_fk(rot, v_posed, rest_j, smpl.lbs_weights.double().numpy())
    offset = transl[:n_check].double().numpy()[:, None]
    error = max(
        np.abs(out.joints[:n_check].double().numpy() - (ref_j + offset)).max(),
        np.abs(out.vertices[:n_check].double().numpy() - (ref_v + offset)).max(),
    )
    return {
        "body.model": model.tag,
        "body.batch": batch,
        "body.fk_frames_per_s": batch / full,
        "body.fk_joints_only_frames_per_s": batch / joints_only,
        "body.fk_max_error_m": float(error),
    }
