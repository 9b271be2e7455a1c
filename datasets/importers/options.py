"""Importer options, one dataclass per kind of stream (``configs/datasets/importers.yaml``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from wavecap.datasets.session_checks import rigid_problem
from wavecap.datasets.session_schema import DOPPLER_SIGNS, KEYPOINT_FRAMES

LENGTH_UNITS = ("auto", "m", "cm", "mm")
TIME_UNITS = ("auto", "s", "ms", "us", "ns")
PARSERS = ("auto", "pandas", "numpy")


def _choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def transform_option(name: str, value: object) -> np.ndarray | None:
    """A 4x4 rigid transform given as nested lists, or None."""
    if value is None:
        return None
    m = np.asarray(value, dtype=np.float64)
    if m.shape != (4, 4) or (problem := rigid_problem(m)):
        raise ValueError(f"{name} must be a 4x4 rigid transform: {m.shape if m.shape != (4, 4) else problem}")
    return m


class _FromDict:
    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> Any:  # noqa: ANN401
        """Build from a config mapping; unknown keys are an error (typos would be silently ignored)."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} keys {unknown}; known: {sorted(known)}")
        return cls(**values)


@dataclass(frozen=True)
class RadarOptions(_FromDict):
    """How to read a radar point stream.

    Attributes:
        units: length unit of x, y, z (and range): ``auto`` decides between m
            and mm from the median point range (see ``units.radar_units``).
        frame_rate_hz: nominal frame rate: synthesised timestamps use it, and
            the unit of a time column is the one that makes its frame period
            closest to it.
        time_unit: unit of a time column; ``auto`` as above.
        doppler_sign: sign convention of the Doppler column (TI: radial
            velocity > 0 when the target moves away, ``positive_away``).
        columns: TI CSV column overrides: canonical key (``frame``, ``n_points``,
            ``x``, ``y``, ``z``, ``doppler``, ``intensity``, ``snr``, ``noise``,
            ``range``, ``time``) -> header name or 0-based column index.
        point_columns: names of the stored point columns of MM-Fi/mmBody frames
            (default: the dataset's documented layout).
        delimiter: CSV field separator.
        max_missing_frames: longest run of absent frame numbers filled with
            empty frames; a longer jump is refused as a corrupt frame column.
        T_world_from_radar: 4x4 radar -> world transform (nested lists); None
            keeps identity (radar frame taken as world until calibrated).
        model: radar model stored in the session (e.g. ``IWR6843``).
        parser: CSV parser: ``pandas`` (fast C parser, optional dependency),
            ``numpy`` (``np.loadtxt``) or ``auto`` (pandas when installed).
    """

    units: str = "auto"
    frame_rate_hz: float = 10.0
    time_unit: str = "auto"
    doppler_sign: str = "positive_away"
    columns: Mapping[str, str | int] = field(default_factory=dict)
    point_columns: tuple[str, ...] | None = None
    delimiter: str = ","
    max_missing_frames: int = 1000
    T_world_from_radar: Any = None  # noqa: N815
    model: str = ""
    parser: str = "auto"

    def __post_init__(self) -> None:
        _choice("units", self.units, LENGTH_UNITS)
        _choice("time_unit", self.time_unit, TIME_UNITS)
        _choice("doppler_sign", self.doppler_sign, DOPPLER_SIGNS)
        _choice("parser", self.parser, PARSERS)
        if not self.frame_rate_hz > 0 or self.max_missing_frames < 0 or len(self.delimiter) != 1:
            raise ValueError("frame_rate_hz must be > 0, max_missing_frames >= 0, delimiter one character")
        object.__setattr__(self, "T_world_from_radar", transform_option("T_world_from_radar", self.T_world_from_radar))
        object.__setattr__(self, "columns", dict(self.columns or {}))
        if self.point_columns is not None:
            object.__setattr__(self, "point_columns", tuple(self.point_columns))


@dataclass(frozen=True)
class KeypointOptions(_FromDict):
    """How to read a keypoint CSV.

    Attributes:
        name: stream name (``/keypoints/<name>``); default: the skeleton name.
        units: length unit; ``auto`` decides between m, cm and mm from the
            median bone length (see ``units.keypoint_units``).
        layout: column layout of a file without header row: ``blocks``
            (all X, then all Y, then all Z) or ``interleaved`` (X, Y, Z per
            joint). With a header, columns are found by name and ``auto`` works.
        frame: coordinate frame the positions are stored in: ``world``,
            ``camera`` or ``radar``.
        axes: axis convention of the file: ``as_is``; ``y_up`` (x right, y up,
            z toward the viewer, e.g. OpenGL/SMPL) or ``kinect_camera`` (Kinect
            camera space: x to the sensor's left, y up, z out of the sensor),
            both turned into z-up.
        transform: optional 4x4 rigid transform applied after ``axes``.
        pairing: how keypoint rows meet radar frames: ``frame`` (by frame
            number), ``time`` (by a time column on the radar file's clock),
            ``order`` (row i = radar frame i; needs equal counts) or ``auto``.
        frame_rate_hz: nominal rate, to decide the unit of a time column.
        time_unit: unit of a time column; ``auto`` as for radar.
    """

    name: str | None = None
    units: str = "auto"
    layout: str = "auto"
    frame: str = "world"
    axes: str = "as_is"
    transform: Any = None
    pairing: str = "auto"
    frame_rate_hz: float = 30.0
    time_unit: str = "auto"

    def __post_init__(self) -> None:
        _choice("keypoint units", self.units, LENGTH_UNITS)
        _choice("layout", self.layout, ("auto", "blocks", "interleaved"))
        _choice("frame", self.frame, KEYPOINT_FRAMES)
        _choice("axes", self.axes, ("as_is", "y_up", "kinect_camera"))
        _choice("pairing", self.pairing, ("auto", "frame", "time", "order"))
        _choice("keypoint time_unit", self.time_unit, TIME_UNITS)
        if not self.frame_rate_hz > 0:
            raise ValueError("keypoint frame_rate_hz must be > 0")
        object.__setattr__(self, "transform", transform_option("transform", self.transform))


@dataclass(frozen=True)
class CameraOptions(_FromDict):
    """How to read an RGB stream from an image folder or a video file.

    Attributes:
        fps: nominal frame rate (Hz); timestamps are ``i / fps`` when
            ``timestamps`` is ``fps``.
        timestamps: ``fps``; ``names`` (the last number in each file name,
            unit ``name_unit``); ``container`` (a video's presentation times);
            ``auto``: ``container`` for a video, ``fps`` for images.
        name_unit: unit of the numbers in file names: ``s``, ``ms``, ``us``,
            ``ns``, ``frame`` (an index, divided by ``fps``) or ``auto`` (the
            time unit closest to ``fps``).
        time_offset_s: time of the first image on the session clock.
        intrinsics: ``[fx, fy, cx, cy]`` in pixels; None guesses a 53-degree
            horizontal field of view and says so.
        T_world_from_camera: 4x4 camera (OpenCV) -> world transform; None puts
            the camera at the origin looking along world +y (like a level radar).
        encoding: ``auto`` stores PNG/JPEG files as they are (no re-encoding)
            and decodes anything else; ``raw`` stores decoded RGB; ``png`` /
            ``jpeg`` re-encode.
        sensor: mmBody camera to import: ``master``, ``sub`` or ``none``.
    """

    fps: float = 30.0
    timestamps: str = "auto"
    name_unit: str = "auto"
    time_offset_s: float = 0.0
    intrinsics: tuple[float, float, float, float] | None = None
    T_world_from_camera: Any = None  # noqa: N815
    encoding: str = "auto"
    sensor: str = "master"

    def __post_init__(self) -> None:
        _choice("camera timestamps", self.timestamps, ("auto", "fps", "names", "container"))
        _choice("name_unit", self.name_unit, (*TIME_UNITS, "frame"))
        _choice("encoding", self.encoding, ("auto", "raw", "png", "jpeg"))
        _choice("sensor", self.sensor, ("master", "sub", "none"))
        if not self.fps > 0:
            raise ValueError("camera fps must be > 0")
        if self.intrinsics is not None and len(self.intrinsics) != 4:
            raise ValueError("intrinsics must be [fx, fy, cx, cy]")
        object.__setattr__(self, "T_world_from_camera",
                           transform_option("T_world_from_camera", self.T_world_from_camera))
