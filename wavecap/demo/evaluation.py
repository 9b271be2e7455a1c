"""Every stage of a demo run scored against the held-out capture's ground truth.

All comparisons are on the held-out capture's radar frames, in the world
frame (z-up, metres), over the 24 SMPL joints:

* teacher vs GT: the teacher's radar-time labels (``/labels/<run>``, moved
  to the world) against the GT resampled to those times; frames the labels
  mark invalid are left out (of student vs teacher too). The camera-clock, camera-frame score of the
  same labels is reported as well (``teacher_camera``).
* student vs GT, student vs teacher, physics vs GT: the same frames.

MPJPE is root-aligned (both pelvises at the origin, no rotation); PA-MPJPE
aligns each predicted frame to the reference by the best similarity
transform (:func:`wavecap.metrics.pose_metrics`). Physical plausibility
(:mod:`wavecap.physics.metrics`): foot skating gated by GT foot-vertex
motion (mm/frame at the radar rate), penetration and float of the lowest
mesh vertex against the floor z = 0 (mm, UHC 5 mm tolerance), jitter
(10 m/s^3) on world joints.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wavecap.body import BodyModel
from wavecap.body.skeleton import SMPL_JOINT_NAMES
from wavecap.datasets import open_session
from wavecap.datasets.motion import Motion
from wavecap.metrics import pose_metrics
from wavecap.physics import metrics as physics_metrics
from wavecap.student.labels import ground_truth_as_labels

from .stages import RunPaths, student_motion

JOINTS = 24


def ground_truth_motion(session_path: str, body_model: BodyModel, times: np.ndarray) -> tuple[Motion, np.ndarray]:
    """GT motion resampled to ``times`` [T] (s, session clock), and its valid mask [T]."""
    with open_session(session_path) as session:
        gt = ground_truth_as_labels(session, body_model, frame="world", times=times)
    fps = float(1.0 / np.median(np.diff(times)))
    motion = Motion(fps=fps, global_orient=gt.global_orient, body_pose=gt.body_pose, betas=gt.betas[0],
                    transl=gt.transl, name="ground truth")
    return motion, gt.valid


def _scores(pred: np.ndarray, ref: np.ndarray, keep: np.ndarray, times: np.ndarray, fps: float) -> dict[str, Any]:
    """pose_metrics over the frames ``keep`` [T]; NaN figures when no frame is left (e.g. no valid label)."""
    names = list(SMPL_JOINT_NAMES[:JOINTS])
    if not keep.any():
        nan = {"mpjpe_mm": float("nan"), "pa_mpjpe_mm": float("nan"), "pck3d_pct": float("nan")}
        return {"overall": nan, "per_joint": {k: dict.fromkeys(names, float("nan")) for k in nan},
                "per_frame": {"mpjpe_mm": [], "pa_mpjpe_mm": []}, "times": times[keep], "frames": 0}
    result = pose_metrics(pred[keep, :JOINTS], ref[keep, :JOINTS], fps, names)
    return {"overall": result["overall"], "per_joint": result["per_joint"], "per_frame": result["per_frame"],
            "times": times[keep], "frames": int(keep.sum())}


def evaluate_run(paths: RunPaths, body_model: BodyModel, label_run: str, camera_run: str,
                 refined: Motion) -> dict[str, Any]:
    """Scores of every stage (see the module docstring).

    Returns:
        ``times`` [T] (s); ``accuracy``: comparison name -> {``overall``,
        ``per_joint``, ``per_frame``, ``times``, ``frames``}; ``physics``: "ground truth" /
        "before" (student) / "after" (refined) -> plausibility metrics;
        ``keep`` [T] frames within the GT's span; the motions and joints for the plots.
    """
    from wavecap.student.evaluation import predicted_world_joints
    from wavecap.teacher.evaluation import evaluate_camera_labels

    student, _, times = student_motion(paths)
    gt, gt_valid = ground_truth_motion(str(paths.heldout), body_model, times)
    label_times, teacher_joints, teacher_valid = predicted_world_joints(str(paths.heldout), body_model, label_run)
    if len(label_times) != len(times) or not np.allclose(label_times, times):
        raise ValueError("teacher labels and student predictions are not on the same radar frames")
    posed = {name: physics_metrics.posed_body(body_model, m.global_orient, m.body_pose, m.betas, m.transl)
             for name, m in (("ground truth", gt), ("before", student), ("after", refined))}
    gt_joints, gt_vertices = posed["ground truth"]
    labelled = gt_valid & teacher_valid
    fps = student.fps
    accuracy = {
        "teacher vs GT": _scores(teacher_joints, gt_joints, labelled, times, fps),
        "student vs GT": _scores(posed["before"][0], gt_joints, gt_valid, times, fps),
        "student vs teacher": _scores(posed["before"][0], teacher_joints, labelled, times, fps),
        "physics vs GT": _scores(posed["after"][0], gt_joints, gt_valid, times, fps),
    }
    physics = {name: physics_metrics.motion_metrics(j[gt_valid], v[gt_valid], fps, 0.0, gt_joints[gt_valid],
                                                    gt_vertices[gt_valid])
               for name, (j, v) in posed.items()}
    return {"times": times, "keep": gt_valid, "fps": fps, "accuracy": accuracy, "physics": physics,
            "teacher_camera": evaluate_camera_labels(str(paths.heldout), camera_run),
            "motions": {"ground truth": gt, "student": student, "refined": refined},
            "joints": {"ground truth": gt_joints, "teacher": teacher_joints, "student": posed["before"][0],
                       "refined": posed["after"][0]}}
