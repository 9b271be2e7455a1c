"""In-memory streams an importer produces, and writing them as one validated session."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from wavecap.datasets import SessionWriter, validate_session
from wavecap.datasets.session_schema import POSITION_COLUMNS
from wavecap.errors import DataError

from .report import ImportReport, points_figures, report_path, timing_figures

CREATED_BY = "wavecap.datasets.importers 0.1"


@dataclass
class RadarData:
    """A radar point stream ready to be written.

    Attributes:
        points: (N, C) float32 points of all frames; x, y, z in metres, radar frame.
        offsets: (T+1,) int64; frame i owns ``points[offsets[i]:offsets[i+1]]``.
        timestamps: (T,) seconds, strictly increasing.
        columns: C column names starting ``x, y, z``.
        config: radar group attributes (model, frame_rate_hz, doppler_sign, ...).
        T_world_from_radar: (4, 4) rigid transform radar -> world.
        figures: extra report figures (rows dropped, ...).
        time_source: where the timestamps came from, for the report.
    """

    points: np.ndarray
    offsets: np.ndarray
    timestamps: np.ndarray
    columns: tuple[str, ...]
    config: dict[str, object]
    T_world_from_radar: np.ndarray  # noqa: N815
    figures: dict[str, object] = field(default_factory=dict)
    time_source: str = ""

    def __post_init__(self) -> None:
        if self.columns[:3] != POSITION_COLUMNS:
            raise ValueError(f"radar columns must start with {POSITION_COLUMNS}")

    @classmethod
    def empty(cls) -> RadarData:
        """A radar stream with no frames, for camera-only imports."""
        return cls(np.zeros((0, 3), np.float32), np.zeros(1, np.int64), np.zeros(0), POSITION_COLUMNS,
                   {"model": "none"}, np.eye(4), time_source="no radar in this import")


@dataclass
class KeypointData:
    """A keypoint stream ready to be written (``SessionWriter.write_keypoints``).

    Attributes:
        name: stream name.
        timestamps: (T,) seconds.
        positions: (T, J, 3) metres in ``frame``; NaN = untracked.
        joint_names: J names.
        skeleton: skeleton name.
        frame: ``world``, ``camera`` or ``radar``.
        confidence: optional (T, J) in [0, 1].
        figures: extra report figures.
    """

    name: str
    timestamps: np.ndarray
    positions: np.ndarray
    joint_names: tuple[str, ...]
    skeleton: str
    frame: str
    confidence: np.ndarray | None = None
    figures: dict[str, object] = field(default_factory=dict)


@dataclass
class CameraData:
    """An RGB stream, decoded lazily frame by frame while it is written.

    Attributes:
        width, height: image size (px).
        intrinsics: (3, 3) pinhole matrix (px).
        T_world_from_camera: (4, 4) camera (OpenCV) -> world.
        fps: nominal rate (Hz).
        encoding: None for raw RGB frames, or ``png``/``jpeg``.
        frames: called once; yields ``(image, t)``: (H, W, 3) uint8 RGB (or the
            file's bytes when ``encoding`` is set and the files are kept as they
            are) and the frame's time in seconds.
        count: number of frames if known in advance (progress bar).
        time_source: where the timestamps come from.
        figures: extra report figures.
    """

    width: int
    height: int
    intrinsics: np.ndarray
    T_world_from_camera: np.ndarray  # noqa: N815
    fps: float
    encoding: str | None
    frames: Callable[[], Iterator[tuple[np.ndarray | bytes, float]]]
    count: int | None = None
    time_source: str = ""
    figures: dict[str, object] = field(default_factory=dict)


@dataclass
class GroundTruthData:
    """Reference joints (e.g. converted mocap meshes), world frame.

    Attributes:
        timestamps: (T,) seconds.
        joints: (T, J, 3) metres, world.
        joint_names: J names.
        skeleton: skeleton name.
        figures: extra report figures.
    """

    timestamps: np.ndarray
    joints: np.ndarray
    joint_names: tuple[str, ...]
    skeleton: str
    figures: dict[str, object] = field(default_factory=dict)


def write_session(
    out: str | os.PathLike[str],
    report: ImportReport,
    radar: RadarData,
    *,
    keypoints: Sequence[KeypointData] = (),
    camera: CameraData | None = None,
    ground_truth: GroundTruthData | None = None,
    description: str = "",
    overwrite: bool = False,
    compression: str | None = "lzf",
    validate: str = "full",
    progress: bool = False,
) -> ImportReport:
    """Write the streams as one session, validate it, and write the JSON report beside it.

    Args:
        out: session file to write (atomically; see ``SessionWriter``).
        report: the importer's report so far; completed here.
        radar: the radar stream (may have no frames).
        keypoints: keypoint streams.
        camera: optional RGB stream.
        ground_truth: optional reference joints.
        description: stored as the session's description.
        overwrite: replace an existing ``out``.
        compression: HDF5 filter of the streams.
        validate: session validation level after writing (``cheap`` or ``full``).
        progress: show a progress bar while writing camera frames.

    Returns:
        The completed report (also written to ``report_path(out)``).
    """
    out = os.fspath(out)
    report.output = out
    counts = np.diff(radar.offsets)
    with SessionWriter(out, created_by=CREATED_BY, overwrite=overwrite, description=description,
                       compression=compression) as writer:
        writer.write_radar(radar.points, radar.timestamps, offsets=radar.offsets, columns=radar.columns,
                           T_world_from_radar=radar.T_world_from_radar, config=radar.config)
        report.streams["/radar"] = {**timing_figures(radar.timestamps, radar.time_source), **points_figures(counts),
                                    "columns": list(radar.columns), **radar.figures}
        for kp in keypoints:
            writer.write_keypoints(kp.name, kp.timestamps, kp.positions, joint_names=kp.joint_names,
                                   skeleton=kp.skeleton, frame=kp.frame, confidence=kp.confidence)
            untracked = float(np.isnan(kp.positions).any(axis=-1).mean()) if kp.positions.size else 0.0
            report.streams[f"/keypoints/{kp.name}"] = {
                **timing_figures(kp.timestamps, kp.figures.pop("timestamps", "")), "skeleton": kp.skeleton,
                "joints": len(kp.joint_names), "frame": kp.frame, "untracked_joint_fraction": round(untracked, 4),
                **kp.figures,
            }
        if ground_truth is not None:
            writer.write_ground_truth(ground_truth.timestamps, joints=ground_truth.joints,
                                      joint_names=ground_truth.joint_names, skeleton=ground_truth.skeleton)
            report.streams["/ground_truth"] = {
                **timing_figures(ground_truth.timestamps, "radar frames'"), "skeleton": ground_truth.skeleton,
                **ground_truth.figures,
            }
        if camera is not None:
            times = _write_camera(writer, camera, progress)
            report.streams["/camera"] = {**timing_figures(times, camera.time_source),
                                         "size": f"{camera.width}x{camera.height}",
                                         "encoding": camera.encoding or "raw", **camera.figures}
    if validate:
        result = validate_session(out, validate)
        report.streams["/radar"]["session_validation"] = f"{validate}: ok" if result.ok else str(result.errors[0])
        result.raise_first()
    report.write_json(report_path(out))
    return report


def _write_camera(writer: SessionWriter, camera: CameraData, progress: bool) -> np.ndarray:
    """Write the camera stream frame by frame; returns the (T,) times written."""
    writer.begin_camera(width=camera.width, height=camera.height, intrinsics=camera.intrinsics,
                        T_world_from_camera=camera.T_world_from_camera, fps=camera.fps, encoding=camera.encoding)
    times = []
    for image, t in tqdm(camera.frames(), total=camera.count, disable=not progress, desc="camera frames"):
        writer.append_camera_frame(image, float(t))
        times.append(t)
    if not times:
        raise DataError("no camera frames", group="/camera")
    return np.asarray(times, dtype=np.float64)
