"""Pose-accuracy and temporal metrics (``metrics.md`` 2-3), per joint and overall.

Inputs are joint positions ``[T, J, 3]`` in metres, prediction and ground
truth in the same frame and on the same frames; outputs are millimetres.
Every metric states its alignment:

=============  ===========================================  ==========================
metric         alignment                                    unit
=============  ===========================================  ==========================
MPJPE          root-aligned (joint 0 subtracted per frame)  mm
PA-MPJPE       Procrustes (similarity: R, t, s) per frame   mm
MAE x/y/z      root-aligned, axes of the input frame        mm
PCK3D          root-aligned, error < threshold (150 mm)     % of joints
accel error    root-aligned, ||2nd diff pred - 2nd diff GT||  mm / frame^2 at the input fps
jitter         none (prediction only), ||3rd difference||   mm / frame^3 at the input fps
=============  ===========================================  ==========================

The functions return per-frame-per-joint errors ``[T', J]``; :func:`pose_metrics`
averages them per joint and overall.
"""

from __future__ import annotations

import numpy as np
import torch

from wavecap.geometry import procrustes_align

PCK_THRESHOLD_MM = 150.0


def _pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[-1] != 3:
        raise ValueError(f"pred and gt must both be [T, J, 3], got {pred.shape} and {gt.shape}")
    return pred, gt


def root_aligned(joints: np.ndarray, root: int = 0) -> np.ndarray:
    """[T, J, 3] joints relative to joint ``root`` of each frame."""
    return joints - joints[:, root:root + 1]


def joint_errors(pred: np.ndarray, gt: np.ndarray, alignment: str = "root") -> np.ndarray:
    """Per-joint position error.

    Args:
        pred: [T, J, 3] m.
        gt: [T, J, 3] m, same frame.
        alignment: ``"root"`` (MPJPE), ``"procrustes"`` (PA-MPJPE) or ``"none"``.

    Returns:
        [T, J] errors in mm.
    """
    pred, gt = _pair(pred, gt)
    if alignment == "root":
        pred, gt = root_aligned(pred), root_aligned(gt)
    elif alignment == "procrustes":
        pred = procrustes_align(torch.from_numpy(pred), torch.from_numpy(gt)).numpy()
    elif alignment != "none":
        raise ValueError(f"alignment must be 'root', 'procrustes' or 'none', got {alignment!r}")
    return np.linalg.norm(pred - gt, axis=-1) * 1000.0


def axis_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """[T, J, 3] absolute root-aligned error per axis of the input frame (mm)."""
    pred, gt = _pair(pred, gt)
    return np.abs(root_aligned(pred) - root_aligned(gt)) * 1000.0


def accel_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """[T-2, J] ||second difference of pred - of gt|| of root-aligned joints (mm / frame^2)."""
    pred, gt = _pair(pred, gt)
    diff = root_aligned(pred) - root_aligned(gt)
    return np.linalg.norm(diff[:-2] - 2 * diff[1:-1] + diff[2:], axis=-1) * 1000.0


def jitter(joints: np.ndarray) -> np.ndarray:
    """[T-3, J] ||third difference|| of the (unaligned) joints (mm / frame^3)."""
    x = np.asarray(joints, np.float64)
    return np.linalg.norm(x[3:] - 3 * x[2:-1] + 3 * x[1:-2] - x[:-3], axis=-1) * 1000.0


def pose_metrics(pred: np.ndarray, gt: np.ndarray, fps: float, joint_names: list[str] | None = None,
                 pck_threshold_mm: float = PCK_THRESHOLD_MM) -> dict[str, object]:
    """Every metric of this module, overall and per joint.

    Args:
        pred: [T, J, 3] predicted joints (m).
        gt: [T, J, 3] ground truth (m), same frame and frames.
        fps: frame rate of the frames (Hz); recorded, and used for the
            per-second versions of accel error and jitter.
        joint_names: J names for the per-joint table.
        pck_threshold_mm: PCK3D threshold (mm).

    Returns:
        ``overall``: metric -> float; ``per_joint``: metric -> {joint: float};
        ``per_frame``: metric -> list over frames (MPJPE, PA-MPJPE);
        ``units``: metric -> unit and alignment.
    """
    pred, gt = _pair(pred, gt)
    names = joint_names or [str(j) for j in range(pred.shape[1])]
    mpjpe = joint_errors(pred, gt, "root")
    pa = joint_errors(pred, gt, "procrustes")
    axes = axis_errors(pred, gt)
    per: dict[str, np.ndarray] = {"mpjpe_mm": mpjpe, "pa_mpjpe_mm": pa, "pck3d_pct": 100.0 * (mpjpe < pck_threshold_mm)}
    per.update({f"mae_{a}_mm": axes[..., i] for i, a in enumerate("xyz")})
    if len(pred) >= 3:
        per["accel_error_mm_per_frame2"] = accel_errors(pred, gt)
    if len(pred) >= 4:
        per["jitter_mm_per_frame3"] = jitter(pred)
        per["jitter_gt_mm_per_frame3"] = jitter(gt)
    overall = {k: float(v.mean()) for k, v in per.items()}
    if "accel_error_mm_per_frame2" in overall:
        overall["accel_error_m_per_s2"] = overall["accel_error_mm_per_frame2"] * fps**2 / 1000.0
    return {
        "frames": len(pred), "fps": fps, "overall": overall,
        "per_joint": {k: dict(zip(names, map(float, v.mean(0)))) for k, v in per.items()},
        "per_frame": {"mpjpe_mm": mpjpe.mean(1).tolist(), "pa_mpjpe_mm": pa.mean(1).tolist()},
        "units": {
            "mpjpe_mm": "mm, root-aligned (joint 0)", "pa_mpjpe_mm": "mm, Procrustes-aligned per frame",
            "pck3d_pct": f"% of joints with root-aligned error < {pck_threshold_mm} mm",
            "mae_x_mm": "mm, root-aligned, x of the evaluation frame", "mae_y_mm": "mm, root-aligned, y",
            "mae_z_mm": "mm, root-aligned, z", "accel_error_mm_per_frame2": f"mm/frame^2 at {fps:.3g} fps, root-aligned",
            "accel_error_m_per_s2": "m/s^2, root-aligned", "jitter_mm_per_frame3": f"mm/frame^3 at {fps:.3g} fps, global",
        },
    }
