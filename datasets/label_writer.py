"""Resumable writer of one label run, ``/labels/<run>``, inside an existing session.

The run's datasets are created once at full length with their storage
allocated up front, so writing a chunk only overwrites bytes at fixed offsets
and changes no HDF5 metadata. A chunk's data is flushed to disk before its
``done`` flag, and the flag after: a writer killed at any point leaves every
done chunk valid and the raw streams untouched. Reopening with the same
arguments resumes; ``remaining()`` lists what is left.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from types import TracebackType

import h5py
import numpy as np
from numpy.typing import DTypeLike

from wavecap.errors import DataError

from ._h5 import checked_scalars, create_preallocated, fsync, h5_guard, open_h5, set_attrs, set_str_list
from .session_inputs import checked_array
from .session_labels import LABELS_GROUP, NAME_PATTERN, LabelRun, pending_ranges
from .session_schema import LABEL_RESERVED_ATTRS
from .session_validate import session_errors

FieldShapes = Mapping[str, tuple[Sequence[int], DTypeLike]]


class LabelWriter:
    """Create or resume label run ``run`` of the session at ``path``.

    Args:
        path: an existing, valid session file; opened for appending (h5py ``"r+"``).
        run: run name (letters, digits, ``_.-``), e.g. ``"hybrik_v1"``.
        fields: per-frame shape and dtype of each label, e.g.
            ``{"joints": ((24, 3), "float32")}``; stored as [T, *shape].
        length: T; defaults to the number of frames of ``timebase``.
        chunk_size: frames per chunk, the unit of resumption.
        timebase: stream group whose frames the labels index, e.g. ``"/radar"``.
        metadata: scalars describing the run (teacher version, config hash, ...);
            a resumed run must be given the same.
        restart: discard an existing run of this name and start afresh.

    Raises:
        DataError: the session is invalid, or an existing run differs from the
            arguments (and ``restart`` is False).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        run: str,
        *,
        fields: FieldShapes,
        length: int | None = None,
        chunk_size: int = 256,
        timebase: str = "/radar",
        metadata: Mapping[str, object] | None = None,
        restart: bool = False,
    ) -> None:
        self.path, self.group = os.fspath(path), f"{LABELS_GROUP}/{run}"
        where = {"file": self.path, "group": self.group}
        bad_field = any(not NAME_PATTERN.fullmatch(n) or n in (*LABEL_RESERVED_ATTRS, "done") for n in fields)
        if not NAME_PATTERN.fullmatch(run) or not fields or bad_field or chunk_size < 1:
            raise DataError(f"bad run name {run!r}, field names {tuple(fields)} or chunk_size", **where)
        self._fields = {n: (tuple(int(d) for d in shape), np.dtype(dt)) for n, (shape, dt) in fields.items()}
        if any(dt.kind not in "biuf" for _, dt in self._fields.values()):
            raise DataError("label fields must be bool, integer or float", **where)
        self._metadata = checked_scalars(metadata or {}, self.path, self.group)
        # "r+" is append mode on an existing file; unlike "a" it never creates one.
        self._f = open_h5(self.path, "r+")
        try:
            errors = [e for e in session_errors(self._f, self.path, "cheap") if e.group != self.group]
            if errors:
                raise errors[0]
            with h5_guard(self.path, self.group):
                self._open_run(length, chunk_size, timebase, restart)
        except BaseException:
            self._f.close()
            raise

    def _open_run(self, length: int | None, chunk_size: int, timebase: str, restart: bool) -> None:
        raw = timebase.startswith("/") and not timebase.startswith(LABELS_GROUP)
        stream = self._f.get(timebase) if raw else None
        if not isinstance(stream, h5py.Group) or not isinstance(stream.get("timestamps"), h5py.Dataset):
            raise DataError(f"timebase {timebase!r} is not a stream", file=self.path, group=self.group,
                            field="timebase")
        frames = stream["timestamps"].shape[0]
        if length is not None and length != frames:
            raise DataError(f"length {length} but {timebase} has {frames} frames", file=self.path,
                            group=self.group, field="length")
        existing = self._f.get(self.group)
        # A group without status was never fully created (killed mid-creation).
        if existing is not None and (restart or "status" not in existing.attrs):
            del self._f[self.group]
            existing = None
        if existing is None:
            self._create(frames, chunk_size, timebase)
        self.run = LabelRun(self._f[self.group], self.path)
        self._check_same(frames, chunk_size, timebase)

    def _create(self, length: int, chunk_size: int, timebase: str) -> None:
        g = self._f.require_group(LABELS_GROUP).create_group(self.group.rsplit("/", 1)[-1])
        set_attrs(g, {"length": length, "chunk_size": chunk_size, "timebase": timebase, **self._metadata})
        set_str_list(g, "fields", tuple(self._fields))
        for name, (shape, dtype) in self._fields.items():
            create_preallocated(g, name, (length, *shape), dtype)
        create_preallocated(g, "done", (-(-length // chunk_size),), np.dtype(bool))
        fsync(self._f)
        set_attrs(g, {"status": "incomplete"})  # last: the group is now fully created
        fsync(self._f)

    def _check_same(self, length: int, chunk_size: int, timebase: str) -> None:
        run = self.run
        stored = {n: (tuple(s), np.dtype(d)) for n, (s, d) in run.fields.items()}
        for what, have, want in (
            ("length", run.length, length), ("chunk_size", run.chunk_size, chunk_size),
            ("timebase", run.timebase, timebase), ("fields", stored, self._fields),
            ("metadata", run.metadata, self._metadata),
        ):
            if have != want:
                raise DataError(f"existing run has {what} {have!r}, not {want!r}; pass restart=True to discard it",
                                file=self.path, group=self.group, field=what)

    def __enter__(self) -> LabelWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def done(self) -> np.ndarray:
        """(K,) bool: which chunks are final."""
        return self.run.done

    def remaining(self) -> list[tuple[int, int]]:
        """Frame ranges ``[start, stop)`` still to be written, one per chunk."""
        return pending_ranges(self.done, self.run.length, self.run.chunk_size)

    def write(self, start: int, stop: int, values: Mapping[str, np.ndarray]) -> None:
        """Write frames ``[start, stop)`` of every field and mark their chunks done.

        Args:
            start: first frame; a multiple of ``chunk_size``.
            stop: end frame; a multiple of ``chunk_size``, or T.
            values: every field, each shaped (stop - start, *shape). NaN is allowed
                (a frame the teacher could not label).
        """
        run, where = self.run, {"file": self.path, "group": self.group}
        cs, n = run.chunk_size, run.length
        if run.complete:
            raise DataError("run is complete; pass restart=True to rewrite it", **where)
        if not (0 <= start < stop <= n and start % cs == 0 and (stop % cs == 0 or stop == n)):
            raise DataError(f"[{start}, {stop}) is not a range of whole chunks of {cs} in [0, {n})", **where)
        if set(values) != set(self._fields):
            raise DataError(f"need exactly the fields {tuple(self._fields)}, got {tuple(values)}", **where)
        arrays = {
            name: checked_array(values[name], dtype.name, (stop - start, *shape), (self.path, self.group, name),
                                finite=False)
            for name, (shape, dtype) in self._fields.items()
        }
        g = self._f[self.group]
        with h5_guard(self.path, self.group, frame=start):
            for name, array in arrays.items():
                g[name][start:stop] = array
            fsync(self._f)  # data on disk before the flags that vouch for it
            g["done"][start // cs : -(-stop // cs)] = True
            fsync(self._f)

    def flush(self) -> None:
        """Force everything written so far to disk."""
        with h5_guard(self.path, self.group):
            fsync(self._f)

    def close(self) -> None:
        """Mark the run complete if every chunk is done, then close the file."""
        if not self._f.id.valid:
            return
        try:
            with h5_guard(self.path, self.group):
                if not self.run.complete and self.done.all():
                    set_attrs(self._f[self.group], {"status": "complete"})
                    self.run.status = "complete"
                fsync(self._f)
        finally:
            self._f.close()
