"""Atomic writer of a session's raw streams.

Everything goes to a hidden temp file beside the target, ``.<name>.tmp-<pid>-<id>``;
``close()`` validates it and ``os.replace``s it over the target. A process that
dies first leaves the previous file (if any) untouched; the temp file it leaves
has a different name and no ``wavecap_schema`` attribute, so it is never taken
for a session. Raw streams are written once; labels are added later with
``LabelWriter``.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType

import h5py
import numpy as np

from wavecap.errors import DataError

from ._h5 import H5_ERRORS, checked_scalars, fsync, open_h5, set_attrs, set_str_list
from .session_appenders import CameraAppender, RadarAppender, stream_options
from .session_inputs import checked_array, checked_names, checked_timestamps
from .session_labels import NAME_PATTERN
from .session_schema import BODY_MODELS, DEFAULT_CONTACT_NAMES, KEYPOINT_FRAMES, SCHEMA_VERSION
from .session_validate import session_errors


def temp_path(path: str) -> str:
    """Hidden temp-file name beside ``path``, unique per process and writer."""
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f".{name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


class SessionWriter:
    """Write a new session file atomically; use as a context manager.

    Args:
        path: target session file.
        created_by: program (and version) writing the file, stored for provenance.
        overwrite: replace an existing file at ``path`` (only on successful close).
        description: free text.
        body_model: ``"smpl"`` or ``"stand-in"`` when ground-truth SMPL is written.
        subject: subject identifier.
        subject_info: further subject facts as scalars (``{"height_m": 1.78}``),
            stored as ``subject_<key>`` attributes.
        compression: ``"gzip"`` (portable, default), ``"lzf"`` (faster) or None.

    Raises:
        DataError: ``path`` exists and ``overwrite`` is False, or bad arguments.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        created_by: str,
        overwrite: bool = False,
        description: str = "",
        body_model: str | None = None,
        subject: str | None = None,
        subject_info: Mapping[str, object] | None = None,
        compression: str | None = "gzip",
    ) -> None:
        self.path, self._overwrite = os.fspath(path), overwrite
        self._refuse_existing()
        if body_model not in (None, *BODY_MODELS) or compression not in ("gzip", "lzf", None) or not created_by:
            raise DataError(f"bad body_model {body_model!r}, compression {compression!r} or created_by",
                            file=self.path)
        optional = {"body_model": body_model, "subject": subject}
        self._root_attrs = checked_scalars({
            "created_by": created_by, "description": description,
            **{k: v for k, v in optional.items() if v is not None},
            **{f"subject_{k}": v for k, v in (subject_info or {}).items()},
        }, self.path, "/")
        self._compression = compression
        self._tmp = temp_path(self.path)
        self._f = open_h5(self._tmp, "w-")
        self._radar: RadarAppender | None = None
        self._camera: CameraAppender | None = None

    @contextlib.contextmanager
    def _new_group(self, name: str) -> Iterator[h5py.Group]:
        """A new group for one stream, removed again if filling it fails."""
        if name in self._f:
            raise DataError("already written; raw streams are written once", file=self.path, group=name)
        g = self._f.create_group(name)
        try:
            yield g
        except BaseException:
            del self._f[name]
            raise

    def _refuse_existing(self) -> None:
        if os.path.exists(self.path) and not self._overwrite:
            raise DataError("session file already exists; pass overwrite=True to replace it", file=self.path)

    def __enter__(self) -> SessionWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # -- radar -------------------------------------------------------------

    def begin_radar(
        self,
        *,
        columns: Sequence[str],
        T_world_from_radar: np.ndarray,  # noqa: N803
        config: Mapping[str, object] | None = None,
        heatmap_shape: tuple[int, ...] | None = None,
        heatmap_axes: Sequence[str] = (),
        heatmap_bins: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """Start the radar stream for ``append_radar_frame`` (see ``RadarAppender``)."""
        with self._new_group("/radar") as g:
            self._radar = RadarAppender(
                g, self.path, columns=columns, T_world_from_radar=T_world_from_radar, config=config or {},
                compression=self._compression, heatmap_shape=heatmap_shape, heatmap_axes=heatmap_axes,
                heatmap_bins=heatmap_bins,
            )

    def append_radar_frame(self, points: np.ndarray, t: float, heatmap: np.ndarray | None = None) -> None:
        """Append one radar frame.

        Args:
            points: (n, C) points, columns as begun; m, radar frame. n may be 0.
            t: frame time (s), after the previous frame.
            heatmap: (...) float32 heatmap if the stream has heatmaps.
        """
        radar = self._need_radar()
        points = np.asarray(points)
        radar.append(points, np.array([len(points)]), np.array([t]), None if heatmap is None else heatmap[None])

    def write_radar(
        self,
        points: Sequence[np.ndarray] | np.ndarray,
        timestamps: np.ndarray,
        *,
        columns: Sequence[str],
        T_world_from_radar: np.ndarray,  # noqa: N803
        offsets: np.ndarray | None = None,
        config: Mapping[str, object] | None = None,
        heatmaps: np.ndarray | None = None,
        heatmap_axes: Sequence[str] = (),
        heatmap_bins: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """Write the whole radar stream at once.

        Args:
            points: list of T (n_i, C) arrays, or flat (N, C) with ``offsets``; m, radar frame.
            timestamps: (T,) seconds, strictly increasing.
            columns: C column names, starting ``x, y, z``.
            T_world_from_radar: (4, 4) rigid transform radar -> world (m).
            offsets: (T+1,) int64 row offsets when ``points`` is flat.
            config: radar configuration scalars; ``doppler_sign`` needed with a doppler column.
            heatmaps: optional (T, ...) float32 dense maps.
            heatmap_axes: names of the heatmap axes after T.
            heatmap_bins: optional bin centres per axis.
        """
        if offsets is None:
            width = len(columns)
            frames = [np.zeros((0, width)) if np.size(p) == 0 else np.asarray(p) for p in points]
            for i, p in enumerate(frames):
                if p.ndim != 2 or p.shape[1] != width:
                    raise DataError(f"points shape {p.shape} is not (n, {width})", file=self.path, group="/radar",
                                    field="points", frame=i)
            counts = np.array([len(p) for p in frames], np.int64)
            flat = np.concatenate(frames) if frames else np.zeros((0, width), np.float32)
        else:
            o = checked_array(offsets, "int64", (None,), (self.path, "/radar", "offsets"))
            if len(o) == 0 or o[0] != 0:
                raise DataError("offsets must start with 0", file=self.path, group="/radar", field="offsets")
            counts, flat = np.diff(o), np.asarray(points)
        shape = None if heatmaps is None else np.shape(heatmaps)[1:]
        self.begin_radar(columns=columns, T_world_from_radar=T_world_from_radar, config=config,
                         heatmap_shape=shape, heatmap_axes=heatmap_axes, heatmap_bins=heatmap_bins)
        self._need_radar().append(flat, counts, timestamps, heatmaps)

    def write_radar_truth(self, **fields: np.ndarray) -> None:
        """Write simulator truth per radar point, after the last radar frame.

        Args:
            fields: quantities by name, each (N, ...) numeric with one row per point
                written so far, e.g. ``kind`` (N,), ``joint`` (N,), ``true_position``
                (N, 3) m radar frame, ``true_radial_velocity`` (N,) m/s. NaN is allowed.
        """
        rows, group = self._need_radar().n_points, "/radar_truth"
        checked = {}
        for name, value in fields.items():
            array = np.asarray(value)
            numeric_rows = array.ndim >= 1 and array.dtype.kind in "biuf" and len(array) == rows
            if not NAME_PATTERN.fullmatch(name) or not numeric_rows:
                raise DataError(f"need a numeric array with {rows} rows (one per radar point), got "
                                f"{array.dtype} {array.shape}", file=self.path, group=group, field=name)
            checked[name] = array
        if not checked:
            raise DataError("no radar truth given", file=self.path, group=group)
        with self._new_group(group) as g:
            for name, array in checked.items():
                g.create_dataset(name, data=array, **stream_options(self._compression))

    def _need_radar(self) -> RadarAppender:
        if self._radar is None:
            raise DataError("call begin_radar first", file=self.path, group="/radar")
        return self._radar

    # -- camera ------------------------------------------------------------

    def begin_camera(
        self,
        *,
        width: int,
        height: int,
        intrinsics: np.ndarray,
        T_world_from_camera: np.ndarray,  # noqa: N803
        fps: float,
        encoding: str | None = None,
        boxes_source: str | None = None,
    ) -> None:
        """Start the camera stream for ``append_camera_frame`` (see ``CameraAppender``).

        ``boxes_source`` (e.g. ``"detector"``) starts a ``boxes`` dataset too;
        every frame then needs its person box.
        """
        with self._new_group("/camera") as g:
            self._camera = CameraAppender(
                g, self.path, width=width, height=height, intrinsics=intrinsics,
                T_world_from_camera=T_world_from_camera, fps=fps, encoding=encoding, compression=self._compression,
                boxes_source=boxes_source,
            )

    def append_camera_frame(self, image: np.ndarray | bytes, t: float, box: np.ndarray | None = None) -> None:
        """Append one camera frame.

        Args:
            image: (H, W, 3) uint8 RGB, or image-file bytes when encoded.
            t: frame time (s), after the previous frame.
            box: (4,) person box (x1, y1, x2, y2) px, all NaN when no person is
                seen; required exactly when the stream was begun with ``boxes_source``.
        """
        if self._camera is None:
            raise DataError("call begin_camera first", file=self.path, group="/camera")
        self._camera.append(np.asarray(image)[None] if self._camera.encoding is None else [image], np.array([t]),
                            None if box is None else np.asarray(box)[None])

    def write_camera(
        self,
        frames: np.ndarray,
        timestamps: np.ndarray,
        *,
        intrinsics: np.ndarray,
        T_world_from_camera: np.ndarray,  # noqa: N803
        fps: float,
        encoding: str | None = None,
        boxes: np.ndarray | None = None,
        boxes_source: str | None = None,
    ) -> None:
        """Write the whole camera stream.

        Args:
            frames: (T, H, W, 3) uint8 RGB.
            timestamps: (T,) seconds, strictly increasing.
            intrinsics, T_world_from_camera, fps, encoding: see ``CameraAppender``.
            boxes: optional (T, 4) person boxes (x1, y1, x2, y2) px, NaN rows
                where no person is seen; needs ``boxes_source``.
            boxes_source: where the boxes come from, e.g. ``"detector"`` or ``"annotation"``.
        """
        frames = np.asarray(frames)
        if frames.ndim != 4:
            raise DataError(f"frames shape {frames.shape} is not (T, H, W, 3)",
                            file=self.path, group="/camera", field="frames")
        if (boxes is None) != (boxes_source is None):
            raise DataError("boxes and boxes_source go together", file=self.path, group="/camera", field="boxes")
        self.begin_camera(width=frames.shape[2], height=frames.shape[1], intrinsics=intrinsics,
                          T_world_from_camera=T_world_from_camera, fps=fps, encoding=encoding,
                          boxes_source=boxes_source)
        self._camera.append(frames if encoding is None else list(frames), timestamps, boxes)

    # -- ground truth and keypoints -----------------------------------------

    def write_ground_truth(
        self,
        timestamps: np.ndarray,
        *,
        global_orient: np.ndarray | None = None,
        body_pose: np.ndarray | None = None,
        betas: np.ndarray | None = None,
        transl: np.ndarray | None = None,
        joints: np.ndarray | None = None,
        joint_names: Sequence[str] = (),
        skeleton: str = "",
        contacts: np.ndarray | None = None,
        contact_names: Sequence[str] = DEFAULT_CONTACT_NAMES,
    ) -> None:
        """Write reference motion; any subset of the fields, all in the world frame.

        Args:
            timestamps: (T,) seconds.
            global_orient: (T, 3) root axis-angle (rad).
            body_pose: (T, 69) joint axis-angles (rad).
            betas: (B,) or (T, B) shape coefficients.
            transl: (T, 3) root translation (m).
            joints: (T, J, 3) joint positions (m); needs ``joint_names`` and ``skeleton``.
            contacts: (T, K) bool foot contacts, named by ``contact_names``.
        """
        group = "/ground_truth"
        t = checked_timestamps(timestamps, (self.path, group))
        n = len(t)
        betas_shape = (None,) if betas is not None and np.ndim(betas) == 1 else (n, None)
        specs = {
            "smpl/global_orient": (global_orient, "float32", (n, 3)),
            "smpl/body_pose": (body_pose, "float32", (n, 69)),
            "smpl/betas": (betas, "float32", betas_shape),
            "smpl/transl": (transl, "float32", (n, 3)),
            "joints": (joints, "float32", (n, None, 3)),
            "contacts": (contacts, "bool", (n, None)),
        }
        given = {k: checked_array(v, dt, shape, (self.path, group, k)) for k, (v, dt, shape) in specs.items()
                 if v is not None}
        if not given:
            raise DataError("no ground-truth field given", file=self.path, group=group)
        if any(k.startswith("smpl/") for k in given) and "body_model" not in self._root_attrs:
            raise DataError("SMPL ground truth needs body_model", file=self.path, group=group, field="smpl")
        with self._new_group(group) as g:
            opts = stream_options(self._compression)
            g.create_dataset("timestamps", data=t, **opts)
            for name, values in given.items():
                g.create_dataset(name, data=values, **opts)
            if "joints" in given:
                names = checked_names(joint_names, given["joints"].shape[1], (self.path, group, "joints"))
                set_str_list(g["joints"], "joint_names", names)
                set_attrs(g["joints"], {"skeleton": self._skeleton(skeleton, group)})
            if "contacts" in given:
                names = checked_names(contact_names, given["contacts"].shape[1], (self.path, group, "contacts"))
                set_str_list(g["contacts"], "names", names)

    def write_keypoints(
        self,
        name: str,
        timestamps: np.ndarray,
        positions: np.ndarray,
        *,
        joint_names: Sequence[str],
        skeleton: str,
        frame: str,
        confidence: np.ndarray | None = None,
    ) -> None:
        """Write one keypoint stream ``/keypoints/<name>``.

        Args:
            name: stream name, e.g. ``"kinect"``.
            timestamps: (T,) seconds.
            positions: (T, J, 3) metres in ``frame``; NaN where a joint is not tracked.
            joint_names: J names.
            skeleton: skeleton name.
            frame: ``"world"``, ``"camera"`` or ``"radar"``.
            confidence: optional (T, J) in [0, 1].
        """
        group = f"/keypoints/{name}"
        if not name or "/" in name or frame not in KEYPOINT_FRAMES:
            raise DataError(f"bad stream name or frame {frame!r}", file=self.path, group=group)
        t = checked_timestamps(timestamps, (self.path, group))
        pos = checked_array(positions, "float32", (len(t), None, 3), (self.path, group, "positions"), finite=False)
        if np.isinf(pos).any():
            raise DataError("Inf position", file=self.path, group=group, field="positions")
        names = checked_names(joint_names, pos.shape[1], (self.path, group, "joint_names"))
        with self._new_group(group) as g:
            opts = stream_options(self._compression)
            g.create_dataset("timestamps", data=t, **opts)
            g.create_dataset("positions", data=pos, **opts)
            if confidence is not None:
                conf = checked_array(confidence, "float32", pos.shape[:2], (self.path, group, "confidence"))
                if ((conf < 0) | (conf > 1)).any():
                    raise DataError("confidence outside [0, 1]", file=self.path, group=group, field="confidence")
                g.create_dataset("confidence", data=conf, **opts)
            set_str_list(g, "joint_names", names)
            set_attrs(g, {"skeleton": self._skeleton(skeleton, group), "frame": frame})

    def _skeleton(self, skeleton: str, group: str) -> str:
        if not isinstance(skeleton, str) or not skeleton:
            raise DataError("a skeleton name is required", file=self.path, group=group, field="skeleton")
        return skeleton

    # -- finishing ---------------------------------------------------------

    def close(self) -> None:
        """Validate the temp file and move it over ``path``; on any failure, discard it."""
        if not self._f.id.valid:
            return
        try:
            if self._radar is None:
                raise DataError("no radar stream written; /radar is required", file=self.path, group="/radar")
            self._refuse_existing()
            set_attrs(self._f, self._root_attrs)
            # Written last: until here the temp file is not a session.
            set_attrs(self._f, {"wavecap_schema": SCHEMA_VERSION})
            fsync(self._f)
            self._f.close()
            with h5py.File(self._tmp, "r") as f:
                errors = session_errors(f, self._tmp, "cheap")
            if errors:
                raise errors[0]
            os.replace(self._tmp, self.path)
            _fsync_folder(self.path)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Discard everything written; ``path`` keeps its previous content."""
        if self._f.id.valid:
            with contextlib.suppress(*H5_ERRORS):  # keep the error that made us abort
                self._f.close()
        if os.path.exists(self._tmp):
            os.remove(self._tmp)


def _fsync_folder(path: str) -> None:
    """Make the rename durable (POSIX only: folders cannot be opened elsewhere)."""
    if os.name == "posix":
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
