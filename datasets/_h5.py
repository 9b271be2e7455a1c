"""HDF5 helpers shared by the session reader, writer and validator."""

from __future__ import annotations

import contextlib
import numbers
import os
from collections.abc import Iterator, Mapping
from typing import TypeVar

import h5py
import numpy as np

from wavecap.errors import DataError

# What h5py raises on unreadable, truncated or inconsistent files. Reads are
# wrapped so that a bad file surfaces as DataError, never as one of these.
H5_ERRORS = (OSError, KeyError, ValueError, TypeError, RuntimeError)

# Superblock v2 with checksummed metadata: a flipped metadata byte reads as an
# error instead of garbage, and unlike v3 (SWMR) there is no "open for writing"
# flag that a killed writer would leave set, locking readers out.
LIBVER = ("v108", "v108")

Scalar = str | bool | int | float
V = TypeVar("V")

# gzip cannot compress better than about 1032:1, so a dataset claiming more
# bytes than that times the file size has a corrupted shape; reading it would
# only produce fill values, possibly for hours.
MAX_EXPANSION = 1100


@contextlib.contextmanager
def h5_guard(
    file: str, group: str | None = None, field: str | None = None, frame: int | None = None
) -> Iterator[None]:
    """Turn h5py/OS errors raised in the block into a DataError naming the place."""
    try:
        yield
    except H5_ERRORS as exc:
        raise DataError(
            f"unreadable HDF5 data ({type(exc).__name__}: {exc})",
            file=file, group=group, field=field, frame=frame,
        ) from exc


def open_h5(path: str | os.PathLike[str], mode: str = "r") -> h5py.File:
    """Open an HDF5 file, reporting failure (missing, truncated, not HDF5) as DataError."""
    with h5_guard(os.fspath(path)):
        return h5py.File(path, mode, libver=LIBVER if mode != "r" else None)


def implausible_size(ds: h5py.Dataset, file_size: int) -> bool:
    """True if the dataset's shape claims more data than a file of this size can hold."""
    return ds.size * ds.dtype.itemsize > MAX_EXPANSION * file_size + (1 << 20)


def as_str(value: object) -> str | None:
    """Decode a string attribute value; None if it is not a single string."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return str(value) if isinstance(value, str) else None


def as_str_list(value: object) -> tuple[str, ...] | None:
    """Decode a 1-D string-array attribute; None if it is not one."""
    if not isinstance(value, np.ndarray) or value.ndim != 1:
        return None
    items = tuple(as_str(v) for v in value)
    return None if any(v is None for v in items) else items  # type: ignore[return-value]


def as_int(value: object) -> int | None:
    """An integer attribute value; None if it is not one (bools excluded)."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        return None
    return int(value)


def as_float(value: object) -> float | None:
    """A finite real attribute value; None if it is not one."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def get_attr(attrs: h5py.AttributeManager, name: str) -> object | None:
    """An attribute's stored value, or None if absent.

    Variable-length types (h5py's default for ``str``, references) are refused
    unread: their data lives in HDF5's global heap, which has no checksums and,
    when corrupted, can hang the library. The schema uses fixed-length strings.
    """
    if name not in attrs:
        return None
    if attrs.get_id(name).dtype.kind == "O":
        raise TypeError(f"attribute {name!r} has a variable-length type; the schema stores fixed-length strings")
    return attrs[name]


def decode_attrs(attrs: h5py.AttributeManager) -> dict[str, object]:
    """All attributes as Python values: str, int, float, bool, tuple of str, or arrays."""
    out: dict[str, object] = {}
    for name in attrs:
        value = get_attr(attrs, name)
        if isinstance(value, np.ndarray) and value.ndim > 0:
            strings = as_str_list(value)
            out[name] = strings if strings is not None else value
        elif (text := as_str(value)) is not None:
            out[name] = text
        elif isinstance(value, np.generic):
            out[name] = value.item()
        else:
            out[name] = value
    return out


def checked_scalars(values: Mapping[str, object], file: str, group: str) -> dict[str, Scalar]:
    """Check that user metadata is a flat dict of finite scalars, for storing as attributes."""
    out: dict[str, Scalar] = {}
    for name, value in values.items():
        if isinstance(value, np.generic):
            value = value.item()
        ok = isinstance(value, (str, bool, int)) or (isinstance(value, float) and np.isfinite(value))
        if not ok or not isinstance(name, str) or not name:
            raise DataError(
                f"attribute {name!r} must be a finite str/bool/int/float scalar, got {value!r}",
                file=file, group=group, field=str(name),
            )
        out[name] = value
    return out


def _fixed_utf8(values: str | list[str]) -> np.ndarray:
    """A 0-d (one string) or 1-d fixed-length UTF-8 string array."""
    if isinstance(values, str):
        data: bytes | list[bytes] = values.encode("utf-8")
        longest = len(data)
    else:
        data = [v.encode("utf-8") for v in values]
        longest = max([0, *map(len, data)])
    return np.array(data, dtype=h5py.string_dtype("utf-8", max(1, longest)))


def set_attrs(obj: h5py.HLObject, values: Mapping[str, object]) -> None:
    """Store attributes, strings as fixed-length UTF-8 (never variable-length, see ``get_attr``)."""
    for name, value in values.items():
        obj.attrs[name] = _fixed_utf8(value) if isinstance(value, str) else value


def set_str_list(obj: h5py.HLObject, name: str, values: tuple[str, ...] | list[str]) -> None:
    """Store a list of strings as a fixed-length UTF-8 string array attribute."""
    obj.attrs[name] = _fixed_utf8(list(values))


def fsync(f: h5py.File) -> None:
    """Flush HDF5 buffers and force them to disk, so a crash keeps what was written."""
    f.flush()
    os.fsync(f.id.get_vfd_handle())


def create_preallocated(group: h5py.Group, name: str, shape: tuple[int, ...], dtype: np.dtype) -> h5py.Dataset:
    """Create a contiguous dataset whose storage exists from the start.

    Later writes then only overwrite bytes at fixed offsets and change no HDF5
    metadata, so a writer killed mid-write cannot damage other objects.
    """
    dtype = np.dtype(dtype)
    fill = np.nan if dtype.kind == "f" else 0
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    return group.create_dataset(
        name, shape=shape, dtype=dtype, dcpl=dcpl, fillvalue=fill, fill_time="alloc", track_times=False
    )


def require(value: V | None, file: str, group: str, field: str) -> V:
    """Return ``value``, or raise a DataError if an attribute decoder gave None."""
    if value is None:
        raise DataError("missing or malformed attribute", file=file, group=group, field=field)
    return value
