"""Read-only access to a recorded session file.

``open_session(path)`` opens the file read-only, validates it (cheaply by
default) and hands out lazy stream views; nothing else is read until asked for.
The reader never writes.
"""

from __future__ import annotations

import os
from functools import cached_property
from types import TracebackType

import h5py

from wavecap.errors import DataError

from ._h5 import as_str, decode_attrs, get_attr, h5_guard, open_h5
from .session_labels import LABELS_GROUP, LabelRun
from .session_streams import CameraStream, GroundTruth, KeypointStream, RadarStream, RadarTruth
from .session_content import Where
from .session_schema import CAMERA, GROUND_TRUTH, KEYPOINTS, RADAR, RADAR_TRUTH, GroupSpec
from .session_validate import LEVELS, session_errors, structure_errors


class Session:
    """An open session file; use as a context manager or call ``close()``.

    Args:
        path: session file (``.h5``).
        validate: ``True``/``"cheap"`` checks metadata and per-frame indices
            (timestamps, offsets, transforms); ``"full"`` also reads all data;
            ``False`` skips validation (reads still fail with DataError).

    Raises:
        DataError: the file is missing, not HDF5, or fails validation.
    """

    def __init__(self, path: str | os.PathLike[str], validate: bool | str = True) -> None:
        self.path = os.fspath(path)
        level = "cheap" if validate is True else None if validate is False else validate
        if level is not None and level not in LEVELS:
            raise ValueError(f"validate must be a bool or one of {LEVELS}, got {validate!r}")
        self._f = open_h5(self.path, "r")
        if level is not None:
            errors = session_errors(self._f, self.path, level)
            if errors:
                self._f.close()
                raise errors[0]

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the file; stream views become unusable."""
        self._f.close()

    @property
    def attrs(self) -> dict[str, object]:
        """Root attributes: wavecap_schema, created_by, body_model, subject, ..."""
        with h5_guard(self.path, "/"):
            return decode_attrs(self._f.attrs)

    @property
    def schema_version(self) -> str | None:
        """Schema version the file was written with."""
        with h5_guard(self.path, "/", "wavecap_schema"):
            return as_str(get_attr(self._f.attrs, "wavecap_schema"))

    @property
    def subject(self) -> dict[str, object]:
        """Subject facts: ``id`` from attribute ``subject`` plus ``subject_<key>`` attributes."""
        attrs = self.attrs
        out = {k[len("subject_"):]: v for k, v in attrs.items() if k.startswith("subject_")}
        if "subject" in attrs:
            out["id"] = attrs["subject"]
        return out

    def _group(self, path: str) -> h5py.Group | None:
        with h5_guard(self.path, path):
            g = self._f.get(path)
        if g is not None and not isinstance(g, h5py.Group):
            raise DataError("is not a group", file=self.path, group=path)
        return g

    def _checked(self, g: h5py.Group, spec: GroupSpec) -> h5py.Group:
        """``g`` after the schema's metadata checks, so stream views can trust shapes
        and dtypes even when the session was opened with ``validate=False``."""
        with h5_guard(self.path, g.name):
            errors, _, _ = structure_errors(g, spec, Where(self.path, g.name), self._f.id.get_filesize())
        if errors:
            raise errors[0]
        return g

    @cached_property
    def radar(self) -> RadarStream:
        """The radar stream (always present)."""
        g = self._group("/radar")
        if g is None:
            raise DataError("missing required group", file=self.path, group="/radar")
        return RadarStream(self._checked(g, RADAR), self.path)

    @cached_property
    def radar_truth(self) -> RadarTruth | None:
        """Per-point simulator truth aligned with the radar points, or None."""
        g = self._group("/radar_truth")
        return None if g is None else RadarTruth(self._checked(g, RADAR_TRUTH), self.path, self.radar)

    @cached_property
    def camera(self) -> CameraStream | None:
        """The camera stream, or None if the session has none."""
        g = self._group("/camera")
        return None if g is None else CameraStream(self._checked(g, CAMERA), self.path)

    @cached_property
    def ground_truth(self) -> GroundTruth | None:
        """Reference motion, or None if the session has none."""
        g = self._group("/ground_truth")
        return None if g is None else GroundTruth(self._checked(g, GROUND_TRUTH), self.path)

    @cached_property
    def keypoints(self) -> dict[str, KeypointStream]:
        """Keypoint streams by name (``/keypoints/<name>``)."""
        members = self._members("/keypoints").items()
        return {name: KeypointStream(self._checked(g, KEYPOINTS), self.path) for name, g in members}

    @property
    def label_runs(self) -> tuple[str, ...]:
        """Names of the label runs (``/labels/<run>``), complete or not."""
        return tuple(self._members(LABELS_GROUP))

    def labels(self, run: str) -> LabelRun:
        """The label run ``run``.

        Raises:
            KeyError: no such run.
        """
        runs = self._members(LABELS_GROUP)
        if run not in runs:
            raise KeyError(f"no label run {run!r}; runs: {tuple(runs)}")
        return LabelRun(runs[run], self.path)

    def _members(self, parent: str) -> dict[str, h5py.Group]:
        g = self._group(parent)
        if g is None:
            return {}
        with h5_guard(self.path, parent):
            members = {name: g[name] for name in g}
        for name, member in members.items():
            if not isinstance(member, h5py.Group):
                raise DataError("is not a group", file=self.path, group=f"{parent}/{name}")
        return members

    def __len__(self) -> int:
        """Number of radar frames."""
        return len(self.radar)


def open_session(path: str | os.PathLike[str], validate: bool | str = True) -> Session:
    """Open a session file read-only (see ``Session``)."""
    return Session(path, validate)
