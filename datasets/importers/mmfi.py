"""``format=mmfi``: one MM-Fi sequence folder (``E0x/Syy/Azz``).

Layout (MM-Fi toolbox, ``mmfi_lib/mmfi.py``)::

    Azz/mmwave/frame001.bin ... frame297.bin   raw float64, (N, 5) per frame; 0 bytes = no points
    Azz/ground_truth.npy                        (297, 17, 3) metres, Human3.6M-17 joint order

The five point columns are taken as x, y, z, Doppler velocity, intensity, as
MM-Fi's paper (and mRI/MARS) use; the toolbox does not document them. Empty
frames stay empty frames. MM-Fi ships no timestamps, so radar times are made
from the frame numbers at ``radar_options.frame_rate_hz`` (10 Hz is inferred,
not published) and the ground truth shares them frame by frame. No extrinsic
between the radar and the ground truth's frame is published either: the
session's ``T_world_from_radar`` stays identity until ``scripts/calibrate.py``
estimates it. The rgb/infra ``.npy`` files (2-D keypoints), depth, LiDAR and
WiFi are not imported.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from wavecap.errors import DataError
from wavecap.skeletons import get_skeleton

from .frame_files import load_npy, numbered_files, ragged, warn_synthesised_times
from .keypoints_csv import AXES, storable_joints
from .options import KeypointOptions, RadarOptions
from .report import ImportReport
from .streams import KeypointData, RadarData, write_session
from .timestamps import synthesised
from .units import LENGTH_SCALE, keypoint_units, radar_units

MMFI_COLUMNS = ("x", "y", "z", "doppler", "intensity")
POINT_BYTES = 5 * 8


def read_mmfi_radar(folder: Path, options: RadarOptions, report: ImportReport,
                    progress: bool = False) -> tuple[RadarData, np.ndarray]:
    """The radar stream of ``<sequence>/mmwave`` and its (T,) frame numbers."""
    numbers, paths = numbered_files(folder, r"frame(\d+)\.bin")
    frames = []
    for number, path in tqdm(zip(numbers, paths), total=len(paths), disable=not progress, desc="mmwave frames"):
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise DataError(f"cannot read ({exc})", file=str(path), frame=int(number)) from exc
        if len(raw) % POINT_BYTES:
            raise DataError(f"{len(raw)} bytes is not a whole number of 5-float64 points ({POINT_BYTES} bytes); "
                            "MM-Fi frames are float64 (not int16 or float32)", file=str(path), frame=int(number))
        frames.append(np.frombuffer(raw, dtype="<f8").reshape(-1, 5))
    columns = tuple(options.point_columns or MMFI_COLUMNS)
    if len(columns) != 5:
        raise ValueError(f"MM-Fi points have 5 columns; point_columns names {len(columns)}")
    points, offsets, dropped = ragged(frames, 5)
    unit, why = radar_units(points[:, :3].astype(np.float64), options.units, str(folder))
    points[:, :3] *= LENGTH_SCALE[unit]
    report.assume("radar.units", f"{unit}; {why}")
    report.assume("radar.columns", f"{', '.join(columns)} (MM-Fi paper; not documented in the toolbox)")
    times = synthesised(numbers, options.frame_rate_hz, "MM-Fi ships no timestamps")
    warn_synthesised_times(report, "MM-Fi", options.frame_rate_hz)
    config: dict[str, object] = {"model": options.model or "IWR6843 (MM-Fi)", "frame_rate_hz": options.frame_rate_hz,
                                 "source_format": "mmfi", "source_units": unit, "time_source": times.source}
    if "doppler" in columns:
        config["doppler_sign"] = options.doppler_sign
        report.assume("radar.doppler_sign", f"{options.doppler_sign} (TI convention; MM-Fi does not state it)")
    figures = {"frame_files": len(paths), "rows_dropped_nonfinite": dropped, "units_assumed": unit,
               "frame_numbers": f"{numbers[0]}..{numbers[-1]}"}
    return RadarData(points, offsets, times.t, columns, config, _extrinsic(options, report), figures,
                     f"synthesised at {options.frame_rate_hz:g} Hz"), numbers


def _extrinsic(options: RadarOptions, report: ImportReport) -> np.ndarray:
    if options.T_world_from_radar is not None:
        return options.T_world_from_radar
    report.assume("radar.extrinsic", "identity: the dataset publishes no radar extrinsic; run scripts/calibrate.py "
                                     "against the ground truth to estimate it")
    return np.eye(4)


def read_mmfi_ground_truth(path: Path, n_frames: int, t: np.ndarray, options: KeypointOptions,
                           report: ImportReport) -> KeypointData:
    """``ground_truth.npy`` as a Human3.6M-17 keypoint stream sharing the radar's frame times."""
    gt = load_npy(path)
    skeleton = get_skeleton("h36m17")
    if gt.ndim != 3 or gt.shape[1:] != (17, 3) or gt.dtype.kind not in "fiu":
        raise DataError(f"shape {gt.shape} {gt.dtype}, expected (T, 17, 3) numbers", file=str(path))
    if len(gt) != n_frames:
        raise DataError(f"{len(gt)} ground-truth frames for {n_frames} radar frames; MM-Fi pairs them by index",
                        file=str(path))
    positions, lost = storable_joints(gt.astype(np.float64))
    unit, why = keypoint_units(positions, skeleton.bones, options.units, str(path))
    positions = positions * LENGTH_SCALE[unit] @ AXES[options.axes].T
    if options.transform is not None:
        positions = positions @ options.transform[:3, :3].T + options.transform[:3, 3]
    positions, overflow = storable_joints(positions)
    report.assume("keypoints.units", f"{unit}; {why}")
    report.assume("keypoints.pairing", "by index: ground-truth row i is radar frame i")
    report.assume("keypoints.frame", f"{options.frame} (MM-Fi's ground-truth frame; axes {options.axes})")
    figures = {"timestamps": "radar frames'", "units_assumed": unit, "nonfinite_joints_set_untracked": lost + overflow}
    return KeypointData(options.name or skeleton.name, t, positions, skeleton.joint_names, skeleton.name,
                        options.frame, None, figures)


def import_mmfi(
    sequence: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    radar_options: RadarOptions | None = None,
    keypoint_options: KeypointOptions | None = None,
    overwrite: bool = False,
    compression: str | None = "lzf",
    validate: str = "full",
    progress: bool = False,
) -> ImportReport:
    """Import one MM-Fi sequence folder (radar + ground-truth keypoints) as a session.

    Args:
        sequence: the sequence folder holding ``mmwave/`` and ``ground_truth.npy``.
        out: session file to write; the report goes beside it.
        radar_options: frame rate, units, point column names, doppler sign.
        keypoint_options: stream name, units, frame and axes of the ground truth.
        overwrite: replace an existing ``out``.
        compression: HDF5 filter.
        validate: validation level of the written session.
        progress: progress bar over the frame files.

    Returns:
        The report.
    """
    radar_options = radar_options or RadarOptions()
    keypoint_options = keypoint_options or KeypointOptions()
    folder = Path(sequence)
    report = ImportReport("mmfi", inputs={"sequence": str(folder)})
    if not (folder / "mmwave").is_dir():
        raise DataError("no mmwave/ folder: expected an MM-Fi sequence folder E0x/Syy/Azz", file=str(folder))
    radar, numbers = read_mmfi_radar(folder / "mmwave", radar_options, report, progress)
    streams = []
    gt_path = folder / "ground_truth.npy"
    if gt_path.is_file():
        streams.append(read_mmfi_ground_truth(gt_path, len(numbers), radar.timestamps, keypoint_options, report))
    else:
        report.warn("no ground_truth.npy: the session has radar only")
    return write_session(out, report, radar, keypoints=streams, description=f"MM-Fi {folder.as_posix()}",
                         overwrite=overwrite, compression=compression, validate=validate)
