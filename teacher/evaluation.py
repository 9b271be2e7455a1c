"""Accuracy of teacher labels against a session's ground truth.

MPJPE here is root-relative (both skeletons translated so the pelvis is at
the origin, no rotation); PA-MPJPE aligns each predicted frame to the ground
truth by the best similarity transform first. Both over the 24 SMPL joints,
in millimetres, over the frames the labels mark valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

import wavecap
from wavecap.datasets import open_session
from wavecap.geometry import procrustes_align, resample_linear
from wavecap.teacher.labeling import read_track

CONFIG_DIR = Path(wavecap.__file__).resolve().parent.parent / "configs"


def joint_errors_mm(pred: torch.Tensor, gt: torch.Tensor) -> dict[str, float]:
    """Root-relative MPJPE and PA-MPJPE (mm) of [T, 24, 3] joint tracks (metres)."""
    pred, gt = pred.double(), gt.double()
    rel_pred, rel_gt = pred - pred[:, :1], gt - gt[:, :1]
    mpjpe = torch.linalg.vector_norm(rel_pred - rel_gt, dim=-1).mean()
    pa = torch.linalg.vector_norm(procrustes_align(pred, gt) - gt, dim=-1).mean()
    return {"mpjpe_mm": 1000 * float(mpjpe), "pa_mpjpe_mm": 1000 * float(pa), "frames": int(pred.shape[0])}


def evaluate_camera_labels(path: str, camera_run: str) -> dict[str, float]:
    """Errors of ``/labels/<camera_run>`` (camera clock, camera frame) vs the ground truth.

    Ground-truth joints are interpolated linearly to the camera times and
    moved into the camera frame; the valid fraction is reported too.
    """
    track = read_track(path, camera_run)
    with open_session(path) as s:
        gt = s.ground_truth
        joints = torch.as_tensor(gt.field("joints")[:, :24], dtype=torch.float64)
        gt_times = torch.as_tensor(gt.timestamps.copy())
        times = torch.as_tensor(s.camera.timestamps.copy())
        T_cw = torch.linalg.inv(torch.as_tensor(s.camera.T_world_from_camera))
    gt_cam = resample_linear(gt_times, joints, times) @ T_cw[:3, :3].T + T_cw[:3, 3]
    valid = track.valid
    errors = joint_errors_mm(track.joints29[valid, :24], gt_cam[valid])
    errors["valid_fraction"] = float(valid.double().mean())
    return errors


def label_config(overrides: Mapping[str, Any] | None = None) -> DictConfig:
    """``configs/label_with_teacher.yaml`` with its defaults merged, plus overrides.

    For callers inside another hydra app (training, benchmarks), where a
    second hydra compose is not possible.
    """
    main = OmegaConf.load(CONFIG_DIR / "label_with_teacher.yaml")
    groups: dict[str, Any] = {}
    for item in main.pop("defaults"):
        if isinstance(item, str) or "_self_" in item:
            continue
        (group, name), = item.items()
        groups[group] = OmegaConf.load(CONFIG_DIR / group / f"{name}.yaml")
    main.pop("hydra", None)
    cfg = OmegaConf.merge(OmegaConf.create(groups), main)
    for key, value in (overrides or {}).items():
        OmegaConf.update(cfg, key, value, force_add=True)
    return cfg


def mean_errors(results: list[dict[str, float]]) -> dict[str, float]:
    """Frame-weighted mean of several sessions' errors."""
    frames = np.array([r["frames"] for r in results], dtype=float)
    return {k: float(np.average([r[k] for r in results], weights=frames)) for k in ("mpjpe_mm", "pa_mpjpe_mm")}
