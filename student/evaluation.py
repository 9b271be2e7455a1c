"""Evaluation of predicted joints against a session's ground truth (``scripts/evaluate.py``).

Both sides are compared in the WORLD frame (z-up, metres) on the prediction's
radar frames: the ground truth is resampled to those times
(:func:`~wavecap.student.labels.ground_truth_as_labels`); frames outside the
ground truth's span, or without a valid label, are left out. The metrics and
their alignments are :func:`wavecap.metrics.pose_metrics`'.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from wavecap.body import BodyModel
from wavecap.body.skeleton import HYBRIK_JOINT_NAMES
from wavecap.datasets import open_session
from wavecap.errors import DataError
from wavecap.metrics import pose_metrics
from wavecap.student.inference import read_predictions_h5
from wavecap.student.labels import ground_truth_as_labels, read_label_run, transform_labels


def predicted_world_joints(pred: str, body_model: BodyModel, run: str | None = None
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Timestamps [T], world joints [T, 29, 3] and valid [T] of a predictions file or a session label run."""
    if run is None:
        values = read_predictions_h5(pred)
        joints = values.get("physics/joints29", values["world/joints29"])
        return values["timestamps"], joints, np.ones(len(joints), bool)
    with open_session(pred) as session:
        labels = read_label_run(session, run)
        times, T = np.array(session.radar.timestamps), np.array(session.radar.T_world_from_radar)
    world = transform_labels(labels, T, "world", body_model)
    return times, world.joints29, world.valid


def evaluate(pred: str, gt: str, body_model: BodyModel, pred_run: str | None = None, joints: int = 24,
             pck_threshold_mm: float = 150.0, valid_run: str | None = None) -> dict[str, object]:
    """Metrics of predicted joints against ground truth (world frame; see module docstring).

    Args:
        pred: a predictions file, or a session when ``pred_run`` names its label run.
        gt: the session with the ground truth.
        body_model: FK of labels and ground truth.
        pred_run: score ``/labels/<pred_run>`` of ``pred`` instead of a predictions file.
        joints: the first this many SMPL joints are scored.
        pck_threshold_mm: PCK3D threshold.
        valid_run: also leave out the frames that ``gt``'s ``/labels/<valid_run>`` marks
            invalid, so that two predictions (e.g. a student and its teacher's
            labels) are scored on the same frames.

    Raises:
        DataError: ``valid_run``'s frames are not the prediction's frames.
    """
    times, pred_joints, valid = predicted_world_joints(pred, body_model, pred_run)
    with open_session(gt) as session:
        truth = ground_truth_as_labels(session, body_model, frame="world", times=times)
    keep = valid & truth.valid
    if valid_run is not None:
        run_times, _, run_valid = predicted_world_joints(gt, body_model, valid_run)
        if len(run_times) != len(times) or not np.allclose(run_times, times):
            raise DataError(f"label run '{valid_run}' is not on the prediction's {len(times)} frames", file=str(gt),
                            group=f"/labels/{valid_run}", field="timestamps")
        keep &= run_valid
    fps = float(1.0 / np.median(np.diff(times)))
    result = pose_metrics(pred_joints[keep, :joints], truth.joints29[keep, :joints], fps,
                          list(HYBRIK_JOINT_NAMES[:joints]), pck_threshold_mm)
    result.update({"frame": "world (z-up, m)", "pred": str(pred), "gt": str(gt), "frames_skipped": int((~keep).sum()),
                   "times": times[keep].tolist()})
    return result


def write_report(result: dict[str, object], out_dir: str | Path, plots: bool = True) -> None:
    """``metrics.json`` and, with ``plots``, ``per_joint.png`` (bar chart) and ``over_time.png``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(result, indent=1))
    if not plots:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_joint = result["per_joint"]
    names = list(per_joint["mpjpe_mm"])
    fig, ax = plt.subplots(figsize=(12, 4))
    x = np.arange(len(names))
    ax.bar(x - 0.2, [per_joint["mpjpe_mm"][n] for n in names], 0.4, label="MPJPE (root-aligned)")
    ax.bar(x + 0.2, [per_joint["pa_mpjpe_mm"][n] for n in names], 0.4, label="PA-MPJPE")
    ax.set_xticks(x, names, rotation=70, fontsize=7)
    ax.set_ylabel("mm")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "per_joint.png", dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(10, 3.5))
    for key, label in (("mpjpe_mm", "MPJPE (root-aligned)"), ("pa_mpjpe_mm", "PA-MPJPE")):
        ax.plot(result["times"], result["per_frame"][key], label=label)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mm")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "over_time.png", dpi=100)
    plt.close(fig)
