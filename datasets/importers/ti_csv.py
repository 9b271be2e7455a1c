"""TI point-cloud CSV exports: one row per detected point, grouped by a frame-number column.

The common layout (TI's visualiser exports, the MARS dataset) is::

    Frame #,# Obj,X,Y,Z,Doppler,Intensity,Abs Time
    1,3,0.12,1.93,0.05,-0.21,18.1,1692871261.1203
    ...

Columns are found by header name (case, spaces and punctuation ignored; see
``COLUMN_ALIASES``) or overridden per key; a file without header must follow
the order above. Frames are rows with the same frame number, which must not
decrease. Frame numbers missing between two present ones are frames with no
detections and are kept as empty frames, as are frames whose only row says
``# Obj`` = 0. Rows with NaN/Inf in a point column are dropped and counted.
Positions are TI's radar frame (x right, y boresight, z up); Doppler is radial
velocity in m/s, > 0 away from the sensor in TI's SDK (override with
``doppler_sign``). TI's ``Intensity`` column is the detection's SNR (dB), the
SDK's per-point side information, so it is stored as ``snr`` (the column the
student's point encoder reads, as the simulator writes it) unless the file
has an SNR column of its own or ``columns`` names either key; the report says
so. Columns named like a linear peak value (``peakVal``, ``power``) stay
``intensity``.
"""

from __future__ import annotations

import os
import re

import numpy as np

from wavecap.errors import DataError

from .csv_table import CsvTable, read_csv_table
from .options import RadarOptions
from .report import ImportReport
from .streams import RadarData
from .timestamps import frame_times
from .units import LENGTH_SCALE, radar_units

# Canonical key -> normalised header names (lower case, letters and digits only).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "frame": ("frame", "framenumber", "frameno", "framenum", "frameid", "frameindex", "frameidx"),
    "n_points": ("obj", "numobj", "nobj", "numobjs", "numpoints", "npoints", "numdetectedobj", "numdetectedpoints",
                 "detectedobjects", "objects"),
    "x": ("x", "xm", "posx", "xpos"),
    "y": ("y", "ym", "posy", "ypos"),
    "z": ("z", "zm", "posz", "zpos"),
    "doppler": ("doppler", "dopplerms", "velocity", "velocityms", "v", "radialvelocity", "vel"),
    "intensity": ("intensity", "peakval", "peakvalue", "power"),
    "snr": ("snr", "snrdb"),
    "noise": ("noise", "noisedb"),
    "range": ("range", "rangem"),
    "time": ("abstime", "time", "timestamp", "timestamps", "times", "timestampms", "timems", "timestampus",
             "unixtime", "systime", "hosttime"),
}
# Column order of a header-less file: TI's layout.
HEADERLESS_ORDER = ("frame", "n_points", "x", "y", "z", "doppler", "intensity", "time")
# Stored point columns, in order, when present (x, y, z always).
POINT_KEYS = ("x", "y", "z", "doppler", "snr", "intensity", "noise", "range")
LENGTH_KEYS = ("x", "y", "z", "range")


def normalise_name(name: str) -> str:
    """Header name reduced to lower-case letters and digits (``"Frame #"`` -> ``"frame"``)."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def resolve_columns(table: CsvTable, overrides: dict[str, str | int]) -> dict[str, int]:
    """Column index of each canonical key found in the table.

    Raises:
        DataError: a required key (frame, x, y, z) is missing, an override
            names no column, or two keys claim the same column.
    """
    unknown = sorted(set(overrides) - set(COLUMN_ALIASES))
    if unknown:
        raise DataError(f"unknown column keys {unknown}; known: {sorted(COLUMN_ALIASES)}", file=table.path)
    found: dict[str, int] = {}
    if table.header is None:
        found = {k: i for i, k in enumerate(HEADERLESS_ORDER[: table.n_columns])}
    else:
        names = [normalise_name(h) for h in table.header]
        for key, aliases in COLUMN_ALIASES.items():
            hits = [i for i, n in enumerate(names) if n in aliases]
            if hits:
                found[key] = hits[0]
    for key, spec in overrides.items():
        index = _override_index(table, key, spec)
        # An override wins over the name-based guess for that column (e.g. snr="Intensity").
        found = {k: i for k, i in found.items() if i != index}
        found[key] = index
    missing = [k for k in ("frame", "x", "y", "z") if k not in found]
    if missing:
        have = list(table.header) if table.header is not None else f"{table.n_columns} unnamed columns"
        raise DataError(f"no column for {missing} among {have}; set radar_options.columns", file=table.path)
    taken: dict[int, str] = {}
    for key, index in found.items():
        if index in taken:
            raise DataError(f"column {table.column_name(index)!r} claimed as both {taken[index]!r} and {key!r}",
                            file=table.path)
        taken[index] = key
    return found


def _intensity_as_snr(table: CsvTable, cols: dict[str, int], overrides: dict[str, str | int],
                      report: ImportReport) -> dict[str, int]:
    """Store TI's ``Intensity`` (an SNR in dB) as ``snr`` when nothing else claims that name."""
    if "snr" in cols or "intensity" not in cols or {"snr", "intensity"} & set(overrides):
        return cols
    index = cols["intensity"]
    if table.header is not None and normalise_name(table.header[index]) != "intensity":
        return cols  # peakVal / power: a linear magnitude, not an SNR
    report.assume("radar.snr", f"{table.column_name(index)!r} is TI's per-point SNR (dB), stored as snr; set "
                               f"radar_options.columns={{intensity: {table.column_name(index)!r}}} to keep it as "
                               "intensity")
    return {("snr" if k == "intensity" else k): i for k, i in cols.items()}


def _override_index(table: CsvTable, key: str, spec: str | int) -> int:
    if isinstance(spec, int) and not isinstance(spec, bool):
        if 0 <= spec < table.n_columns:
            return spec
    elif table.header is not None:
        names = [normalise_name(h) for h in table.header]
        for candidate in (list(table.header).index(spec) if spec in table.header else None,
                          names.index(normalise_name(spec)) if normalise_name(spec) in names else None):
            if candidate is not None:
                return candidate
    raise DataError(f"column override {key}={spec!r} names no column of {table.header or table.n_columns}",
                    file=table.path)


def read_ti_csv(path: str | os.PathLike[str], options: RadarOptions,
                report: ImportReport) -> tuple[RadarData, np.ndarray]:
    """Read a TI point CSV into a radar stream.

    Args:
        path: the CSV export (never modified).
        options: units, columns, frame rate, ...
        report: receives assumptions and warnings.

    Returns:
        The radar stream and its (T,) int64 frame numbers (for pairing keypoints).

    Raises:
        DataError: anything that cannot be interpreted, naming file, line and column.
    """
    path = os.fspath(path)
    table = read_csv_table(path, options.delimiter, options.parser)
    if len(table.values) == 0:
        raise DataError("no data rows", file=path)
    cols = _intensity_as_snr(table, resolve_columns(table, dict(options.columns)), options.columns, report)
    values = table.values
    frames = _frame_numbers(table, cols["frame"], options.max_missing_frames)

    keep = np.ones(len(values), bool)
    markers = 0
    if "n_points" in cols:
        # A row saying "0 objects" marks a frame without detections.
        marker = values[:, cols["n_points"]] == 0
        markers = int(marker.sum())
        keep &= ~marker
    point_keys = [k for k in POINT_KEYS if k in cols]
    index = [cols[k] for k in point_keys]
    points = np.empty((len(values), len(index)), np.float32)  # [R, C]: what is stored
    with np.errstate(over="ignore"):
        for j, c in enumerate(index):  # column by column: no float64 copy of the whole point table
            points[:, j] = values[:, c]
    finite = np.isfinite(points).all(axis=1)  # float32: values it cannot hold are dropped too
    dropped = int((keep & ~finite).sum())
    keep &= finite
    every = bool(keep.all())
    xyz = values[:, index[:3]] if every else values[:, index[:3]][keep]  # [N, 3] float64, the file's unit

    unit, why = radar_units(xyz, options.units, path)
    scale = LENGTH_SCALE[unit]
    if scale != 1.0:
        factors = np.array([scale if k in LENGTH_KEYS else 1.0 for k in point_keys])
        points = (values[:, index] * factors).astype(np.float32)  # scaled in float64, then stored
        xyz = xyz * scale
        report.warn(f"radar positions converted from {unit} to m ({why})")
    report.assume("radar.units", f"{unit} for {', '.join(k for k in point_keys if k in LENGTH_KEYS)}; {why}; "
                                 "doppler taken as m/s")
    if not every:
        points = points[keep]

    first, last = int(frames[0]), int(frames[-1])
    all_frames = np.arange(first, last + 1, dtype=np.int64)
    counts = np.bincount(frames[keep] - first, minlength=len(all_frames))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    present = np.zeros(len(all_frames), bool)
    present[frames - first] = True

    if "n_points" in cols:
        _check_object_counts(values[:, cols["n_points"]], frames, report)
    file_times = _frame_file_times(values, cols.get("time"), frames, first, len(all_frames))
    times = frame_times(all_frames, file_times, options.frame_rate_hz, options.time_unit)
    if times.source != "file":
        report.warn(f"radar timestamps {times.reason}")
    report.assume("radar.timestamps", times.reason)
    report.assume("radar.frame", "TI radar frame: x right, y boresight, z up")
    if "doppler" in cols:
        report.assume("radar.doppler_sign", f"{options.doppler_sign} (TI SDK: > 0 moving away)")

    columns = tuple(point_keys)
    config: dict[str, object] = {
        "model": options.model or "TI (CSV export)", "frame_rate_hz": _rate(times.t, options.frame_rate_hz),
        "source_format": "ti_csv", "source_units": unit, "time_source": times.source,
    }
    if times.source == "file":
        config["file_time_origin_s"] = times.origin_s
    if "doppler" in columns:
        config["doppler_sign"] = options.doppler_sign
    extrinsic = options.T_world_from_radar
    if extrinsic is None:
        extrinsic = np.eye(4)
        report.assume("radar.extrinsic", "identity: the radar frame is taken as world (not floor-level) until "
                                         "T_world_from_radar is given or scripts/calibrate.py estimates it")
    figures = {
        "rows": len(values), "rows_dropped_nonfinite": dropped, "empty_frame_marker_rows": markers,
        "frame_numbers": f"{first}..{last}", "frames_without_rows": int((~present).sum()),
        "units_assumed": unit, "ignored_columns": _ignored(table, cols),
        "max_range_m": round(float(np.sqrt(np.einsum("ij,ij->i", xyz, xyz).max())), 3) if len(xyz) else 0.0,
    }
    radar = RadarData(points, offsets, times.t, columns, config, extrinsic, figures,
                      "file" if times.source == "file" else f"synthesised at {options.frame_rate_hz:g} Hz")
    return radar, all_frames


def _frame_numbers(table: CsvTable, column: int, max_missing: int) -> np.ndarray:
    """(R,) int64 frame number of each row, checked: integral, non-decreasing, no absurd jumps."""
    f = table.values[:, column]
    bad = ~np.isfinite(f) | (f != np.round(f)) | (np.abs(f) > 2.0**53)
    if bad.any():
        row = int(np.argmax(bad))
        raise table.error(f"frame number {float(f[row]):g} is not an integer", row, column)
    frames = f.astype(np.int64)
    step = np.diff(frames)
    back, jump = step < 0, step > max_missing + 1
    if back.any() or jump.any():
        row = int(np.argmax(back | jump)) + 1  # the first problem in file order
        if back[row - 1]:
            raise table.error(f"frame number goes back from {frames[row - 1]} to {frames[row]}: rows must be in "
                              "frame order (a restarted or concatenated recording?)", row, column)
        raise table.error(f"frame number jumps from {frames[row - 1]} to {frames[row]}, more than "
                          f"max_missing_frames={max_missing} missing frames", row, column)
    return frames


def _check_object_counts(n_obj: np.ndarray, frames: np.ndarray, report: ImportReport) -> None:
    """Warn when a frame's row count disagrees with its ``# Obj`` value."""
    starts = np.flatnonzero(np.r_[True, frames[1:] != frames[:-1]])
    rows = np.diff(np.r_[starts, len(frames)])
    declared = n_obj[starts]
    marker = declared == 0
    mismatch = ~marker & (declared != rows)
    if mismatch.any():
        i = int(np.argmax(mismatch))
        report.warn(f"{int(mismatch.sum())} frames have a row count different from their '# Obj' value "
                    f"(first: frame {int(frames[starts[i]])}, {int(rows[i])} rows, '# Obj' {declared[i]:g})")


def _frame_file_times(values: np.ndarray, column: int | None, frames: np.ndarray, first: int,
                      n_frames: int) -> np.ndarray | None:
    """(T,) file time of each frame (its first row with a finite time), NaN for frames without one."""
    if column is None:
        return None
    times = values[:, column]
    ok = np.isfinite(times)
    out = np.full(n_frames, np.nan)
    # Assign in reverse so that each frame keeps the time of its first row.
    idx = (frames[ok] - first)[::-1]
    out[idx] = times[ok][::-1]
    return out


def _rate(t: np.ndarray, nominal: float) -> float:
    return float(1.0 / np.median(np.diff(t))) if len(t) > 1 else float(nominal)


def _ignored(table: CsvTable, cols: dict[str, int]) -> list[str]:
    used = set(cols.values())
    return [table.column_name(i) for i in range(table.n_columns) if i not in used]
