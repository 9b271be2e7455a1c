"""Checks of arrays handed to the session writers, before anything is written.

The writers refuse data the validator would reject, so a file that was
written is a file that validates.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from wavecap.errors import DataError

from .session_checks import boxes_problem, first_nonfinite_row, intrinsics_problem, rigid_problem, timestamps_problem


def checked_array(
    value: object,
    dtype: str,
    shape: tuple[int | None, ...],
    where: tuple[str, str, str],
    finite: bool = True,
    frame0: int = 0,
) -> np.ndarray:
    """Convert to ``dtype`` and check the shape (None = any extent) and finiteness.

    Args:
        value: array-like.
        dtype: target numpy dtype name.
        shape: expected shape; None matches any extent.
        where: (file, group, field) named in errors.
        finite: refuse NaN/Inf.
        frame0: index of row 0 in the stream, for error messages.
    """
    file, group, field = where
    arr = np.asarray(value)
    if arr.ndim != len(shape) or any(e is not None and n != e for n, e in zip(arr.shape, shape)):
        want = tuple("*" if e is None else e for e in shape)
        raise DataError(f"shape {arr.shape} does not match {want}", file=file, group=group, field=field)
    if arr.dtype.kind not in "biuf" or (arr.dtype == np.bool_) != (np.dtype(dtype) == np.bool_):
        raise DataError(f"dtype {arr.dtype} cannot be stored as {dtype}", file=file, group=group, field=field)
    if finite and (row := first_nonfinite_row(arr)) is not None:
        frame = frame0 + row if shape[0] is None else None  # rows are frames only in streams
        raise DataError("NaN/Inf value", file=file, group=group, field=field, frame=frame)
    return arr.astype(dtype, copy=False)


def checked_timestamps(value: object, where: tuple[str, str], after: float = -np.inf, frame0: int = 0) -> np.ndarray:
    """(T,) float64 seconds, finite, strictly increasing and later than ``after``."""
    file, group = where
    t = checked_array(value, "float64", (None,), (file, group, "timestamps"), finite=False)
    if problem := timestamps_problem(t):
        raise DataError(problem[0], file=file, group=group, field="timestamps", frame=frame0 + problem[1])
    if t.size and not t[0] > after:
        raise DataError(f"timestamp {t[0]!r} is not after the previous frame's {after!r}",
                        file=file, group=group, field="timestamps", frame=frame0)
    return t


def checked_transform(value: object, where: tuple[str, str, str]) -> np.ndarray:
    """(4, 4) float64 rigid transform."""
    m = checked_array(value, "float64", (4, 4), where, finite=False)
    if problem := rigid_problem(m):
        raise DataError(problem, file=where[0], group=where[1], field=where[2])
    return m


def checked_intrinsics(value: object, where: tuple[str, str, str]) -> np.ndarray:
    """(3, 3) float64 pinhole matrix."""
    k = checked_array(value, "float64", (3, 3), where, finite=False)
    if problem := intrinsics_problem(k):
        raise DataError(problem, file=where[0], group=where[1], field=where[2])
    return k


def checked_boxes(value: object, count: int, where: tuple[str, str, str], frame0: int = 0) -> np.ndarray:
    """(count, 4) float32 person boxes (x1, y1, x2, y2) px; a NaN row means no person.

    Args:
        value: array-like boxes of ``count`` frames.
        count: frames appended with them.
        where: (file, group, field) named in errors.
        frame0: index of row 0 in the stream, for error messages.
    """
    boxes = checked_array(value, "float32", (count, 4), where, finite=False)
    if problem := boxes_problem(boxes):
        raise DataError(problem[0], file=where[0], group=where[1], field=where[2], frame=frame0 + problem[1])
    return boxes


def checked_names(value: Sequence[str], count: int | None, where: tuple[str, str, str]) -> tuple[str, ...]:
    """A tuple of ``count`` unique non-empty strings (any count if None)."""
    names = tuple(value)
    ok = all(isinstance(n, str) and n for n in names) and len(set(names)) == len(names)
    if not ok or (count is not None and len(names) != count):
        raise DataError(f"need {count if count is not None else 'some'} unique names, got {names!r}",
                        file=where[0], group=where[1], field=where[2])
    return names
