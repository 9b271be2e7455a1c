"""Keypoint-stream targets on the radar frames (``targets=keypoints``: no SMPL labels).

Most public radar datasets ship 3-D keypoints, not SMPL. A session's
``/keypoints/<stream>`` (e.g. an imported Kinect v2 track) is brought onto the
radar frames for the student's keypoint head:

* **time**: linear interpolation to the radar timestamps; a radar frame outside
  the stream's span, or between two samples further apart than ``max_gap_s``,
  has no label. A joint untracked (NaN) at either bracketing sample stays NaN,
  so the loss leaves it out.
* **space**: into the radar frame (what the points are in), from the stream's
  ``frame`` through ``T_world_from_radar`` (and the camera's extrinsic for a
  camera-frame stream).
* **calibration**: a session's ``/calibration`` group (``scripts/calibrate.py``)
  is preferred to the recorded extrinsic and clock, as
  ``docs/session_format.md`` asks: its ``T_world_from_radar`` is used, its
  ``radar_time_offset_s`` is added to the radar timestamps, and when the
  calibration's reference is this very stream its ``T_reference_from_radar``
  places the stream directly.

Joints are reordered to the skeleton's storage order (``wavecap.skeletons``),
the order of the student's head for that skeleton.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wavecap.datasets import Session
from wavecap.datasets.calibration import MotionCalibration, read_calibration
from wavecap.errors import DataError
from wavecap.skeletons import get_skeleton


@dataclass
class KeypointLabels:
    """A keypoint stream on the radar frames of one session.

    Attributes:
        skeleton: skeleton name (also the name of the student's keypoint head).
        positions: [T, J, 3] float32 metres, radar frame; NaN = no label for that joint.
        confidence: [T, J] float32 in [0, 1] (1 where the stream has none).
        valid: [T] bool, frames with a label.
        source: the stream, e.g. ``/keypoints/kinect_v2``.
    """

    skeleton: str
    positions: np.ndarray
    confidence: np.ndarray
    valid: np.ndarray
    source: str

    @property
    def frame(self) -> str:
        """Coordinate frame of the positions: always the radar's."""
        return "radar"


def interpolate_samples(times_src: np.ndarray, values: np.ndarray, times_dst: np.ndarray,
                        max_gap_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation that keeps NaN local and refuses gaps.

    Args:
        times_src: [K] strictly increasing sample times (s).
        values: [K, ...] samples; NaN marks a missing value.
        times_dst: [T] query times (s).
        max_gap_s: queries between samples further apart than this are invalid.

    Returns:
        [T, ...] float64 values (NaN where invalid, or where a bracketing
        sample that carries weight is NaN) and [T] bool validity. A query
        equal to a sample time takes that sample exactly.
    """
    src = np.asarray(times_src, dtype=np.float64)
    dst = np.asarray(times_dst, dtype=np.float64)
    x = np.asarray(values, dtype=np.float64)
    if len(src) == 0:
        return np.full((len(dst), *x.shape[1:]), np.nan), np.zeros(len(dst), bool)
    i1 = np.searchsorted(src, dst, side="right").clip(1, max(len(src) - 1, 1))
    i0 = i1 - 1
    span = src[i1] - src[i0]
    frac = np.divide(dst - src[i0], span, out=np.zeros_like(dst), where=span > 0).clip(0.0, 1.0)
    inside = (dst >= src[0]) & (dst <= src[-1])
    exact = (frac == 0.0) | (frac == 1.0)
    valid = inside & (exact | (span <= max_gap_s))
    f = frac.reshape(-1, *[1] * (x.ndim - 1))
    # Blend only strictly between samples: an exact hit must not inherit its neighbour's NaN.
    out = np.where(f == 0.0, x[i0], np.where(f == 1.0, x[i1], (1.0 - f) * x[i0] + f * x[i1]))
    out[~valid] = np.nan
    return out, valid


def _stream_name(session: Session, stream: str | None) -> str:
    names = tuple(session.keypoints)
    if stream is None:
        if len(names) != 1:
            raise DataError(f"targets=keypoints needs keypoints.stream=<name> when a session has {len(names)} "
                            f"keypoint streams {names}", file=session.path, group="/keypoints")
        return names[0]
    name = stream.removeprefix("/keypoints/")
    if name not in names:
        raise DataError(f"no keypoint stream {name!r} (streams: {names})", file=session.path,
                        group=f"/keypoints/{name}")
    return name


def read_keypoint_labels(session: Session, stream: str | None = None, max_gap_s: float = 0.25) -> KeypointLabels:
    """A session's keypoint stream resampled onto its radar frames, in the radar frame.

    Args:
        session: an open session.
        stream: ``/keypoints/<stream>`` name; None = the session's only stream.
        max_gap_s: radar frames between keypoint samples further apart than
            this (s) have no label.

    Returns:
        The labels (see the module docstring for time, space and calibration).

    Raises:
        DataError: no such stream, an unknown skeleton or missing joints, a
            camera-frame stream without a camera extrinsic or calibration, or
            no radar frame inside the stream's span.
    """
    name = _stream_name(session, stream)
    group = f"/keypoints/{name}"
    kp = session.keypoints[name]
    try:
        skeleton = get_skeleton(kp.skeleton)
    except ValueError as exc:
        raise DataError(str(exc), file=session.path, group=group, field="skeleton") from exc
    index = {joint: j for j, joint in enumerate(kp.joint_names)}
    missing = [joint for joint in skeleton.joint_names if joint not in index]
    if missing:
        raise DataError(f"{skeleton.name} stream lacks joints {missing}", file=session.path, group=group,
                        field="joint_names")
    order = [index[joint] for joint in skeleton.joint_names]
    positions = np.asarray(kp.positions(), dtype=np.float64)[:, order]  # [K, J, 3] stream frame
    confidence = kp.confidence()
    confidence = np.ones(positions.shape[:2]) if confidence is None else np.asarray(confidence)[:, order]

    calibration = read_calibration(session.path)
    radar_t = np.array(session.radar.timestamps, dtype=np.float64)
    T_radar_from_stream = _radar_from_stream(session, kp.coordinate_frame, group, calibration)
    if calibration is not None:
        radar_t = radar_t + calibration.time_offset_s  # the radar frames on the session clock
    positions = positions @ T_radar_from_stream[:3, :3].T + T_radar_from_stream[:3, 3]
    on_radar, valid = interpolate_samples(kp.timestamps, positions, radar_t, max_gap_s)  # [T, J, 3]
    conf, _ = interpolate_samples(kp.timestamps, confidence, radar_t, max_gap_s)  # [T, J]
    if not valid.any():
        raise DataError(f"no radar frame lies within the keypoint stream's time span (max_gap_s={max_gap_s})",
                        file=session.path, group=group, field="timestamps")
    return KeypointLabels(skeleton.name, on_radar.astype(np.float32),
                          np.nan_to_num(conf, nan=0.0).astype(np.float32), valid, group)


def _radar_from_stream(session: Session, frame: str, group: str,
                       calibration: MotionCalibration | None) -> np.ndarray:
    """[4, 4] transform from the stream's coordinate frame to the radar frame."""
    if calibration is not None and calibration.reference == group:
        return np.linalg.inv(calibration.T_reference_from_radar)
    T_world_from_radar = np.array(session.radar.T_world_from_radar)
    if calibration is not None and calibration.T_world_from_radar is not None:
        T_world_from_radar = np.asarray(calibration.T_world_from_radar)
    radar_from_world = np.linalg.inv(T_world_from_radar)
    if frame == "radar":
        return np.eye(4)
    if frame == "world":
        return radar_from_world
    if frame == "camera" and session.camera is not None:
        return radar_from_world @ np.array(session.camera.T_world_from_camera)
    raise DataError(f"cannot place a {frame!r}-frame keypoint stream in the radar frame: the session has no camera "
                    "extrinsic; calibrate against the stream (scripts/calibrate.py)", file=session.path, group=group,
                    field="frame")
