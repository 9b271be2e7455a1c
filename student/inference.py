"""Student inference on radar captures: offline (whole capture or sliding windows) and streaming.

Offline::

    result = infer_session("capture.h5", "best.pt", out_h5="pred.h5", out_npz="pred.npz")

reads the radar points, runs the bidirectional model over the whole capture
(``mode="full"``: one Performer pass, linear in T) or over windows of
``window`` frames overlapping by ``overlap`` (``mode="window"``: outputs are
blended with trapezoidal weights; rotations by weighted averaging of their 6D
representation, re-orthonormalised by Gram-Schmidt; the shape by the weighted
mean of the windows' estimates), and writes the SMPL sequence in the radar
frame and in the world (via ``T_world_from_radar``), joints, contact
probabilities and per-joint uncertainty to a new HDF5 file (temp file +
``os.replace``) and, in the world frame, to an AMASS-style ``.npz``.

Streaming::

    stream = StreamingPredictor(model_from_checkpoint("best.pt", causal=True), columns=session.radar.columns)
    for frame in session.radar.frames():
        pose = stream.step(frame.data)      # dict of per-frame arrays, constant cost per frame

wraps :class:`~wavecap.student.streaming.StreamingStudent` (causal FAVOR+
as a recurrence; equal to the causal offline model to float rounding).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Sequence

import h5py
import numpy as np
import torch

from wavecap.body import BodyModel
from wavecap.datasets import open_session
from wavecap.datasets.motion import Motion, save_amass_npz
from wavecap.geometry import matrix_to_axis_angle, matrix_to_rotation_6d, rotation_6d_to_matrix
from wavecap.student.data import read_radar
from wavecap.student.encoders import RadarFrames, pad_points, select_columns
from wavecap.student.labels import smpl_joints29, transform_smpl
from wavecap.student.model import RadarStudent, StudentOutput
from wavecap.student.streaming import StreamingStudent
from wavecap.student.training import load_checkpoint, model_from_checkpoint

# Per-frame outputs blended across windows (besides rotations and betas).
_LINEAR = ("transl", "contact_logits", "joint_log_scale")


def _frames(points: np.ndarray, point_mask: np.ndarray) -> RadarFrames:
    """[1, T] model input from padded points [T, N, C] and mask [T, N]."""
    return RadarFrames(torch.ones(1, len(points), dtype=torch.bool), torch.from_numpy(points)[None],
                       torch.from_numpy(point_mask)[None])


def _numpy(out: StudentOutput) -> dict[str, np.ndarray]:
    return {"rotmats": out.rotmats[0].numpy(), "betas": out.betas[0].numpy(), "transl": out.transl[0].numpy(),
            "contact_logits": out.contact_logits[0].numpy(), "joint_log_scale": out.joint_log_scale[0].numpy()}


def window_weights(length: int, overlap: int) -> np.ndarray:
    """[length] trapezoid: ramps up over the first and down over the last ``overlap`` frames (all > 0)."""
    t = np.arange(length)
    return np.minimum(1.0, np.minimum(t + 1, length - t) / (overlap + 1))


@torch.inference_mode()
def predict(model: RadarStudent, points: np.ndarray, point_mask: np.ndarray, mode: str = "full",
            window: int = 512, overlap: int = 128) -> dict[str, np.ndarray]:
    """Run the student over a whole capture.

    Args:
        model: the student in eval mode.
        points: [T, N, C] padded points (encoder columns; m, radar frame).
        point_mask: [T, N] bool.
        mode: ``"full"`` (one pass over all T frames) or ``"window"``.
        window: frames per window (mode ``"window"``).
        overlap: frames shared by consecutive windows (< window).

    Returns:
        ``rotmats`` [T, 24, 3, 3] (root in the label frame), ``betas`` [T, 10]
        (one per capture), ``transl`` [T, 3] m, ``contact_logits`` [T, 4],
        ``joint_log_scale`` [T, 24].
    """
    total = len(points)
    if mode == "full" or total <= window:
        return _numpy(model(_frames(points, point_mask)))
    if mode != "window":
        raise ValueError(f"mode must be 'full' or 'window', got {mode!r}")
    if not 0 <= overlap < window:
        raise ValueError("need 0 <= overlap < window")
    starts = list(range(0, total - window + 1, window - overlap))
    if starts[-1] != total - window:
        starts.append(total - window)
    acc = {"rot6d": np.zeros((total, 24, 6)), "weight": np.zeros(total), "betas": 0.0, "betas_weight": 0.0}
    acc.update({name: 0.0 for name in _LINEAR})
    anchor = model.anchor(_frames(points, point_mask))  # [1, T, 3] of the whole capture (its window looks back)
    for s in starts:
        out = model(_frames(points[s:s + window], point_mask[s:s + window]), start=s,
                    anchor=None if anchor is None else anchor[:, s:s + window])
        part = _numpy(out)
        w = window_weights(window, overlap)
        acc["rot6d"][s:s + window] += w[:, None, None] * matrix_to_rotation_6d(out.rotmats[0]).double().numpy()
        acc["weight"][s:s + window] += w
        acc["betas"] = acc["betas"] + w.sum() * part["betas"][0]
        acc["betas_weight"] += w.sum()
        for name in _LINEAR:
            blended = np.zeros((total, *part[name].shape[1:]))
            blended[s:s + window] = w.reshape(-1, *[1] * (part[name].ndim - 1)) * part[name]
            acc[name] = acc[name] + blended
    weight = acc["weight"]
    rot6d = torch.from_numpy(acc["rot6d"] / weight[:, None, None])
    result = {"rotmats": rotation_6d_to_matrix(rot6d).float().numpy(),
              "betas": np.broadcast_to(acc["betas"] / acc["betas_weight"], (total, part["betas"].shape[-1]))}
    for name in _LINEAR:
        result[name] = acc[name] / weight.reshape(-1, *[1] * (acc[name].ndim - 1))
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in result.items()}


def smpl_outputs(pred: dict[str, np.ndarray], body_model: BodyModel, label_frame: str,
                 T_world_from_radar: np.ndarray) -> dict[str, np.ndarray]:
    """SMPL sequence, joints, contacts and uncertainty in both the radar frame and the world.

    Args:
        pred: output of :func:`predict` (in the model's label frame).
        body_model: the labels' body model.
        label_frame: ``"radar"`` or ``"world"``, the frame the model was trained in.
        T_world_from_radar: [4, 4].

    Returns:
        ``radar/…`` and ``world/…`` ``global_orient`` [T, 3], ``transl``
        [T, 3], ``joints29`` [T, 29, 3]; ``body_pose`` [T, 69] and ``betas``
        [10] (frame-free); ``contact_prob`` [T, 4]; ``joint_scale_m`` [T, 24]
        (Laplace scale of each joint's error, m).
    """
    aa = matrix_to_axis_angle(torch.from_numpy(pred["rotmats"]).double()).numpy().astype(np.float32)  # [T, 24, 3]
    orient, body_pose = aa[:, 0], aa[:, 1:].reshape(len(aa), 69)
    betas = pred["betas"].mean(0).astype(np.float32)
    frame_betas = np.broadcast_to(betas, (len(aa), len(betas)))
    other = "world" if label_frame == "radar" else "radar"
    T = T_world_from_radar if label_frame == "radar" else np.linalg.inv(T_world_from_radar)
    other_orient, other_transl = transform_smpl(T, orient, pred["transl"], frame_betas, body_model)
    out = {"body_pose": body_pose, "betas": betas,
           "contact_prob": 1.0 / (1.0 + np.exp(-pred["contact_logits"])),
           "joint_scale_m": np.exp(pred["joint_log_scale"])}
    out[f"{label_frame}/global_orient"], out[f"{label_frame}/transl"] = orient, pred["transl"]
    out[f"{other}/global_orient"], out[f"{other}/transl"] = other_orient, other_transl
    joints = smpl_joints29(body_model, orient, body_pose, frame_betas, pred["transl"])  # [T, 29, 3]
    # Joints are points: one FK, then the rigid transform (what FK of the moved parameters gives).
    out[f"{label_frame}/joints29"], out[f"{other}/joints29"] = joints, joints @ T[:3, :3].T + T[:3, 3]
    return {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}


def write_predictions_h5(path: str | os.PathLike[str], timestamps: np.ndarray, outputs: dict[str, np.ndarray],
                         attrs: dict[str, Any]) -> None:
    """Write predictions to a new HDF5 file atomically (temp file, then ``os.replace``).

    Layout: ``timestamps`` [T] (s, session clock) and every array of
    :func:`smpl_outputs` under its name (``radar/global_orient``, ...);
    ``attrs`` on the root.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("timestamps", data=np.asarray(timestamps, np.float64))
            for name, value in outputs.items():
                f.create_dataset(name, data=value)
            for key, value in attrs.items():
                f.attrs[key] = np.bytes_(value) if isinstance(value, str) else value
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def read_predictions_h5(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Every dataset of a predictions file by name (``timestamps``, ``world/joints29``, ...)."""
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def _sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def infer_session(session_path: str, checkpoint: str, body_model: BodyModel, out_h5: str | None = None,
                  out_npz: str | None = None, mode: str = "full", window: int = 512, overlap: int = 128,
                  physics: bool = False, physics_config: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
    """Session file -> student predictions -> HDF5 / AMASS ``.npz`` (see module docstring).

    Args:
        session_path: the radar capture (session file).
        checkpoint: a student checkpoint (``scripts/train_student.py``).
        body_model: the labels' body model.
        out_h5: predictions file to write (None = do not write).
        out_npz: AMASS-style motion to write, world frame (None = do not write).
        mode, window, overlap: see :func:`predict`.
        physics: refine the world-frame motion with :func:`wavecap.physics.refine.refine_motion`,
            driven by the predicted contact probabilities; the refined motion
            is stored as ``physics/…`` (world frame) and is what the ``.npz`` holds.
        physics_config: ``RefineConfig`` fields.

    Returns:
        The arrays written (``timestamps`` included).
    """
    ckpt = load_checkpoint(checkpoint)
    model = model_from_checkpoint(ckpt)
    encoder = model.encoder
    with open_session(session_path) as session:
        points, mask = read_radar(session, encoder.columns, encoder.max_points)
        timestamps = np.array(session.radar.timestamps)
        T = np.array(session.radar.T_world_from_radar)
    pred = predict(model, points, mask, mode, window, overlap)
    outputs = smpl_outputs(pred, body_model, str(ckpt["label_frame"]), T)
    fps = float(1.0 / np.median(np.diff(timestamps))) if len(timestamps) > 1 else float(ckpt.get("fps", 20.0))
    motion = Motion(fps=fps, global_orient=outputs["world/global_orient"], body_pose=outputs["body_pose"],
                    betas=outputs["betas"], transl=outputs["world/transl"], name=Path(session_path).stem)
    if physics:
        from wavecap.physics.refine import refine_motion

        motion, _ = refine_motion(motion, contacts=outputs["contact_prob"], config=physics_config,
                                  body_model=body_model)
        outputs.update({"physics/global_orient": motion.global_orient.astype(np.float32),
                        "physics/body_pose": motion.body_pose.astype(np.float32),
                        "physics/transl": motion.transl.astype(np.float32)})
        outputs["physics/joints29"] = smpl_joints29(body_model, outputs["physics/global_orient"],
                                                    outputs["physics/body_pose"],
                                                    np.broadcast_to(motion.betas, (len(motion), 10)), motion.transl)
    if out_h5 is not None:
        write_predictions_h5(out_h5, timestamps, outputs, {
            "session": os.path.abspath(session_path), "checkpoint": os.path.abspath(checkpoint),
            "checkpoint_sha256": _sha256(checkpoint), "mode": mode, "window": window, "overlap": overlap,
            "label_frame": str(ckpt["label_frame"]), "body_model": body_model.tag, "fps": fps,
            "physics": bool(physics),
            "frames": "radar/*: TI radar frame; world/*: world z-up (via T_world_from_radar); metres, axis-angle",
        })
    if out_npz is not None:
        save_amass_npz(motion, out_npz)
    return {"timestamps": timestamps, **outputs}


class StreamingPredictor:
    """Frame-at-a-time student: one radar point cloud in, that frame's pose out.

    Args:
        model: a causal student (``model_from_checkpoint(path, causal=True)``), eval mode.
        columns: column names of the incoming points (a session's ``radar.columns``);
            reordered to the encoder's columns.

    The outputs are in the model's label frame (radar for the teacher's radar
    labels). Cost per frame is constant (see :class:`StreamingStudent`).
    """

    def __init__(self, model: RadarStudent, columns: Sequence[str]) -> None:
        self.stream = StreamingStudent(model)
        self.columns = tuple(columns)
        self.encoder_columns = model.encoder.columns
        self.max_points = model.encoder.max_points

    def reset(self) -> None:
        """Start a new stream."""
        self.stream.reset()

    def step(self, points: np.ndarray) -> dict[str, np.ndarray]:
        """Advance by one radar frame.

        Args:
            points: [n, C] this frame's points (n may be 0), columns as ``columns``.

        Returns:
            ``rotmats`` [24, 3, 3], ``betas`` [10] (running mean), ``transl``
            [3] m, ``contact_prob`` [4], ``joint_scale_m`` [24].
        """
        flat = select_columns(torch.as_tensor(np.asarray(points, np.float32)), self.columns, self.encoder_columns)
        padded, mask = pad_points(flat, torch.tensor([0, len(flat)]), self.max_points)
        out = self.stream.step(RadarFrames(torch.ones(1, 1, dtype=torch.bool), padded[None], mask[None]))
        return {"rotmats": out.rotmats[0, 0].numpy(), "betas": out.betas[0, 0].numpy(),
                "transl": out.transl[0, 0].numpy(), "contact_prob": torch.sigmoid(out.contact_logits[0, 0]).numpy(),
                "joint_scale_m": out.joint_log_scale[0, 0].exp().numpy()}
