"""Physical-plausibility and accuracy metrics of a motion (``metrics.md`` definitions).

Inputs are world-frame positions in metres (z up, floor ``floor_z``) sampled
at ``fps``; outputs use the units of the published definitions:

=================  =====================================================  ===========
metric             definition                                             unit
=================  =====================================================  ===========
foot skating (FS)  mean displacement of the SMPL foot vertices            mm / frame
                   (3216, 3387, 6617, 6787) over frame pairs in contact   at ``fps``
penetrate          mean over frames of the depth of the lowest mesh       mm
                   vertex when it is more than 5 mm below the floor
float              mean over frames of the height of the lowest vertex    mm
                   when it is more than 5 mm above the floor
jitter             mean over frames and joints of ||3rd difference|| *    10 m/s^3
                   fps^3 / 10
accel error        mean over frames of mean_j ||2nd diff pred - 2nd diff  m/s^2
                   GT|| * fps^2
MPJPE              mean over frames and joints of ||pred - GT||           mm
=================  =====================================================  ===========

Protocol choices, stated because ``metrics.md`` lists several variants:

* FS (``metrics.md`` 4.1, WHAM/GVHMR) gates by contact: a (frame, vertex)
  pair counts when the ground-truth vertex moves less than 1 cm from frame t
  to t + 1, or when explicit contacts mark the point in contact at both t and
  t + 1. WaveCap measures the *horizontal* displacement by default (the
  skating part; vertical motion in contact is penetration/float);
  ``horizontal=False`` gives WHAM's 3-D displacement. mm per frame depends on
  the frame rate: multiply by ``fps`` for mm/s.
* Penetrate / Float (4.3, PhysDiff/UHC) use the lowest of all given points
  per frame (the whole mesh for the UHC protocol) with UHC's 5 mm tolerance;
  frames within the tolerance count as 0 and every frame is averaged.
* Jitter (3.2) needs no ground truth and is computed on global joints.
* Accel error (3.1) is computed on pelvis-aligned joints, MPJPE (2.1) without
  alignment (world frame, what physics changes) unless ``align_root``.
"""

from __future__ import annotations

import numpy as np
import torch

from wavecap import metrics as pose_metric
from wavecap.body import FOOT_VERTEX_IDS, BodyModel

# WHAM/GVHMR FS vertices (big toes and heels).
FS_VERTEX_IDS: tuple[int, ...] = (
    FOOT_VERTEX_IDS["left_toe"], FOOT_VERTEX_IDS["left_heel"], FOOT_VERTEX_IDS["right_toe"], FOOT_VERTEX_IDS["right_heel"],
)
GT_CONTACT_STEP_M = 0.01  # WHAM: a GT vertex moving < 1 cm per frame is in contact
GROUND_TOLERANCE_M = 0.005  # UHC: penetration / float below 5 mm is not counted


def _check(points: np.ndarray, name: str, ndim: int = 3) -> np.ndarray:
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != ndim or array.shape[-1] != 3:
        raise ValueError(f"{name} must be [T, N, 3] positions, got shape {array.shape}")
    return array


def posed_body(
    model: BodyModel,
    global_orient: np.ndarray,
    body_pose: np.ndarray,
    betas: np.ndarray,
    transl: np.ndarray,
    batch: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """Joints and mesh of a motion, posed in batches.

    Args:
        model: the body model.
        global_orient: [T, 3] world root axis-angle.
        body_pose: [T, 69] local joint axis-angles.
        betas: [10] shape.
        transl: [T, 3] translation (m, world).
        batch: frames per body-model call.

    Returns:
        joints [T, 24, 3] and vertices [T, V, 3], float64, metres, world.
    """
    frames = len(global_orient)
    joints, vertices = [], []
    betas_t = torch.as_tensor(np.asarray(betas), dtype=torch.float32).reshape(1, -1)
    with torch.no_grad():
        for start in range(0, frames, batch):
            part = slice(start, start + batch)
            out = model(torch.as_tensor(global_orient[part], dtype=torch.float32),
                        torch.as_tensor(body_pose[part], dtype=torch.float32), betas_t,
                        torch.as_tensor(transl[part], dtype=torch.float32))
            joints.append(out.joints.double().numpy())
            vertices.append(out.vertices.double().numpy())
    return np.concatenate(joints), np.concatenate(vertices)


def foot_skating(
    points: np.ndarray,
    contacts: np.ndarray | None = None,
    gt_points: np.ndarray | None = None,
    horizontal: bool = True,
) -> float:
    """Foot skating FS: mean foot-point displacement while in contact (mm per frame).

    Args:
        points: [T, P, 3] predicted foot points (the FS vertices, m, world).
        contacts: [T, P] bool contacts; a pair (t, t + 1) counts when both
            frames are in contact. Used when given.
        gt_points: [T, P, 3] ground-truth points; otherwise a pair counts when
            the GT point moves < 1 cm from t to t + 1 (WHAM/GVHMR).
        horizontal: measure the xy displacement (WaveCap) instead of 3-D (WHAM).

    Returns:
        Mean displacement over contact pairs, mm per frame at the motion's
        frame rate (0 when no pair is in contact).

    Raises:
        ValueError: neither ``contacts`` nor ``gt_points`` is given, or shapes differ.
    """
    points = _check(points, "points")
    if contacts is not None:
        contacts = np.asarray(contacts, dtype=bool)
        if contacts.shape != points.shape[:2]:
            raise ValueError(f"contacts {contacts.shape} do not match points {points.shape}")
        in_contact = contacts[:-1] & contacts[1:]  # [T-1, P]
    elif gt_points is not None:
        gt_points = _check(gt_points, "gt_points")
        if gt_points.shape != points.shape:
            raise ValueError(f"gt_points {gt_points.shape} do not match points {points.shape}")
        in_contact = np.linalg.norm(np.diff(gt_points, axis=0), axis=-1) < GT_CONTACT_STEP_M  # [T-1, P]
    else:
        raise ValueError("foot_skating needs contacts or ground-truth points to gate contact")
    step = np.diff(points, axis=0)  # [T-1, P, 3]
    if horizontal:
        step = step[..., :2]
    displacement = np.linalg.norm(step, axis=-1)  # [T-1, P]
    if not in_contact.any():
        return 0.0
    return float(displacement[in_contact].mean() * 1000.0)


def lowest_heights(points: np.ndarray, floor_z: float = 0.0) -> np.ndarray:
    """[T] height of each frame's lowest point above the floor (m, negative below)."""
    return _check(points, "points")[..., 2].min(axis=1) - floor_z


def penetration(points: np.ndarray, floor_z: float = 0.0, tolerance: float = GROUND_TOLERANCE_M) -> float:
    """Penetrate: mean over frames of the lowest point's depth below the floor (mm).

    Args:
        points: [T, N, 3] body points (the mesh vertices for the UHC protocol), m.
        floor_z: floor height (m).
        tolerance: depths up to this count as 0 (m); 0 counts every depth.

    Returns:
        mm, averaged over all frames (frames above the floor count as 0).
    """
    depth = -lowest_heights(points, floor_z)  # [T]
    return float(np.where(depth > tolerance, depth, 0.0).mean() * 1000.0)


def floating(points: np.ndarray, floor_z: float = 0.0, tolerance: float = GROUND_TOLERANCE_M) -> float:
    """Float: mean over frames of the lowest point's height above the floor (mm).

    Args:
        points: [T, N, 3] body points (the mesh vertices for the UHC protocol), m.
        floor_z: floor height (m).
        tolerance: heights up to this count as 0 (m).

    Returns:
        mm, averaged over all frames (flight phases count too, as in UHC).
    """
    height = lowest_heights(points, floor_z)  # [T]
    return float(np.where(height > tolerance, height, 0.0).mean() * 1000.0)


def jitter(joints: np.ndarray, fps: float) -> float:
    """Jitter: mean ||third finite difference|| * fps^3 / 10 (units of 10 m/s^3).

    Args:
        joints: [T, J, 3] global joint positions (m), T >= 4.
        fps: frame rate.
    """
    per_joint = pose_metric.jitter(_check(joints, "joints"))  # [T-3, J] mm / frame^3
    return float(per_joint.mean() / 1000.0 * fps**3 / 10.0)


def accel_error(joints: np.ndarray, gt_joints: np.ndarray, fps: float, align_root: bool = True) -> float:
    """Acceleration error: mean over frames of mean_j ||a_pred - a_GT|| (m/s^2).

    Args:
        joints: [T, J, 3] predicted joints (m), T >= 3.
        gt_joints: [T, J, 3] ground-truth joints.
        fps: frame rate (second differences are scaled by fps^2).
        align_root: subtract joint 0 (pelvis) per frame first (WHAM/GVHMR).
    """
    joints, gt_joints = _check(joints, "joints"), _check(gt_joints, "gt_joints")
    if not align_root:  # accel_errors root-aligns; a zero root keeps the global motion
        joints = np.concatenate([np.zeros_like(joints[:, :1]), joints], axis=1)
        gt_joints = np.concatenate([np.zeros_like(gt_joints[:, :1]), gt_joints], axis=1)
    per_joint = pose_metric.accel_errors(joints, gt_joints)  # [T-2, J(+1)] mm / frame^2
    if not align_root:
        per_joint = per_joint[:, 1:]
    return float(per_joint.mean() / 1000.0 * fps**2)


def mpjpe(joints: np.ndarray, gt_joints: np.ndarray, align_root: bool = False) -> float:
    """Mean per-joint position error (mm), world frame unless ``align_root``.

    Args:
        joints: [T, J, 3] predicted joints (m).
        gt_joints: [T, J, 3] ground truth (m).
        align_root: subtract joint 0 (pelvis) from both per frame.
    """
    joints, gt_joints = _check(joints, "joints"), _check(gt_joints, "gt_joints")
    return float(pose_metric.joint_errors(joints, gt_joints, "root" if align_root else "none").mean())


def motion_metrics(
    joints: np.ndarray,
    vertices: np.ndarray,
    fps: float,
    floor_z: float = 0.0,
    gt_joints: np.ndarray | None = None,
    gt_vertices: np.ndarray | None = None,
    contacts: np.ndarray | None = None,
) -> dict[str, float]:
    """Every metric of this module for one posed motion.

    Args:
        joints: [T, 24, 3] joints (m, world).
        vertices: [T, V, 3] SMPL mesh vertices (m, world).
        fps: frame rate.
        floor_z: floor height (m).
        gt_joints: [T, 24, 3] ground truth, enables MPJPE and accel error.
        gt_vertices: [T, V, 3] ground-truth mesh, gates FS by GT motion.
        contacts: [T, 4] bool contacts of the FS vertices (toe, heel, toe,
            heel order of :data:`FS_VERTEX_IDS`), gates FS when given.

    Returns:
        ``foot_skate_mm`` (mm/frame), ``penetration_mm``, ``float_mm``,
        ``jitter`` (10 m/s^3), and with ground truth ``mpjpe_mm`` (world),
        ``mpjpe_root_mm`` (pelvis-aligned), ``accel_error`` (m/s^2). FS is
        absent when neither contacts nor GT vertices are given.
    """
    ids = list(FS_VERTEX_IDS)
    out = {
        "penetration_mm": penetration(vertices, floor_z),
        "float_mm": floating(vertices, floor_z),
        "jitter": jitter(joints, fps),
    }
    if contacts is not None or gt_vertices is not None:
        gt_feet = None if gt_vertices is None else np.asarray(gt_vertices)[:, ids]
        out["foot_skate_mm"] = foot_skating(np.asarray(vertices)[:, ids], contacts, gt_feet)
    if gt_joints is not None:
        out["mpjpe_mm"] = mpjpe(joints, gt_joints)
        out["mpjpe_root_mm"] = mpjpe(joints, gt_joints, align_root=True)
        out["accel_error"] = accel_error(joints, gt_joints, fps)
    return out
