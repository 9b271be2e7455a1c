"""Resizable radar and camera streams that grow frame by frame.

A simulator or recorder appends as frames arrive, so a long capture never has
to fit in memory. Each append is checked before it is written.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import h5py
import numpy as np

from wavecap.errors import DataError

from ._h5 import checked_scalars, set_attrs, set_str_list
from .session_checks import image_magic_problem
from .session_inputs import (
    checked_array,
    checked_boxes,
    checked_intrinsics,
    checked_names,
    checked_timestamps,
    checked_transform,
)
from .session_schema import CAMERA_ENCODINGS, DOPPLER_SIGNS, POSITION_COLUMNS

# Radar points per HDF5 chunk: large enough that compression pays, small
# enough that reading one frame decompresses little.
POINTS_CHUNK_ROWS = 4096
INDEX_CHUNK = 1024
ENCODED_CHUNK = 1 << 16  # bytes


def stream_options(compression: str | None) -> dict[str, object]:
    # fletcher32 makes a flipped byte in stored data a read error, not a wrong value.
    return {"compression": compression, "shuffle": compression is not None, "fletcher32": True, "track_times": False}


def _grow(ds: h5py.Dataset, values: np.ndarray) -> None:
    """Append ``values`` along axis 0."""
    if len(values) == 0:
        return
    n = ds.shape[0]
    ds.resize(n + len(values), axis=0)
    ds[n:] = values


class RadarAppender:
    """Writes ``/radar``: timestamps, ragged points with offsets, optional heatmaps.

    Args:
        g: the empty ``/radar`` group.
        file: session path named in errors.
        columns: C point column names, starting ``x, y, z``.
        T_world_from_radar: (4, 4) rigid transform radar -> world (m).
        config: radar configuration scalars (model, frame_rate_hz, doppler_sign, ...).
        compression: ``"gzip"``, ``"lzf"`` or None.
        heatmap_shape: per-frame heatmap shape, or None for no heatmaps.
        heatmap_axes: name of each heatmap axis.
        heatmap_bins: optional bin centres per axis name (m, rad or m/s).
    """

    def __init__(
        self,
        g: h5py.Group,
        file: str,
        *,
        columns: Sequence[str],
        T_world_from_radar: np.ndarray,  # noqa: N803
        config: Mapping[str, object],
        compression: str | None,
        heatmap_shape: tuple[int, ...] | None = None,
        heatmap_axes: Sequence[str] = (),
        heatmap_bins: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        self.file, group = file, g.name
        self.columns = checked_names(columns, None, (file, group, "columns"))
        if self.columns[:3] != POSITION_COLUMNS:
            raise DataError(f"columns must start with {POSITION_COLUMNS}", file=file, group=group, field="columns")
        attrs = checked_scalars(config, file, group)
        if "doppler" in self.columns and attrs.get("doppler_sign") not in DOPPLER_SIGNS:
            raise DataError(f"a doppler column needs config doppler_sign in {DOPPLER_SIGNS}",
                            file=file, group=group, field="doppler_sign")
        set_attrs(g, attrs)
        g["T_world_from_radar"] = checked_transform(T_world_from_radar, (file, group, "T_world_from_radar"))
        opts = stream_options(compression)
        width = len(self.columns)
        self._t = g.create_dataset("timestamps", (0,), "f8", maxshape=(None,), chunks=(INDEX_CHUNK,), **opts)
        self._offsets = g.create_dataset("offsets", data=np.zeros(1, np.int64), maxshape=(None,),
                                         chunks=(INDEX_CHUNK,), **opts)
        self._points = g.create_dataset("points", (0, width), "f4", maxshape=(None, width),
                                        chunks=(POINTS_CHUNK_ROWS, width), **opts)
        set_str_list(self._points, "columns", self.columns)
        self._heatmaps = None
        if heatmap_shape is not None:
            self._heatmaps = self._create_heatmaps(g, tuple(heatmap_shape), heatmap_axes, heatmap_bins or {}, opts)
        self._last_t = -np.inf

    def _create_heatmaps(self, g: h5py.Group, shape: tuple[int, ...], axes: Sequence[str],
                         bins: Mapping[str, np.ndarray], opts: dict[str, object]) -> h5py.Dataset:
        where = (self.file, g.name, "heatmaps")
        axes = checked_names(axes, len(shape), where)
        ds = g.create_dataset("heatmaps", (0, *shape), "f4", maxshape=(None, *shape), chunks=(1, *shape), **opts)
        set_str_list(ds, "axes", axes)
        for axis, values in bins.items():
            if axis not in axes:
                raise DataError(f"bins for unknown axis {axis!r}", file=self.file, group=g.name, field="heatmaps")
            ds.attrs[f"bins_{axis}"] = checked_array(values, "float64", (shape[axes.index(axis)],), where)
        return ds

    def __len__(self) -> int:
        return self._t.shape[0]

    @property
    def n_points(self) -> int:
        """N: points appended so far."""
        return self._points.shape[0]

    def append(self, points: np.ndarray, counts: np.ndarray, timestamps: np.ndarray,
               heatmaps: np.ndarray | None = None) -> None:
        """Append frames.

        Args:
            points: (N, C) points of all new frames, concatenated; m, radar frame.
            counts: (t,) points per new frame.
            timestamps: (t,) seconds, after the last appended frame.
            heatmaps: (t, ...) float32 if the stream has heatmaps, else None.
        """
        n0, group = len(self), "/radar"
        t = checked_timestamps(timestamps, (self.file, group), self._last_t, n0)
        counts = checked_array(counts, "int64", (len(t),), (self.file, group, "offsets"))
        if (counts < 0).any():
            raise DataError("negative point count", file=self.file, group=group, field="offsets")
        flat = np.asarray(points)
        if flat.size == 0:
            flat = np.zeros((0, len(self.columns)), np.float32)
        flat = checked_array(flat, "float32", (int(counts.sum()), len(self.columns)), (self.file, group, "points"),
                             finite=False)
        starts = np.concatenate([[0], np.cumsum(counts)])
        if not np.isfinite(flat).all():
            row = int(np.argmax(~np.isfinite(flat).all(axis=1)))
            frame = n0 + int(np.searchsorted(starts, row, side="right")) - 1
            raise DataError("NaN/Inf point", file=self.file, group=group, field="points", frame=frame)
        if (heatmaps is None) != (self._heatmaps is None):
            raise DataError("heatmaps must be given exactly when the stream was begun with heatmap_shape",
                            file=self.file, group=group, field="heatmaps")
        if self._heatmaps is not None:
            maps = checked_array(heatmaps, "float32", (len(t), *self._heatmaps.shape[1:]),
                                 (self.file, group, "heatmaps"), frame0=n0)
            _grow(self._heatmaps, maps)
        _grow(self._points, flat)
        _grow(self._offsets, self._offsets[-1] + starts[1:])
        _grow(self._t, t)
        if len(t):
            self._last_t = float(t[-1])


class CameraAppender:
    """Writes ``/camera``: timestamps plus raw (chunked per frame) or encoded images, optional person boxes.

    Args:
        g: the empty ``/camera`` group.
        file: session path named in errors.
        width, height: image size W, H (px).
        intrinsics: (3, 3) pinhole matrix (px).
        T_world_from_camera: (4, 4) rigid transform camera -> world (m).
        fps: nominal frame rate (Hz).
        encoding: None for raw frames, or ``"png"``/``"jpeg"`` to store image files.
        compression: for raw frames: ``"gzip"``, ``"lzf"`` or None.
        boxes_source: None for no person boxes; otherwise where they come from
            (``"detector"``, ``"annotation"``, ...), and every append then gives them.
    """

    def __init__(self, g: h5py.Group, file: str, *, width: int, height: int, intrinsics: np.ndarray,
                 T_world_from_camera: np.ndarray, fps: float, encoding: str | None,  # noqa: N803
                 compression: str | None, boxes_source: str | None = None) -> None:
        self.file, group = file, g.name
        if width <= 0 or height <= 0 or not fps > 0 or encoding not in (None, *CAMERA_ENCODINGS):
            raise DataError(f"bad camera setup: {width}x{height} at {fps} fps, encoding {encoding!r}",
                            file=file, group=group)
        if boxes_source is not None and (not isinstance(boxes_source, str) or not boxes_source):
            raise DataError(f"boxes_source must be a non-empty string, got {boxes_source!r}",
                            file=file, group=group, field="boxes")
        set_attrs(g, {"width": int(width), "height": int(height), "fps": float(fps)})
        g["intrinsics"] = checked_intrinsics(intrinsics, (file, group, "intrinsics"))
        g["T_world_from_camera"] = checked_transform(T_world_from_camera, (file, group, "T_world_from_camera"))
        opts = stream_options(compression)
        self._t = g.create_dataset("timestamps", (0,), "f8", maxshape=(None,), chunks=(INDEX_CHUNK,), **opts)
        self.encoding, self.shape = encoding, (int(height), int(width), 3)
        if encoding is None:
            self._images = g.create_dataset("frames", (0, *self.shape), "u1", maxshape=(None, *self.shape),
                                            chunks=(1, *self.shape), **opts)
        else:
            # Image files are compressed already: checksum only. Ragged bytes plus
            # offsets rather than a variable-length type, whose data would sit in
            # HDF5's unchecksummed global heap (see _h5.get_attr).
            self._images = g.create_dataset("encoded", (0,), "u1", maxshape=(None,), chunks=(ENCODED_CHUNK,),
                                            **stream_options(None))
            set_attrs(self._images, {"encoding": encoding})
            self._image_offsets = g.create_dataset("encoded_offsets", data=np.zeros(1, np.int64), maxshape=(None,),
                                                   chunks=(INDEX_CHUNK,), **opts)
        self._boxes = None
        if boxes_source is not None:
            self._boxes = g.create_dataset("boxes", (0, 4), "f4", maxshape=(None, 4), chunks=(INDEX_CHUNK, 4), **opts)
            set_attrs(self._boxes, {"source": boxes_source})
        self._last_t = -np.inf

    def __len__(self) -> int:
        return self._t.shape[0]

    def append(self, images: np.ndarray | Sequence[np.ndarray | bytes], timestamps: np.ndarray,
               boxes: np.ndarray | None = None) -> None:
        """Append frames.

        Args:
            images: (t, H, W, 3) uint8 RGB, or per-frame encoded bytes when encoded.
            timestamps: (t,) seconds, after the last appended frame.
            boxes: (t, 4) person boxes (x1, y1, x2, y2) px, NaN rows where no
                person is seen; given exactly when the stream has boxes.
        """
        n0, where = len(self), (self.file, "/camera")
        t = checked_timestamps(timestamps, where, self._last_t, n0)
        if len(images) != len(t):
            raise DataError(f"{len(images)} images for {len(t)} timestamps", file=self.file, group="/camera")
        if (boxes is None) != (self._boxes is None):
            raise DataError("boxes must be given exactly when the stream was begun with boxes_source",
                            file=self.file, group="/camera", field="boxes", frame=n0)
        box_rows = None if boxes is None else checked_boxes(boxes, len(t), (*where, "boxes"), n0)
        if self.encoding is None:
            _grow(self._images, checked_array(images, "uint8", (len(t), *self.shape), (*where, "frames")))
        else:
            encoded = [self._encoded(image, n0 + i) for i, image in enumerate(images)]
            sizes = np.array([len(data) for data in encoded], np.int64)
            _grow(self._images, np.concatenate(encoded) if encoded else np.zeros(0, np.uint8))
            _grow(self._image_offsets, self._image_offsets[-1] + np.cumsum(sizes))
        if box_rows is not None:
            _grow(self._boxes, box_rows)
        _grow(self._t, t)
        if len(t):
            self._last_t = float(t[-1])

    def _encoded(self, image: np.ndarray | bytes, frame: int) -> np.ndarray:
        if isinstance(image, bytes):
            data = np.frombuffer(image, np.uint8)
        else:
            from PIL import Image  # only encoded sessions need Pillow

            rgb = checked_array(image, "uint8", self.shape, (self.file, "/camera", "encoded"))
            buffer = io.BytesIO()
            Image.fromarray(rgb).save(buffer, format=self.encoding.upper(), quality=95)
            data = np.frombuffer(buffer.getvalue(), np.uint8)
        if problem := image_magic_problem(data, self.encoding):
            raise DataError(problem, file=self.file, group="/camera", field="encoded", frame=frame)
        return data
