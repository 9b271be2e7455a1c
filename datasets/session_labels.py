"""Label runs: teacher output under ``/labels/<run>``, read side and chunk bookkeeping.

A run covers the T frames of its timebase stream in chunks of ``chunk_size``
frames; ``done[k]`` says chunk k is final. Only done chunks may be read.
"""

from __future__ import annotations

import re

import h5py
import numpy as np

from wavecap.errors import DataError

from ._h5 import as_int, as_str, as_str_list, decode_attrs, get_attr, h5_guard, require
from .session_schema import LABEL_RESERVED_ATTRS

LABELS_GROUP = "/labels"
# Names of label runs, label fields and radar-truth fields: plain HDF5 member names.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def chunk_range(k: int, length: int, chunk_size: int) -> tuple[int, int]:
    """Frames ``[start, stop)`` of chunk ``k``; the last chunk may be short."""
    return k * chunk_size, min((k + 1) * chunk_size, length)


def pending_ranges(done: np.ndarray, length: int, chunk_size: int) -> list[tuple[int, int]]:
    """Frame ranges of the chunks not yet done, in order.

    Args:
        done: (K,) bool, K = ceil(length / chunk_size).
        length: T, frames in the run.
        chunk_size: frames per chunk.
    """
    return [chunk_range(int(k), length, chunk_size) for k in np.flatnonzero(~done)]


class LabelRun:
    """Read-only view of one label run (attributes are read when it is opened)."""

    def __init__(self, group: h5py.Group, file: str) -> None:
        self._g, self._file = group, file
        self.name: str = group.name.rsplit("/", 1)[-1]
        where = (file, group.name)
        with h5_guard(*where):
            attrs = group.attrs
            self.status = require(as_str(get_attr(attrs, "status")), *where, "status")
            self.length = require(as_int(get_attr(attrs, "length")), *where, "length")
            self.chunk_size = require(as_int(get_attr(attrs, "chunk_size")), *where, "chunk_size")
            self.timebase = require(as_str(get_attr(attrs, "timebase")), *where, "timebase")
            self.field_names = require(as_str_list(get_attr(attrs, "fields")), *where, "fields")
            self.metadata: dict[str, object] = {
                k: v for k, v in decode_attrs(attrs).items() if k not in LABEL_RESERVED_ATTRS
            }
        if self.chunk_size < 1 or self.length < 0:
            raise DataError("bad length or chunk_size", file=file, group=group.name, field="chunk_size")

    @property
    def n_chunks(self) -> int:
        """K = ceil(length / chunk_size)."""
        return -(-self.length // self.chunk_size)

    @property
    def fields(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """Per-frame shape and dtype of each label field."""
        return {name: (ds.shape[1:], ds.dtype) for name in self.field_names for ds in [self._dataset(name)]}

    @property
    def done(self) -> np.ndarray:
        """(K,) bool: which chunks are final (read fresh on each call)."""
        ds = self._dataset("done")
        with h5_guard(self._file, self._g.name, "done"):
            done = np.asarray(ds[()], dtype=bool)
        if done.shape != (self.n_chunks,):
            raise DataError(f"done has shape {done.shape}, expected ({self.n_chunks},)",
                            file=self._file, group=self._g.name, field="done")
        return done

    @property
    def complete(self) -> bool:
        """True once every chunk is done and the run was closed."""
        return self.status == "complete"

    def remaining(self) -> list[tuple[int, int]]:
        """Frame ranges ``[start, stop)`` still to be written."""
        return pending_ranges(self.done, self.length, self.chunk_size)

    def read(self, field: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames ``[start, stop)`` of a label field.

        Raises:
            DataError: a frame in the range belongs to a chunk that is not done.
        """
        start, stop, _ = slice(start, stop).indices(self.length)
        stop = max(start, stop)
        if stop > start:
            done = self.done
            first, last = start // self.chunk_size, (stop - 1) // self.chunk_size
            missing = np.flatnonzero(~done[first : last + 1])
            if missing.size:
                frame = max(start, int(first + missing[0]) * self.chunk_size)
                raise DataError("label chunk not done yet", file=self._file, group=self._g.name,
                                field=field, frame=frame)
        ds = self._dataset(field)
        with h5_guard(self._file, self._g.name, field, start):
            return ds[start:stop]

    def _dataset(self, field: str) -> h5py.Dataset:
        if field not in self.field_names and field != "done":
            raise KeyError(f"label run {self.name!r} has no field {field!r}; fields: {self.field_names}")
        with h5_guard(self._file, self._g.name, field):
            ds = self._g.get(field)
        rows = self.n_chunks if field == "done" else self.length
        if not isinstance(ds, h5py.Dataset) or ds.ndim < 1 or ds.shape[0] != rows or ds.dtype.kind not in "biuf":
            raise DataError(f"missing label dataset, or not shaped [{rows}, ...]", file=self._file,
                            group=self._g.name, field=field)
        return ds
