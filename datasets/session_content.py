"""Content checks of each session group, run once its structure is known good.

Each check raises the first ``DataError`` it finds. ``"cheap"`` reads only
per-frame indices and transforms; ``"full"`` reads every sample in blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import h5py
import numpy as np

from wavecap.errors import DataError

from ._h5 import as_float, as_int, as_str, as_str_list, get_attr, h5_guard, implausible_size
from .session_checks import (
    boxes_problem,
    first_nonfinite_row,
    image_magic_problem,
    intrinsics_problem,
    offsets_problem,
    rigid_problem,
    timestamps_problem,
)
from .session_schema import DOPPLER_SIGNS, LABEL_RESERVED_ATTRS, POSITION_COLUMNS

# Bytes read per block in full scans: bounded memory whatever the file size.
BLOCK_BYTES = 8 << 20


@dataclass(frozen=True)
class Where:
    """File and group that errors are reported against."""

    file: str
    group: str

    def error(self, message: str, field: str | None = None, frame: int | None = None) -> DataError:
        """A DataError at this place."""
        return DataError(message, file=self.file, group=self.group, field=field, frame=frame)


Found = dict[str, h5py.Dataset]


def _read(ds: h5py.Dataset, where: Where) -> np.ndarray:
    with h5_guard(where.file, where.group, ds.name.rsplit("/", 1)[-1] if ds.name else None):
        return ds[()]


def _blocks(ds: h5py.Dataset, where: Where, field: str) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first_row, rows)`` covering the dataset along axis 0."""
    row_bytes = max(1, ds.dtype.itemsize * int(np.prod(ds.shape[1:], dtype=np.int64)))
    step = max(1, BLOCK_BYTES // row_bytes)
    for start in range(0, ds.shape[0], step):
        with h5_guard(where.file, where.group, field, start):
            block = ds[start : start + step]
        yield start, block


def _check_timestamps(found: Found, where: Where) -> None:
    if problem := timestamps_problem(_read(found["timestamps"], where)):
        raise where.error(problem[0], "timestamps", problem[1])


def _check_rigid(found: Found, name: str, where: Where) -> None:
    if problem := rigid_problem(_read(found[name], where)):
        raise where.error(problem, name)


def _check_finite(ds: h5py.Dataset, field: str, where: Where, allow_nan: bool = False,
                  frame_of: Callable[[int], int] = int) -> None:
    for start, block in _blocks(ds, where, field):
        if (row := first_nonfinite_row(block, allow_nan)) is not None:
            kind = "Inf" if allow_nan else "NaN/Inf"
            raise where.error(f"{kind} value", field, frame_of(start + row))


def check_radar(g: h5py.Group, found: Found, sizes: dict[str, int], where: Where, level: str, _: int) -> None:
    """Timestamps, offsets, extrinsic, columns and heatmap axes; finiteness when full."""
    _check_timestamps(found, where)
    offsets = _read(found["offsets"], where)
    if problem := offsets_problem(offsets, sizes["N"]):
        raise where.error(problem[0], "offsets", problem[1])
    _check_rigid(found, "T_world_from_radar", where)
    columns = as_str_list(get_attr(found["points"].attrs, "columns"))
    if len(columns) != sizes["C"]:
        raise where.error(f"columns attribute names {len(columns)} columns but points has {sizes['C']}", "points")
    if columns[:3] != POSITION_COLUMNS or len(set(columns)) != len(columns):
        raise where.error(f"columns {columns} must be unique and start with {POSITION_COLUMNS}", "points")
    if "doppler" in columns and as_str(get_attr(g.attrs, "doppler_sign")) not in DOPPLER_SIGNS:
        raise where.error(f"a doppler column needs attribute doppler_sign in {DOPPLER_SIGNS}", "doppler_sign")
    if "heatmaps" in found:
        _check_heatmap_axes(found["heatmaps"], where)
    if level == "full":
        _check_finite(found["points"], "points", where,
                      frame_of=lambda row: int(np.searchsorted(offsets, row, side="right")) - 1)
        if "heatmaps" in found:
            _check_finite(found["heatmaps"], "heatmaps", where)


def _check_heatmap_axes(ds: h5py.Dataset, where: Where) -> None:
    axes = as_str_list(get_attr(ds.attrs, "axes"))
    if len(axes) != ds.ndim - 1:
        raise where.error(f"axes names {len(axes)} axes but heatmaps has {ds.ndim - 1} after T", "heatmaps")
    for axis, size in zip(axes, ds.shape[1:]):
        if f"bins_{axis}" in ds.attrs:
            bins = np.asarray(get_attr(ds.attrs, f"bins_{axis}"))
            if bins.shape != (size,) or bins.dtype.kind != "f" or not np.isfinite(bins).all():
                raise where.error(f"attribute bins_{axis} must be {size} finite floats", "heatmaps")


def check_radar_truth(g: h5py.Group, found: Found, sizes: dict[str, int], where: Where, level: str,
                      file_size: int) -> None:
    """Every member is a numeric dataset with one row per radar point; read when full."""
    points = g.file.get("/radar/points")
    rows = points.shape[0] if isinstance(points, h5py.Dataset) and points.ndim else None
    for name in g:
        ds = g.get(name)
        if not isinstance(ds, h5py.Dataset) or ds.dtype.kind not in "biuf" or ds.ndim < 1 or ds.shape[0] != rows:
            raise where.error(f"must be a numeric dataset with one row per radar point ({rows})", name)
        if implausible_size(ds, file_size):
            raise where.error(f"shape {ds.shape} claims more data than the file can hold", name)
        if level == "full":
            for _start, _block in _blocks(ds, where, name):
                pass  # reading is the check: checksums and decompression


def check_camera(g: h5py.Group, found: Found, sizes: dict[str, int], where: Where, level: str, _: int) -> None:
    """Timestamps, intrinsics, extrinsic, size attributes, person boxes; decodes all frames when full."""
    _check_timestamps(found, where)
    _check_rigid(found, "T_world_from_camera", where)
    if problem := intrinsics_problem(_read(found["intrinsics"], where)):
        raise where.error(problem, "intrinsics")
    width, height = as_int(get_attr(g.attrs, "width")), as_int(get_attr(g.attrs, "height"))
    fps = as_float(get_attr(g.attrs, "fps"))
    if width <= 0 or height <= 0 or fps <= 0:
        raise where.error("width, height and fps must be positive", "width")
    if "frames" in found and (sizes["H"], sizes["W"]) != (height, width):
        raise where.error(f"frames are {sizes['H']}x{sizes['W']} but attributes say {height}x{width}", "frames")
    if "encoded" in found:
        if "encoded_offsets" not in found:
            raise where.error("missing dataset encoded_offsets, required with encoded", "encoded_offsets")
        offsets = _read(found["encoded_offsets"], where)
        if problem := offsets_problem(offsets, sizes["L"], "encoded"):
            raise where.error(problem[0], "encoded_offsets", problem[1])
    # Boxes are small per-frame data like timestamps (16 bytes a frame): checked cheaply.
    if "boxes" in found and (problem := boxes_problem(_read(found["boxes"], where))):
        raise where.error(problem[0], "boxes", problem[1])
    if level != "full":
        return
    images = found.get("frames", found.get("encoded"))
    for _start, _block in _blocks(images, where, images.name.rsplit("/", 1)[-1]):
        pass  # reading is the check: checksums and decompression
    if "encoded" in found:
        encoding = as_str(get_attr(found["encoded"].attrs, "encoding"))
        for i, start in enumerate(offsets[:-1]):
            with h5_guard(where.file, where.group, "encoded", i):
                data = found["encoded"][start : start + 8]
            if problem := image_magic_problem(data, encoding):
                raise where.error(problem, "encoded", i)


def check_ground_truth(g: h5py.Group, found: Found, sizes: dict[str, int], where: Where, level: str, _: int) -> None:
    """Timestamps, joint and contact names; finiteness when full."""
    _check_timestamps(found, where)
    _check_names(found, "joints", "joint_names", sizes.get("J"), where)
    _check_names(found, "contacts", "names", sizes.get("K"), where)
    if level == "full":
        for name, ds in found.items():
            if name != "contacts":
                _check_finite(ds, name, where)


def _check_names(found: Found, field: str, attr: str, count: int | None, where: Where) -> None:
    if field in found:
        names = as_str_list(get_attr(found[field].attrs, attr))
        if len(names) != count or len(set(names)) != len(names):
            raise where.error(f"{attr} must be {count} unique names, got {len(names)}", field)


def check_keypoints(g: h5py.Group, found: Found, sizes: dict[str, int], where: Where, level: str, _: int) -> None:
    """Timestamps and joint names; no Inf positions and confidence in [0, 1] when full."""
    _check_timestamps(found, where)
    names = as_str_list(get_attr(g.attrs, "joint_names"))
    if len(names) != sizes["J"] or len(set(names)) != len(names):
        raise where.error(f"joint_names must be {sizes['J']} unique names, got {len(names)}", "joint_names")
    if level != "full":
        return
    _check_finite(found["positions"], "positions", where, allow_nan=True)
    if "confidence" in found:
        for start, block in _blocks(found["confidence"], where, "confidence"):
            bad = ~((block >= 0) & (block <= 1))  # also catches NaN
            if bad.any():
                frame = start + int(np.argmax(bad.reshape(len(block), -1).any(axis=1)))
                raise where.error("confidence outside [0, 1]", "confidence", frame)


def check_labels(g: h5py.Group, found: Found, sizes: dict[str, int], where: Where, level: str, file_size: int) -> None:
    """Chunk bookkeeping, timebase and label fields; reads done chunks when full."""
    length, chunk = as_int(get_attr(g.attrs, "length")), as_int(get_attr(g.attrs, "chunk_size"))
    if length < 0 or chunk < 1:
        raise where.error(f"length {length} / chunk_size {chunk} out of range", "chunk_size")
    if sizes["K"] != -(-length // chunk):
        raise where.error(f"done has {sizes['K']} chunks, expected ceil({length}/{chunk})", "done")
    done = _read(found["done"], where)
    if as_str(get_attr(g.attrs, "status")) == "complete" and not done.all():
        raise where.error("status is complete but chunks are not done", "done", int(np.argmin(done)) * chunk)
    _check_timebase(g, as_str(get_attr(g.attrs, "timebase")), length, where)
    for name in as_str_list(get_attr(g.attrs, "fields")):
        if name in LABEL_RESERVED_ATTRS or name == "done" or "/" in name:
            raise where.error("reserved or nested label field name", name)
        ds = g.get(name)
        if not isinstance(ds, h5py.Dataset) or ds.ndim < 1 or ds.shape[0] != length:
            raise where.error(f"label field must be a dataset shaped [{length}, ...]", name)
        if implausible_size(ds, file_size):
            raise where.error(f"shape {ds.shape} claims more data than the file can hold", name)
        if level == "full":
            for _start, _block in _blocks(ds, where, name):
                pass  # reading is the check: the data must be readable


def _check_timebase(g: h5py.Group, timebase: str, length: int, where: Where) -> None:
    stream = g.file.get(timebase) if timebase.startswith("/") and not timebase.startswith("/labels") else None
    ts = stream.get("timestamps") if isinstance(stream, h5py.Group) else None
    if not isinstance(ts, h5py.Dataset) or ts.shape != (length,):
        raise where.error(f"timebase {timebase!r} is not a stream with {length} timestamps", "timebase")


def check_calibration(g: h5py.Group, found: Found, sizes: dict[str, int], where: Where, level: str, _: int) -> None:
    """Both transforms are rigid (the attributes, offset included, are checked by the schema)."""
    for name in ("T_reference_from_radar", "T_world_from_radar"):
        if name in found:
            _check_rigid(found, name, where)


CONTENT_CHECKS: dict[str, Callable[..., None]] = {
    "/radar": check_radar,
    "/radar_truth": check_radar_truth,
    "/camera": check_camera,
    "/ground_truth": check_ground_truth,
    "/keypoints/*": check_keypoints,
    "/labels/*": check_labels,
    "/calibration": check_calibration,
}
