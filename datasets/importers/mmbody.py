"""``format=mmbody``: one mmBody sequence folder (``train/sequence_k`` or ``test/<scene>/sequence_k``).

Layout (mmBody repository)::

    radar/frame_i.npy          (N, 6) float64 full-scene points
    image/{master,sub}/frame_i.png
    mesh/frame_i.npz           SMPL-X fit: pose (69), pose_hand (90), shape (16), vertices (10475, 3), joints (55, 3)
    calib.txt                  sensor -> world 4x4 matrices; the radar is the world frame
    depth_pcl/...              (not imported)

Axes are x horizontal, y depth, z height, metres, in the radar frame, which
mmBody uses as its world: ``T_world_from_radar`` is identity. Point columns:
the README says x, y, z, range velocity, amplitude, energy, but the data
disagree (column 3 holds float32 bit patterns of small integers, column 4 takes
the values of a quantised radial velocity, column 5 is dB-like), so the default
names are ``x, y, z, c3, doppler, power_db``: column 3 is decoded from its bit
pattern when every value is one, and all of this is flagged as unverified in
the report. Mesh joints become SMPL-24 ground truth: SMPL-X joints 0-21 are
SMPL's; SMPL's hand joints are taken as SMPL-X's middle-finger bases. The
SMPL-X parameters themselves are not imported (the session schema holds SMPL).
mmBody ships no timestamps: times are made from frame numbers.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import numpy as np
from tqdm import tqdm

from wavecap.body.skeleton import SMPL_JOINT_NAMES
from wavecap.errors import DataError

from .camera import read_image_folder
from .frame_files import finite_rows, load_npy, load_npz_member, numbered_files, ragged, warn_synthesised_times
from .options import CameraOptions, RadarOptions
from .report import ImportReport
from .streams import CameraData, GroundTruthData, RadarData, write_session
from .timestamps import synthesised
from .units import LENGTH_SCALE, radar_units

MMBODY_COLUMNS = ("x", "y", "z", "c3", "doppler", "power_db")
# SMPL-X joints giving SMPL's 24: the first 22 coincide; SMPL's hand joints
# (knuckles) are taken as SMPL-X's left/right middle-finger bases (25 + 3, 40 + 3).
SMPLX_TO_SMPL24 = (*range(22), 28, 43)


def _decode_bits(column: np.ndarray) -> tuple[np.ndarray, str]:
    """Column 3 as integers when every value is a float32 bit pattern of a small non-negative integer."""
    as32 = column.astype(np.float32)
    ints = as32.view(np.int32)
    if column.size and np.array_equal(as32.astype(np.float64), column) and ((ints >= 0) & (ints < 1 << 24)).all():
        return ints.astype(np.float64), "decoded: float32 bit patterns read as integers"
    return column, "kept as stored (not all values are float32 bit patterns of small integers)"


def read_mmbody_radar(folder: Path, options: RadarOptions, report: ImportReport,
                      progress: bool = False) -> tuple[RadarData, np.ndarray]:
    """The radar stream of ``<sequence>/radar`` and its (T,) frame numbers."""
    numbers, paths = numbered_files(folder, r"frame_(\d+)\.npy")
    frames = []
    for number, path in tqdm(zip(numbers, paths), total=len(paths), disable=not progress, desc="radar frames"):
        points = load_npy(path, int(number))
        if points.size == 0:
            points = np.zeros((0, 6))
        if points.ndim != 2 or points.shape[1] != 6 or points.dtype.kind not in "fiu":
            raise DataError(f"points {points.shape} {points.dtype}, expected (N, 6) numbers", file=str(path),
                            frame=int(number))
        frames.append(points.astype(np.float64))
    columns = tuple(options.point_columns or MMBODY_COLUMNS)
    if len(columns) != 6:
        raise ValueError(f"mmBody points have 6 columns; point_columns names {len(columns)}")
    decoding = "n/a"
    if columns[3] == "c3" and frames:
        all3 = np.concatenate([f[:, 3] for f in frames])
        decoded, decoding = _decode_bits(all3)
        if decoded is not all3:
            starts = np.cumsum([0] + [len(f) for f in frames])
            for i, f in enumerate(frames):
                f[:, 3] = decoded[starts[i] : starts[i + 1]]
    points, offsets, dropped = ragged(frames, 6)
    unit, why = radar_units(points[:, :3].astype(np.float64), options.units, str(folder))
    points[:, :3] *= LENGTH_SCALE[unit]
    report.assume("radar.units", f"{unit}; {why}")
    report.assume("radar.columns", f"{', '.join(columns)}: UNVERIFIED (README and data disagree); column 3 "
                                   f"{decoding}")
    times = synthesised(numbers, options.frame_rate_hz, "mmBody ships no timestamps")
    warn_synthesised_times(report, "mmBody", options.frame_rate_hz)
    config: dict[str, object] = {"model": options.model or "Arbe 4D imaging radar (mmBody)",
                                 "frame_rate_hz": options.frame_rate_hz, "source_format": "mmbody",
                                 "source_units": unit, "time_source": times.source, "c3_decoding": decoding}
    if "doppler" in columns:
        config["doppler_sign"] = options.doppler_sign
        report.assume("radar.doppler_sign", f"{options.doppler_sign}: UNVERIFIED, mmBody does not state it")
    extrinsic = np.eye(4) if options.T_world_from_radar is None else options.T_world_from_radar
    report.assume("radar.extrinsic", "identity: mmBody's world is its radar frame")
    figures = {"frame_files": len(paths), "rows_dropped_nonfinite": dropped, "units_assumed": unit,
               "frame_numbers": f"{numbers[0]}..{numbers[-1]}"}
    return RadarData(points, offsets, times.t, columns, config, extrinsic, figures,
                     f"synthesised at {options.frame_rate_hz:g} Hz"), numbers


def read_mmbody_meshes(folder: Path, radar_numbers: np.ndarray, radar_t: np.ndarray, report: ImportReport,
                       progress: bool = False) -> GroundTruthData | None:
    """SMPL-24 ground-truth joints from the SMPL-X fits, on the radar's frame times."""
    pattern = re.compile(r"frame_(\d+)\.npz")
    files = sorted((int(m[1]), p) for p in folder.iterdir() if (m := pattern.fullmatch(p.name)))
    index = {int(n): i for i, n in enumerate(radar_numbers)}
    times, joints, skipped = [], [], 0
    for number, path in tqdm(files, disable=not progress, desc="mesh frames"):
        j55 = load_npz_member(path, "joints", number)
        if j55 is None or j55.ndim != 2 or j55.shape[0] < 44 or j55.shape[1] != 3 or j55.dtype.kind not in "fiu":
            raise DataError(f"no SMPL-X 'joints' array (55, 3) (got {None if j55 is None else j55.shape})",
                            file=str(path), frame=number)
        j24 = j55[list(SMPLX_TO_SMPL24)].astype(np.float64)
        if number not in index or not finite_rows(j24).all():
            skipped += 1
            continue
        times.append(radar_t[index[number]])
        joints.append(j24)
    if not joints:
        report.warn("no usable mesh/frame_i.npz: the session has no ground truth")
        return None
    report.assume("ground_truth", "SMPL-X mesh joints 0-21 as SMPL's; SMPL hands = SMPL-X middle-finger bases; "
                                  "world = mmBody radar frame")
    figures = {"mesh_files": len(files), "mesh_frames_skipped": skipped}
    if skipped:
        report.warn(f"{skipped} mesh frames skipped (non-finite joints or no radar frame of that number)")
    return GroundTruthData(np.asarray(times), np.stack(joints), SMPL_JOINT_NAMES, "smpl24", figures)


def _calib_extrinsic(calib: Path, sensor: str) -> np.ndarray | None:
    """The 16 numbers after the first line of ``calib.txt`` naming the sensor, as a rigid 4x4, or None."""
    from wavecap.datasets.session_checks import rigid_problem

    try:
        lines = calib.read_text(errors="replace").splitlines()
    except OSError:
        return None
    number = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
    for i, line in enumerate(lines):
        if sensor in line.lower():
            values = [float(v) for text in [line.lower().split(sensor, 1)[1], *lines[i + 1 : i + 5]]
                      for v in number.findall(text)]
            if len(values) >= 16:
                m = np.array(values[:16]).reshape(4, 4)
                return None if rigid_problem(m) else m
    return None


def read_mmbody_camera(sequence: Path, radar_numbers: np.ndarray, options: CameraOptions,
                       rate_hz: float, report: ImportReport) -> CameraData | None:
    """The chosen RGB camera (``options.sensor``) with the radar's frame times."""
    if options.sensor == "none":
        return None
    folder = sequence / "image" / options.sensor
    if not folder.is_dir():
        report.warn(f"no image/{options.sensor}/ folder: the session has no camera stream")
        return None
    numbers, _ = numbered_files(folder, r"frame_(\d+)\.(?:png|jpg|jpeg)")
    if numbers[0] < radar_numbers[0] or numbers[-1] > radar_numbers[-1]:
        raise DataError(f"image frames {numbers[0]}..{numbers[-1]} outside the radar's "
                        f"{radar_numbers[0]}..{radar_numbers[-1]}", file=str(folder))
    extrinsic = options.T_world_from_camera
    if extrinsic is None and (calib := sequence / "calib.txt").is_file():
        extrinsic = _calib_extrinsic(calib, options.sensor)
        if extrinsic is not None:
            report.assume("camera.extrinsic", f"calib.txt: the 4x4 after the line naming '{options.sensor}', read "
                                              "as camera -> world (radar)")
    frame_options = dataclasses.replace(
        options, timestamps="names", name_unit="frame", fps=rate_hz,
        time_offset_s=float(numbers[0] - radar_numbers[0]) / rate_hz, T_world_from_camera=extrinsic,
    )
    return read_image_folder(folder, frame_options, report)


def import_mmbody(
    sequence: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    radar_options: RadarOptions | None = None,
    camera_options: CameraOptions | None = None,
    overwrite: bool = False,
    compression: str | None = "lzf",
    validate: str = "full",
    progress: bool = False,
) -> ImportReport:
    """Import one mmBody sequence folder (radar, one camera, mesh joints) as a session.

    Args:
        sequence: the sequence folder holding ``radar/`` (and ``image/``, ``mesh/``, ``calib.txt``).
        out: session file to write; the report goes beside it.
        radar_options: frame rate, units, point column names, doppler sign.
        camera_options: which sensor (``master``/``sub``/``none``), intrinsics, encoding.
        overwrite: replace an existing ``out``.
        compression: HDF5 filter.
        validate: validation level of the written session.
        progress: progress bars over the frame files.

    Returns:
        The report.
    """
    radar_options = radar_options or RadarOptions()
    folder = Path(sequence)
    report = ImportReport("mmbody", inputs={"sequence": str(folder)})
    if not (folder / "radar").is_dir():
        raise DataError("no radar/ folder: expected an mmBody sequence folder", file=str(folder))
    radar, numbers = read_mmbody_radar(folder / "radar", radar_options, report, progress)
    mesh = folder / "mesh"
    gt = read_mmbody_meshes(mesh, numbers, radar.timestamps, report, progress) if mesh.is_dir() else None
    camera = read_mmbody_camera(folder, numbers, camera_options or CameraOptions(), radar_options.frame_rate_hz,
                                report)
    return write_session(out, report, radar, ground_truth=gt, camera=camera, description=f"mmBody {folder.as_posix()}",
                         overwrite=overwrite, compression=compression, validate=validate, progress=progress)
