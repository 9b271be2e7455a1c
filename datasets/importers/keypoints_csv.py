"""Keypoint CSV files: one row per frame, three coordinates per joint.

With a header row, coordinate columns are found by name: ``<Joint>_X``,
``<Joint>.y``, ``<Joint> Z`` or ``<Joint>X`` (joint names as in the
skeleton, case and punctuation ignored), so joints may come in blocks (all X,
then all Y, then all Z) or interleaved (X, Y, Z per joint) in any order.
Optional columns: a frame number (``Frame``, ``Frame #``, ...), a time
(``Time``, ``Timestamp``, ...), per-joint confidence in [0, 1]
(``<Joint>_C`` / ``_Conf`` / ``_Confidence``) or Kinect tracking state
(``<Joint>_State`` / ``_TrackingState``: 0 not tracked -> NaN position,
1 inferred, 2 tracked; confidence = state / 2). Other columns are ignored
and listed in the report. A file without header holds exactly 3 x J numbers
per row in the layout given by ``KeypointOptions.layout``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import numpy as np

from wavecap.errors import DataError
from wavecap.skeletons import Skeleton, get_skeleton, smpl_from_skeleton

from .csv_table import CsvTable, read_csv_table
from .options import KeypointOptions
from .report import ImportReport
from .ti_csv import COLUMN_ALIASES, normalise_name
from .units import LENGTH_SCALE, TIME_SCALE, keypoint_units, time_unit

_COORD = re.compile(r"^(?P<joint>.+?)[\s_.:\-]*(?P<axis>[xyz])$", re.IGNORECASE)
_CONF = re.compile(r"^(?P<joint>.+?)[\s_.:\-]+(?P<kind>c|conf|confidence|state|trackingstate)$", re.IGNORECASE)

# Axis conventions -> z-up: rows are the new axes in terms of the file's.
AXES = {
    "as_is": np.eye(3),
    "y_up": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]),  # x, -z, y
    "kinect_camera": np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]),  # -x, z, y
}


@dataclass
class KeypointTable:
    """Keypoints read from a CSV file.

    Attributes:
        skeleton: their skeleton.
        positions: (K, J, 3) metres after units, axes and transform; NaN = untracked.
        confidence: (K, J) in [0, 1], or None.
        frame_numbers: (K,) int64 frame numbers, or None without a frame column.
        times: (K,) times in the file's unit, or None without a time column.
        figures: report figures.
    """

    skeleton: Skeleton
    positions: np.ndarray
    confidence: np.ndarray | None
    frame_numbers: np.ndarray | None
    times: np.ndarray | None
    figures: dict[str, object] = field(default_factory=dict)


def read_keypoint_csv(
    path: str | os.PathLike[str], skeleton: str, options: KeypointOptions, report: ImportReport,
    delimiter: str = ",", parser: str = "auto",
) -> KeypointTable:
    """Read a keypoint CSV (see the module docstring for the layouts).

    Args:
        path: the CSV file (never modified).
        skeleton: skeleton name of its joints (``kinect_v2``, ``h36m17``, ...).
        options: units, layout, axes, ...
        report: receives assumptions and warnings.
        delimiter: field separator.
        parser: fast CSV parser choice.

    Raises:
        DataError: a joint's column is missing, a value is not a number, ...
    """
    path = os.fspath(path)
    try:
        skel = get_skeleton(skeleton)
    except ValueError as exc:
        raise DataError(str(exc), file=path, field="skeleton") from exc
    table = read_csv_table(path, delimiter, parser)
    if len(table.values) == 0:
        raise DataError("no data rows", file=path)
    coords, conf_cols, frame_col, time_col, ignored = _layout(table, skel, options.layout)
    values = table.values
    positions, nonfinite = storable_joints(values[:, coords])  # (K, J, 3)
    confidence = _confidence(table, conf_cols, positions)

    unit, why = keypoint_units(positions, skel.bones, options.units, path)
    positions = positions * LENGTH_SCALE[unit]
    if unit != "m":
        report.warn(f"keypoint positions converted from {unit} to m ({why})")
    positions = positions @ AXES[options.axes].T
    if options.transform is not None:
        positions = positions @ options.transform[:3, :3].T + options.transform[:3, 3]
    positions, overflow = storable_joints(positions)
    nonfinite += overflow
    if confidence is not None:
        confidence[np.isnan(positions[..., 0])] = 0.0
    report.assume("keypoints.units", f"{unit}; {why}")
    report.assume("keypoints.frame", f"{options.frame}, file axes {options.axes}"
                                     + (" then the given transform" if options.transform is not None else ""))
    if options.frame == "world":
        _check_up(positions, skel.name, report)

    frames = None
    if frame_col is not None:
        f = values[:, frame_col]
        bad = ~np.isfinite(f) | (f != np.round(f)) | (np.abs(f) > 2.0**53)
        if bad.any():
            row = int(np.argmax(bad))
            raise table.error(f"frame number {float(f[row]):g} is not an integer", row, frame_col)
        frames = f.astype(np.int64)
        if (np.diff(frames) <= 0).any():
            row = int(np.argmax(np.diff(frames) <= 0)) + 1
            raise table.error(f"frame numbers must increase ({frames[row - 1]} then {frames[row]})", row, frame_col)
    times = None
    if time_col is not None:
        times = values[:, time_col]
        if not np.isfinite(times).all():
            row = int(np.argmax(~np.isfinite(times)))
            raise table.error("time is not a finite number", row, time_col)
    figures = {"rows": len(values), "nonfinite_joints_set_untracked": nonfinite, "units_assumed": unit,
               "ignored_columns": ignored}
    return KeypointTable(skel, positions, confidence, frames, times, figures)


def storable_joints(positions: np.ndarray) -> tuple[np.ndarray, int]:
    """Joints with any coordinate not finite in float32 (what is stored) become untracked (NaN).

    Args:
        positions: (..., J, 3) joint positions.

    Returns:
        The positions as float64 with such joints NaN in all three coordinates,
        and how many joints were finite before but are not storable (Inf, overflow).
    """
    with np.errstate(over="ignore"):
        ok = np.isfinite(np.asarray(positions, dtype=np.float64).astype(np.float32)).all(axis=-1)
    lost = int((~ok & ~np.isnan(positions).any(axis=-1)).sum())
    return np.where(ok[..., None], positions, np.nan).astype(np.float64), lost


def _layout(table: CsvTable, skel: Skeleton, layout: str) -> tuple[np.ndarray, dict, int | None, int | None, list]:
    """Column indices: coords (J, 3), confidence columns by joint, frame and time columns, ignored names."""
    n_joints = skel.num_joints
    if table.header is None:
        if layout == "auto":
            raise DataError("the file has no header row: set keypoint_options.layout to blocks or interleaved",
                            file=table.path)
        if table.n_columns != 3 * n_joints:
            raise DataError(f"{table.n_columns} columns without header; {skel.name} needs exactly {3 * n_joints}",
                            file=table.path)
        index = np.arange(3 * n_joints)
        coords = index.reshape(3, n_joints).T if layout == "blocks" else index.reshape(n_joints, 3)
        return coords, {}, None, None, []
    joints = {normalise_name(j): i for i, j in enumerate(skel.joint_names)}
    coords = np.full((n_joints, 3), -1)
    conf: dict[int, tuple[int, str]] = {}
    frame_col = time_col = None
    ignored = []
    for column, name in enumerate(table.header):
        key = normalise_name(name)
        if key in COLUMN_ALIASES["frame"] and frame_col is None:
            frame_col = column
            continue
        if key in COLUMN_ALIASES["time"] and time_col is None:
            time_col = column
            continue
        if (m := _CONF.match(name)) and normalise_name(m["joint"]) in joints:
            conf[joints[normalise_name(m["joint"])]] = (column, m["kind"].lower())
            continue
        if (m := _COORD.match(name)) and normalise_name(m["joint"]) in joints:
            j, a = joints[normalise_name(m["joint"])], "xyz".index(m["axis"].lower())
            if coords[j, a] >= 0:
                raise DataError(f"two columns for {skel.joint_names[j]} {m['axis']}", file=table.path, field=name)
            coords[j, a] = column
            continue
        ignored.append(name)
    missing = [f"{skel.joint_names[j]}_{'XYZ'[a]}" for j, a in zip(*np.nonzero(coords < 0))]
    if missing:
        raise DataError(f"no column for {len(missing)} coordinates of skeleton {skel.name}, e.g. {missing[:4]}",
                        file=table.path)
    return coords, conf, frame_col, time_col, ignored


def _confidence(table: CsvTable, columns: dict[int, tuple[int, str]], positions: np.ndarray) -> np.ndarray | None:
    """(K, J) confidence from per-joint confidence or tracking-state columns; untracked joints -> NaN positions."""
    if not columns:
        return None
    conf = np.where(np.isnan(positions[..., 0]), 0.0, 1.0)
    for joint, (column, kind) in columns.items():
        v = table.values[:, column]
        if kind in ("state", "trackingstate"):
            bad = ~np.isin(v, (0.0, 1.0, 2.0))
            value = v / 2.0
        else:
            bad = ~((v >= 0) & (v <= 1))
            value = v
        if bad.any():
            row = int(np.argmax(bad))
            raise table.error(f"{kind} {float(v[row]):g} outside {'{0, 1, 2}' if 'state' in kind else '[0, 1]'}", row,
                              column)
        conf[:, joint] = np.where(np.isnan(positions[:, joint, 0]), 0.0, value)
        positions[value == 0, joint] = np.nan
    return conf


def _check_up(positions: np.ndarray, skeleton: str, report: ImportReport) -> None:
    """Warn when head-minus-ankles does not point along +z (the world is z-up)."""
    smpl, mask = smpl_from_skeleton(positions, skeleton)
    if not mask[[7, 8, 15]].all():
        return
    up = np.nanmean(smpl[:, 15] - 0.5 * (smpl[:, 7] + smpl[:, 8]), axis=0)
    if not np.isfinite(up).all() or np.linalg.norm(up) == 0:
        return
    axis = int(np.argmax(np.abs(up)))
    if axis != 2 or up[2] < 0:
        looks = f"{'-' if up[axis] < 0 else '+'}{'xyz'[axis]}"
        report.warn(f"keypoints stored as world but the body's up direction is {looks}, not +z: set "
                    "keypoint_options.axes (y_up, kinect_camera) or transform")


def keypoint_times(
    table: KeypointTable,
    radar_frames: np.ndarray,
    radar_t: np.ndarray,
    radar_origin_s: float | None,
    options: KeypointOptions,
    report: ImportReport,
    path: str,
) -> np.ndarray:
    """Session times of the keypoint rows, by pairing them with the radar frames.

    Args:
        table: the keypoints.
        radar_frames: (T,) radar frame numbers.
        radar_t: (T,) radar session times (s).
        radar_origin_s: file time of radar t = 0 when radar times came from
            the file, else None.
        options: ``pairing`` and the time unit.
        report: receives the pairing used.
        path: keypoint file, named in errors.

    Returns:
        (K,) seconds, strictly increasing.
    """
    k = len(table.positions)
    mode = options.pairing
    if mode == "auto":
        if table.frame_numbers is not None:
            mode = "frame"
        elif table.times is not None and radar_origin_s is not None:
            mode = "time"
        elif k == len(radar_t):
            mode = "order"
        else:
            raise DataError(f"cannot pair {k} keypoint rows with {len(radar_t)} radar frames: no frame column, no "
                            "time column on the radar file's clock, and the counts differ; set "
                            "keypoint_options.pairing", file=path)
    if mode == "frame":
        if table.frame_numbers is None:
            raise DataError("pairing by frame needs a frame column", file=path)
        t = _frames_to_times(table.frame_numbers, radar_frames, radar_t)
        how = "by frame number (the radar's frame-number clock, extended at its median period)"
    elif mode == "time":
        if table.times is None:
            raise DataError("pairing by time needs a time column", file=path)
        steps = np.diff(table.times)
        unit, why = time_unit(float(np.median(steps)) if len(steps) else 0.0, options.frame_rate_hz,
                              options.time_unit)
        seconds = table.times * TIME_SCALE[unit]
        if radar_origin_s is None:
            report.warn("keypoint times paired with synthesised radar times: both clocks are assumed to start "
                        "together")
            t = seconds - seconds[0]
        else:
            t = seconds - radar_origin_s
        how = f"by time ({why}; same clock as the radar file's times)"
    else:
        if k != len(radar_t):
            raise DataError(f"pairing by order needs equal counts: {k} keypoint rows, {len(radar_t)} radar frames",
                            file=path)
        t = np.asarray(radar_t, dtype=np.float64)
        how = "by order (row i = radar frame i)"
    if k > 1 and (np.diff(t) <= 0).any():
        row = int(np.argmax(np.diff(t) <= 0)) + 1
        raise DataError(f"keypoint times do not increase at row {row}", file=path, field="time")
    report.assume("keypoints.pairing", how)
    table.figures["timestamps"] = f"radar clock, paired {how.split(' (')[0]}"
    return t


def _frames_to_times(frames: np.ndarray, radar_frames: np.ndarray, radar_t: np.ndarray) -> np.ndarray:
    """Radar clock at any frame number: interpolated inside, extrapolated at the median period outside."""
    rf = radar_frames.astype(np.float64)
    f = frames.astype(np.float64)
    period = float(np.median(np.diff(radar_t) / np.diff(rf))) if len(rf) > 1 else 0.1
    t = np.interp(f, rf, radar_t)
    t = np.where(f < rf[0], radar_t[0] + period * (f - rf[0]), t)
    return np.where(f > rf[-1], radar_t[-1] + period * (f - rf[-1]), t)
