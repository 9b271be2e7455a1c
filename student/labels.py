"""Per-radar-frame SMPL labels: teacher label runs and ground truth in one structure.

A :class:`LabelSequence` holds the fields of the teacher's label contract
(``/labels/<run>`` on the radar timebase): ``global_orient`` [T, 3] and
``body_pose`` [T, 69] axis-angle, ``betas`` [T, 10], ``transl`` [T, 3] m,
``joints29`` [T, 29, 3] m, ``joint_confidence`` [T, 29] and ``confidence`` [T]
in [0, 1], ``valid`` [T] bool, and the ``frame`` the SMPL parameters and
joints are expressed in (``"radar"``: ``body_model(params)`` gives radar-frame
points; ``"world"``: world z-up).

:func:`ground_truth_as_labels` builds the same structure from
``/ground_truth`` (SLERP / linear resampling to the radar timestamps, then a
change of frame), for ``targets=ground_truth`` training and for evaluation.
:func:`transform_smpl` moves SMPL parameters between frames: the rotation
composes with the root orientation, but ``transl`` is not a point (SMPL
rotates about the rest pelvis J0), so ``transl' = R (J0 + transl) + t - J0``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from wavecap.body import BodyModel
from wavecap.datasets import Session
from wavecap.errors import DataError
from wavecap.geometry import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    resample_linear,
    resample_rotations,
)

LABEL_FIELDS: dict[str, tuple[int, ...]] = {
    "global_orient": (3,), "body_pose": (69,), "betas": (10,), "transl": (3,), "joints29": (29, 3),
    "joint_confidence": (29,), "confidence": (), "valid": (),
}
FRAMES = ("radar", "world")


@dataclass
class LabelSequence:
    """SMPL labels on the radar frames of one session (see module docstring).

    Attributes:
        global_orient: [T, 3] root axis-angle in ``frame``.
        body_pose: [T, 69] axis-angle.
        betas: [T, 10].
        transl: [T, 3] m, smplx ``transl`` in ``frame``.
        joints29: [T, 29, 3] m, in ``frame``.
        joint_confidence: [T, 29] in [0, 1].
        confidence: [T] in [0, 1].
        valid: [T] bool; other fields are meaningless (may be NaN) where False.
        frame: ``"radar"`` or ``"world"``.
    """

    global_orient: np.ndarray
    body_pose: np.ndarray
    betas: np.ndarray
    transl: np.ndarray
    joints29: np.ndarray
    joint_confidence: np.ndarray
    confidence: np.ndarray
    valid: np.ndarray
    frame: str

    def __len__(self) -> int:
        return len(self.valid)

    def fields(self) -> dict[str, np.ndarray]:
        """The contract's label fields by name (what a ``LabelWriter`` stores)."""
        return {name: getattr(self, name) for name in LABEL_FIELDS}


def transform_smpl(T_dst_from_src: np.ndarray, global_orient: np.ndarray, transl: np.ndarray,
                   betas: np.ndarray, body_model: BodyModel) -> tuple[np.ndarray, np.ndarray]:
    """Re-express SMPL root parameters in another frame.

    Args:
        T_dst_from_src: [4, 4] rigid transform (m).
        global_orient: [T, 3] root axis-angle in src.
        transl: [T, 3] smplx transl in src (m).
        betas: [T, 10] (or [10]) shape; fixes the rest pelvis J0 the root rotates about.
        body_model: the body model of the labels.

    Returns:
        global_orient [T, 3] and transl [T, 3] in dst, so that
        ``body_model(...)`` gives ``T_dst_from_src`` applied to the src output.
    """
    T = torch.as_tensor(np.asarray(T_dst_from_src), dtype=torch.float64)
    R, t = T[:3, :3], T[:3, 3]
    root = axis_angle_to_matrix(torch.as_tensor(np.asarray(global_orient), dtype=torch.float64))  # [T, 3, 3]
    betas_t = torch.as_tensor(np.array(betas), dtype=torch.float32)
    betas_t = betas_t.expand(len(root), -1) if betas_t.ndim == 1 else betas_t
    with torch.no_grad():
        j0 = body_model.rest_joints(betas_t)[:, 0].double()  # [T, 3] rest pelvis
    new_transl = (j0 + torch.as_tensor(np.asarray(transl), dtype=torch.float64)) @ R.T + t - j0
    return matrix_to_axis_angle(R @ root).numpy(), new_transl.numpy()


def transform_labels(labels: LabelSequence, T_dst_from_src: np.ndarray, frame: str,
                     body_model: BodyModel) -> LabelSequence:
    """The labels re-expressed in frame ``frame`` (SMPL root parameters and joints)."""
    if labels.frame == frame:
        return labels
    T = np.asarray(T_dst_from_src, dtype=np.float64)
    ok = labels.valid
    orient, transl = labels.global_orient.copy(), labels.transl.copy()
    if ok.any():
        orient[ok], transl[ok] = transform_smpl(T, orient[ok], transl[ok], labels.betas[ok], body_model)
    joints = labels.joints29 @ T[:3, :3].T + T[:3, 3]
    return replace(labels, global_orient=orient.astype(np.float32), transl=transl.astype(np.float32),
                   joints29=joints.astype(np.float32), frame=frame)


def smpl_joints29(body_model: BodyModel, global_orient: np.ndarray, body_pose: np.ndarray, betas: np.ndarray,
                  transl: np.ndarray, batch: int = 4096) -> np.ndarray:
    """[T, 29, 3] joints (m) of SMPL parameters, in their frame (batched FK, float32)."""
    out = []
    with torch.no_grad():
        for s in range(0, len(global_orient), batch):
            part = [torch.as_tensor(np.array(x[s:s + batch]), dtype=torch.float32)
                    for x in (global_orient, body_pose, betas, transl)]
            out.append(body_model(*part, return_vertices=False).joints29.numpy())
    return np.concatenate(out) if out else np.zeros((0, 29, 3), np.float32)


def ground_truth_as_labels(session: Session, body_model: BodyModel, frame: str = "radar",
                           times: np.ndarray | None = None) -> LabelSequence:
    """The session's ground truth in the label contract's structure.

    Rotations are SLERP-resampled, translation linearly, to the radar
    timestamps (or ``times``); frames outside the ground truth's time span are
    ``valid = False``. Joints come from FK of the resampled parameters, so they
    agree with ``body_model(params)`` exactly. Confidences are 1.

    Args:
        session: an open session with ``/ground_truth/smpl``.
        body_model: the body model of the ground truth (its rest pelvis moves
            ``transl`` between frames).
        frame: ``"radar"`` (via ``inv(T_world_from_radar)``) or ``"world"``.
        times: [T] query times (s, session clock); default the radar timestamps.

    Returns:
        The labels in ``frame``.

    Raises:
        DataError: the session has no SMPL ground truth.
    """
    if frame not in FRAMES:
        raise ValueError(f"frame must be one of {FRAMES}, got {frame!r}")
    gt = session.ground_truth
    smpl = {} if gt is None else gt.smpl()
    if not {"global_orient", "body_pose", "transl"} <= set(smpl):
        raise DataError("no SMPL ground truth to use as labels", file=session.path, group="/ground_truth",
                        field="smpl")
    src = torch.from_numpy(np.array(gt.timestamps))
    dst_np = np.array(session.radar.timestamps if times is None else times, dtype=np.float64)
    dst = torch.from_numpy(dst_np)
    aa = np.concatenate([smpl["global_orient"], smpl["body_pose"]], 1).reshape(len(src), 24, 3)
    rot = resample_rotations(src, axis_angle_to_matrix(torch.from_numpy(aa.astype(np.float64))), dst)
    pose = matrix_to_axis_angle(rot).reshape(len(dst), 72).numpy().astype(np.float32)
    transl = resample_linear(src, torch.from_numpy(smpl["transl"].astype(np.float64)), dst).numpy()
    betas = np.asarray(smpl.get("betas", np.zeros(10)), dtype=np.float64)
    betas = (np.broadcast_to(betas, (len(dst), betas.shape[-1])) if betas.ndim == 1
             else resample_linear(src, torch.from_numpy(betas), dst).numpy()).astype(np.float32)
    t = np.asarray(gt.timestamps)
    valid = (dst_np >= t[0]) & (dst_np <= t[-1])
    n = len(dst)
    labels = LabelSequence(
        global_orient=pose[:, :3], body_pose=pose[:, 3:], betas=betas, transl=transl.astype(np.float32),
        joints29=smpl_joints29(body_model, pose[:, :3], pose[:, 3:], betas, transl),
        joint_confidence=np.ones((n, 29), np.float32), confidence=np.ones(n, np.float32), valid=valid,
        frame="world",
    )
    if frame == "world":
        return labels
    radar = transform_labels(labels, np.linalg.inv(session.radar.T_world_from_radar), "radar", body_model)
    # FK in the new frame rather than transformed joints: exact for the model, as the contract says.
    radar.joints29 = smpl_joints29(body_model, radar.global_orient, radar.body_pose, radar.betas, radar.transl)
    return radar


def read_label_run(session: Session, run: str) -> LabelSequence:
    """A teacher label run (``/labels/<run>``, radar timebase) as a :class:`LabelSequence`.

    Frames with any non-finite field are marked invalid (and zero-filled).

    Raises:
        DataError: the run is not on the radar timebase, lacks a contract field
            or has an unknown ``frame`` attribute.
        KeyError: no such run.
    """
    labels = session.labels(run)
    where = {"file": session.path, "group": f"/labels/{run}"}
    if labels.timebase != "/radar":
        raise DataError(f"label run timebase is {labels.timebase!r}, need '/radar'", field="timebase", **where)
    frame = str(labels.metadata.get("frame", "world"))
    if frame not in FRAMES:
        raise DataError(f"unknown label frame {frame!r} (known: {FRAMES})", field="frame", **where)
    missing = [name for name in LABEL_FIELDS if name not in labels.field_names]
    if missing:
        raise DataError(f"label run lacks fields {missing}", field=missing[0], **where)
    values = {name: np.asarray(labels.read(name)) for name in LABEL_FIELDS}
    finite = np.ones(labels.length, bool)
    for name, value in values.items():
        if name != "valid":
            finite &= np.isfinite(value.reshape(labels.length, -1)).all(1)
    valid = values.pop("valid").astype(bool) & finite
    clean = {name: np.where(valid.reshape(-1, *([1] * (v.ndim - 1))), np.nan_to_num(v), 0).astype(np.float32)
             for name, v in values.items()}
    return LabelSequence(**clean, valid=valid, frame=frame)
