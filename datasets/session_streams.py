"""Lazy read-only views of the time-indexed streams of a session.

Nothing is read until asked for; small per-frame indices (timestamps, radar
offsets) are read once and cached. The views expect a group that passed the
schema's metadata checks (``Session`` sees to that), and check the values
they read. Every h5py failure surfaces as a ``DataError`` naming the file,
group, field and frame.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import NamedTuple, TypeVar

import h5py
import numpy as np

from wavecap.errors import DataError

from ._h5 import as_float, as_int, as_str, as_str_list, decode_attrs, get_attr, h5_guard, require
from .session_checks import boxes_problem
from .session_schema import GROUND_TRUTH

# Radar points read per block when iterating frames: one h5py call per block
# instead of one per frame, with bounded memory.
RADAR_BLOCK_POINTS = 1 << 16
V = TypeVar("V")


class Frame(NamedTuple):
    """One frame of a stream.

    Attributes:
        index: frame index in the stream.
        time: timestamp in seconds (session clock).
        data: the stream's per-frame data (see each stream's ``frame``).
    """

    index: int
    time: float
    data: object


class Stream:
    """Common part of every stream: timestamps, length and windowing."""

    def __init__(self, group: h5py.Group, file: str) -> None:
        self._g, self._file, self._name = group, file, group.name
        self._timestamps: np.ndarray | None = None

    def _guard(self, field: str | None = None, frame: int | None = None) -> AbstractContextManager[None]:
        return h5_guard(self._file, self._name, field, frame)

    def _dataset(self, field: str) -> h5py.Dataset:
        with self._guard(field):
            ds = self._g.get(field)
        if not isinstance(ds, h5py.Dataset):
            raise DataError("missing dataset", file=self._file, group=self._name, field=field)
        return ds

    def _read(self, field: str, key: object = ()) -> np.ndarray:
        ds = self._dataset(field)
        with self._guard(field):
            return ds[key]

    def _attr(self, name: str, decoder: Callable[[object], V | None], obj: h5py.HLObject | None = None) -> V:
        with self._guard(name):
            raw = get_attr((self._g if obj is None else obj).attrs, name)
        return require(decoder(raw), self._file, self._name, name)

    @property
    def timestamps(self) -> np.ndarray:
        """(T,) float64 seconds on the session clock; read once, read-only."""
        if self._timestamps is None:
            t = np.asarray(self._read("timestamps"), dtype=np.float64)
            t.flags.writeable = False
            self._timestamps = t
        return self._timestamps

    def __len__(self) -> int:
        return len(self.timestamps)

    def index_range(self, t0: float, t1: float) -> tuple[int, int]:
        """Frame range ``[start, stop)`` of the frames with ``t0 <= time < t1`` (seconds)."""
        t = self.timestamps
        return int(np.searchsorted(t, t0, side="left")), int(np.searchsorted(t, t1, side="left"))

    def _index(self, i: int) -> int:
        n = len(self)
        j = int(i) + n if i < 0 else int(i)
        if not 0 <= j < n:
            raise IndexError(f"frame {i} out of range for {n} frames of {self._name}")
        return j

    def _range(self, start: int, stop: int | None) -> range:
        return range(*slice(start, stop).indices(len(self)))

    def _slice(self, start: int, stop: int | None) -> slice:
        r = self._range(start, stop)
        return slice(r.start, max(r.start, r.stop))

    def frame(self, i: int) -> object:
        """Data of frame ``i``; the subclass says what it is."""
        raise NotImplementedError

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[Frame]:
        """Yield the frames ``start <= index < stop`` in order."""
        t = self.timestamps
        for i in self._range(start, stop):
            yield Frame(i, float(t[i]), self.frame(i))

    def window(self, t0: float, t1: float) -> Iterator[Frame]:
        """Yield the frames with ``t0 <= time < t1`` (seconds) in order."""
        return self.frames(*self.index_range(t0, t1))


class RadarStream(Stream):
    """The ``/radar`` group: ragged point clouds, optional heatmaps, radar config."""

    def __init__(self, group: h5py.Group, file: str) -> None:
        super().__init__(group, file)
        self._offsets: np.ndarray | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        """Names of the C point columns; the first three are x, y, z (m, radar frame)."""
        points = self._dataset("points")
        columns = self._attr("columns", as_str_list, points)
        if len(columns) != points.shape[1]:
            raise DataError(f"{len(columns)} column names for {points.shape[1]} columns",
                            file=self._file, group=self._name, field="points")
        return columns

    @property
    def config(self) -> dict[str, object]:
        """Radar configuration attributes (model, frame_rate_hz, doppler_sign, ...)."""
        with self._guard():
            return decode_attrs(self._g.attrs)

    @property
    def T_world_from_radar(self) -> np.ndarray:  # noqa: N802
        """(4, 4) float64 rigid transform from radar frame to world (m)."""
        return self._read("T_world_from_radar")

    @property
    def n_points(self) -> int:
        """N: points of all frames."""
        ds = self._dataset("points")
        return ds.shape[0]

    @property
    def offsets(self) -> np.ndarray:
        """(T+1,) int64: frame i owns ``points[offsets[i]:offsets[i+1]]``; read once."""
        if self._offsets is None:
            o = np.asarray(self._read("offsets"), dtype=np.int64)
            o.flags.writeable = False
            self._offsets = o
        return self._offsets

    def frame(self, i: int) -> np.ndarray:
        """Points of frame ``i``.

        Returns:
            (n, C) float32, columns as in ``columns``; positions in metres, radar frame.
        """
        i = self._index(i)
        return self._points(i, i + 1)[0]

    def frame_dict(self, i: int) -> dict[str, np.ndarray]:
        """Points of frame ``i`` as ``{column: (n,) float32}``."""
        points = self.frame(i)
        return {name: points[:, c] for c, name in enumerate(self.columns)}

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[Frame]:
        """Yield ``Frame(index, time, points (n, C))``, reading points in blocks."""
        frames = self._range(start, stop)
        t, o = self.timestamps, self.offsets
        i = frames.start
        while i < frames.stop:
            # Grow the block until it holds RADAR_BLOCK_POINTS points (at least one frame).
            j = int(np.searchsorted(o, o[i] + RADAR_BLOCK_POINTS, side="right")) - 1
            j = min(max(j, i + 1), frames.stop)
            for k, points in enumerate(self._points(i, j)):
                yield Frame(i + k, float(t[i + k]), points)
            i = j

    def _points(self, start: int, stop: int) -> list[np.ndarray]:
        """Per-frame point arrays of frames ``[start, stop)``, checked finite."""
        o = self.offsets
        if len(o) != len(self) + 1:
            raise DataError("offsets length is not T+1", file=self._file, group=self._name, field="offsets")
        lo, hi = int(o[start]), int(o[stop])
        ds = self._dataset("points")
        counts = np.diff(o[start : stop + 1])
        if lo < 0 or hi > ds.shape[0] or (counts < 0).any():
            raise DataError("offsets out of range", file=self._file, group=self._name, field="offsets", frame=start)
        with self._guard("points", start):
            block = ds[lo:hi]
        parts = np.split(block, np.cumsum(counts)[:-1])
        for k, part in enumerate(parts):
            if not np.isfinite(part).all():
                raise DataError("NaN/Inf point", file=self._file, group=self._name, field="points", frame=start + k)
        return parts

    @property
    def has_heatmaps(self) -> bool:
        """Whether the radar stream carries dense heatmaps."""
        with self._guard("heatmaps"):
            return "heatmaps" in self._g

    @property
    def heatmap_axes(self) -> tuple[str, ...]:
        """Names of the heatmap axes after T (e.g. ``("range", "azimuth")``)."""
        return self._attr("axes", as_str_list, self._dataset("heatmaps"))

    def heatmap(self, i: int) -> np.ndarray:
        """(...) float32 heatmap of frame ``i``, axes as in ``heatmap_axes``."""
        i = self._index(i)
        ds = self._dataset("heatmaps")
        with self._guard("heatmaps", i):
            return ds[i]

    def heatmap_bins(self, axis: str) -> np.ndarray | None:
        """Bin centres of a heatmap axis (m, rad or m/s by axis), or None if not stored."""
        ds, axes = self._dataset("heatmaps"), self.heatmap_axes
        with self._guard("heatmaps"):
            bins = get_attr(ds.attrs, f"bins_{axis}")
        if bins is None:
            return None
        bins = np.asarray(bins)
        if axis not in axes or bins.dtype.kind != "f" or bins.shape != (ds.shape[1 + axes.index(axis)],):
            raise DataError(f"bad bins_{axis} attribute", file=self._file, group=self._name, field="heatmaps")
        return bins.astype(np.float64)


class RadarTruth:
    """The optional ``/radar_truth`` group: simulator truth per radar point.

    Each dataset has one row per row of ``/radar/points`` and is split into
    frames by the radar offsets.
    """

    def __init__(self, group: h5py.Group, file: str, radar: RadarStream) -> None:
        self._g, self._file, self._radar = group, file, radar

    @property
    def names(self) -> tuple[str, ...]:
        """Quantities stored, e.g. ``("joint", "kind", "true_position")``."""
        with h5_guard(self._file, self._g.name):
            return tuple(self._g)

    def _dataset(self, name: str) -> h5py.Dataset:
        with h5_guard(self._file, self._g.name, name):
            ds = self._g.get(name)
            rows = self._radar.n_points
        if not isinstance(ds, h5py.Dataset) or ds.ndim < 1 or ds.shape[0] != rows or ds.dtype.kind not in "biuf":
            raise DataError(f"must be a numeric dataset with {rows} rows", file=self._file, group=self._g.name,
                            field=name)
        return ds

    def field(self, name: str) -> np.ndarray:
        """(N, ...) values of every point, rows as in ``/radar/points``."""
        ds = self._dataset(name)
        with h5_guard(self._file, self._g.name, name):
            return ds[()]

    def frame(self, i: int) -> dict[str, np.ndarray]:
        """Each quantity's rows for the points of radar frame ``i``."""
        i = self._radar._index(i)
        bounds = self._radar.offsets[i : i + 2]
        return {name: _ragged_slice(self._dataset(name), bounds, self._file, self._g.name, i) for name in self.names}


class CameraStream(Stream):
    """The ``/camera`` group: RGB frames stored raw or as encoded image files."""

    @property
    def width(self) -> int:
        """Image width W (px)."""
        return self._attr("width", as_int)

    @property
    def height(self) -> int:
        """Image height H (px)."""
        return self._attr("height", as_int)

    @property
    def fps(self) -> float:
        """Nominal frame rate (Hz); use ``timestamps`` for actual times."""
        return self._attr("fps", as_float)

    @property
    def intrinsics(self) -> np.ndarray:
        """(3, 3) float64 pinhole matrix (px)."""
        return self._read("intrinsics")

    @property
    def T_world_from_camera(self) -> np.ndarray:  # noqa: N802
        """(4, 4) float64 rigid transform from camera frame to world (m)."""
        return self._read("T_world_from_camera")

    @property
    def encoding(self) -> str | None:
        """``"png"``/``"jpeg"`` for encoded frames, None for raw frames."""
        with self._guard():
            if "frames" in self._g:
                return None
        return self._attr("encoding", as_str, self._dataset("encoded"))

    def boxes(self, start: int = 0, stop: int | None = None) -> np.ndarray | None:
        """(t, 4) float32 person boxes (x1, y1, x2, y2) px of frames ``[start, stop)``, or None if not stored.

        A row of NaN means no person in that frame; other rows are finite with
        x2 > x1 and y2 > y1 (checked here too, for sessions opened unvalidated).
        """
        with self._guard("boxes"):
            if "boxes" not in self._g:
                return None
        rows = self._slice(start, stop)
        boxes = self._read("boxes", rows)
        if problem := boxes_problem(boxes):
            raise DataError(problem[0], file=self._file, group=self._name, field="boxes",
                            frame=rows.start + problem[1])
        return boxes

    @property
    def boxes_source(self) -> str | None:
        """Where the person boxes come from (``"detector"``, ...), or None if not stored."""
        with self._guard("boxes"):
            if "boxes" not in self._g:
                return None
        return self._attr("source", as_str, self._dataset("boxes"))

    def frame(self, i: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB image of frame ``i``, row 0 at the top."""
        i = self._index(i)
        encoding = self.encoding
        if encoding is None:
            ds = self._dataset("frames")
            with self._guard("frames", i):
                image = ds[i]
        else:
            data = _ragged_slice(self._dataset("encoded"), self._read("encoded_offsets", slice(i, i + 2)),
                                 self._file, self._name, i)
            image = _decode(data.tobytes(), self._file, self._name, i)
        if image.shape != (self.height, self.width, 3) or image.dtype != np.uint8:
            raise DataError(f"frame is {image.shape} {image.dtype}, expected ({self.height}, {self.width}, 3) uint8",
                            file=self._file, group=self._name, field="frames", frame=i)
        return image


def _ragged_slice(ds: h5py.Dataset, bounds: np.ndarray, file: str, group: str, frame: int) -> np.ndarray:
    """Rows ``bounds[0]:bounds[1]`` of a ragged dataset, bounds checked."""
    if bounds.shape != (2,) or bounds.dtype.kind not in "iu" or not 0 <= bounds[0] <= bounds[1] <= ds.shape[0]:
        raise DataError(f"offsets {bounds.tolist()} out of range", file=file, group=group, field=ds.name, frame=frame)
    with h5_guard(file, group, ds.name, frame):
        return ds[int(bounds[0]) : int(bounds[1])]


def _decode(data: bytes, file: str, group: str, frame: int) -> np.ndarray:
    from PIL import Image  # only encoded sessions need Pillow

    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"))
    # Pillow reports corrupt input with many types (OSError, SyntaxError,
    # struct.error, DecompressionBombError, ...); all mean "bad frame bytes".
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"cannot decode image ({exc})", file=file, group=group, field="encoded", frame=frame) from exc


class GroundTruth(Stream):
    """The ``/ground_truth`` group: SMPL parameters, joints and contacts (world frame)."""

    @property
    def names(self) -> tuple[str, ...]:
        """Schema fields present, e.g. ``("smpl/body_pose", "joints")``."""
        with self._guard():
            return tuple(f.name for f in GROUND_TRUTH.fields[1:] if f.name in self._g)

    def field(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames ``[start, stop)`` of a field; per-session ``smpl/betas`` (B,) comes whole.

        Args:
            name: e.g. ``"smpl/body_pose"`` (T, 69) rad, ``"joints"`` (T, J, 3) m world,
                ``"contacts"`` (T, K) bool.
        """
        if self._is_static(name):
            return self._read(name)
        return self._read(name, self._slice(start, stop))

    def smpl(self, start: int = 0, stop: int | None = None) -> dict[str, np.ndarray]:
        """SMPL parameters of frames ``[start, stop)`` by name (``global_orient``, ...)."""
        return {n.split("/", 1)[1]: self.field(n, start, stop) for n in self.names if n.startswith("smpl/")}

    @property
    def joint_names(self) -> tuple[str, ...]:
        """Names of the J ground-truth joints."""
        return self._attr("joint_names", as_str_list, self._dataset("joints"))

    @property
    def skeleton(self) -> str:
        """Skeleton name of ``joints``."""
        return self._attr("skeleton", as_str, self._dataset("joints"))

    @property
    def contact_names(self) -> tuple[str, ...]:
        """Names of the K contact flags."""
        return self._attr("names", as_str_list, self._dataset("contacts"))

    def frame(self, i: int) -> dict[str, np.ndarray]:
        """Every field at frame ``i`` by name (per-session betas included)."""
        i = self._index(i)
        return {n: self.field(n) if self._is_static(n) else self.field(n, i, i + 1)[0] for n in self.names}

    def _is_static(self, name: str) -> bool:
        return name == "smpl/betas" and self._dataset(name).ndim == 1


class KeypointStream(Stream):
    """One ``/keypoints/<stream>`` group: third-party joint positions."""

    @property
    def skeleton(self) -> str:
        """Skeleton name (e.g. ``"kinect_v2"``)."""
        return self._attr("skeleton", as_str)

    @property
    def joint_names(self) -> tuple[str, ...]:
        """Names of the J joints."""
        return self._attr("joint_names", as_str_list)

    @property
    def coordinate_frame(self) -> str:
        """Frame of the positions: ``"world"``, ``"camera"`` or ``"radar"``."""
        return self._attr("frame", as_str)

    def positions(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """(t, J, 3) float32 positions (m, ``coordinate_frame``); NaN = not tracked."""
        return self._read("positions", self._slice(start, stop))

    def confidence(self, start: int = 0, stop: int | None = None) -> np.ndarray | None:
        """(t, J) float32 confidence in [0, 1], or None if the stream has none."""
        with self._guard("confidence"):
            if "confidence" not in self._g:
                return None
        return self._read("confidence", self._slice(start, stop))

    def frame(self, i: int) -> dict[str, np.ndarray]:
        """``{"positions": (J, 3)}`` plus ``"confidence": (J,)`` when stored."""
        i = self._index(i)
        out = {"positions": self.positions(i, i + 1)[0]}
        if (conf := self.confidence(i, i + 1)) is not None:
            out["confidence"] = conf[0]
        return out
