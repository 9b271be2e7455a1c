"""Validate a session file against the schema.

Two levels: ``"cheap"`` reads metadata plus the small per-frame arrays
(timestamps, offsets, transforms), which is what opening a session runs;
``"full"`` also reads every sample of every dataset (finiteness, checksums,
decompression). Each problem is a ``DataError`` naming file, group, field and,
where it applies, frame.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import h5py
import numpy as np

from wavecap.errors import DataError

from ._h5 import as_float, as_int, as_str, as_str_list, get_attr, h5_guard, implausible_size, open_h5
from .session_content import CONTENT_CHECKS, Where
from .session_schema import GROUPS, ROOT_ATTRS, SUPPORTED_VERSIONS, AttrSpec, FieldSpec, GroupSpec, Shape

LEVELS = ("cheap", "full")


@dataclass(frozen=True)
class ValidationReport:
    """Outcome of validating one session file.

    Attributes:
        path: the file checked.
        level: ``"cheap"`` or ``"full"``.
        errors: every problem found, in schema order.
    """

    path: str
    level: str
    errors: tuple[DataError, ...]

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.errors

    def raise_first(self) -> None:
        """Raise the first problem found, if any."""
        if self.errors:
            raise self.errors[0]


def validate_session(path: str | os.PathLike[str], level: str = "full") -> ValidationReport:
    """Check a session file against the schema without raising on bad data.

    Args:
        path: session file.
        level: ``"cheap"`` (metadata and per-frame indices) or ``"full"`` (all data).

    Returns:
        The report; ``report.raise_first()`` turns it into an exception.
    """
    path = os.fspath(path)
    try:
        f = open_h5(path)
    except DataError as exc:
        return ValidationReport(path, level, (exc,))
    with f:
        return ValidationReport(path, level, tuple(session_errors(f, path, level)))


def session_errors(f: h5py.File, path: str, level: str) -> list[DataError]:
    """All problems in an open session file (see ``validate_session``)."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    root = Where(path, "/")
    try:
        with h5_guard(path, "/"):
            errors = [e for spec in ROOT_ATTRS if (e := _attr_error(f.attrs, spec, root, None))]
            file_size = f.id.get_filesize()
            known = as_str(get_attr(f.attrs, "wavecap_schema")) in SUPPORTED_VERSIONS
    except DataError as exc:
        return [exc]
    if errors and not known:
        return errors  # a file of another (or no) schema cannot be interpreted
    for spec in GROUPS:
        for name in _members(f, spec, root, errors):
            errors.extend(_group_errors(f, name, spec, Where(path, name), level, file_size))
    return errors


def _members(f: h5py.File, spec: GroupSpec, root: Where, errors: list[DataError]) -> list[str]:
    """Paths of the groups in ``f`` that ``spec`` describes; reports missing ones."""
    try:
        with h5_guard(root.file, spec.path):
            if not spec.path.endswith("/*"):
                if spec.path in f:
                    return [spec.path]
                if spec.required:
                    errors.append(Where(root.file, spec.path).error("missing required group"))
                return []
            parent = spec.path[:-2]
            if parent not in f:
                return []
            if not isinstance(f[parent], h5py.Group):
                errors.append(Where(root.file, parent).error("is not a group"))
                return []
            return [f"{parent}/{name}" for name in f[parent]]
    except DataError as exc:
        errors.append(exc)
        return []


def _group_errors(
    f: h5py.File, name: str, spec: GroupSpec, where: Where, level: str, file_size: int
) -> list[DataError]:
    try:
        with h5_guard(where.file, name):
            g = f[name]
            if not isinstance(g, h5py.Group):
                return [where.error("is not a group")]
            errors, sizes, found = structure_errors(g, spec, where, file_size)
            if not errors:
                CONTENT_CHECKS[spec.path](g, found, sizes, where, level, file_size)
            return errors
    except DataError as exc:
        return [exc]


def structure_errors(
    g: h5py.Group, spec: GroupSpec, where: Where, file_size: int
) -> tuple[list[DataError], dict[str, int], dict[str, h5py.Dataset]]:
    """Presence, dtype, shape and attribute checks of one group (metadata only).

    Returns:
        The errors, the sizes bound to shape symbols (``{"T": 120, ...}``) and
        the datasets found, by field name.
    """
    errors: list[DataError] = []
    sizes: dict[str, int] = {}
    found: dict[str, h5py.Dataset] = {}
    for field in spec.fields:
        try:
            with h5_guard(where.file, where.group, field.name):
                obj = g.get(field.name)
                if obj is None:
                    if field.required:
                        errors.append(where.error("missing required dataset", field.name))
                    continue
                error = _field_error(obj, field, sizes, where, file_size)
        except DataError as exc:
            error = exc
        if error is None:
            found[field.name] = obj
        else:
            errors.append(error)
    for names in spec.one_of:
        present = [n for n in names if n in found]
        if len(present) != 1 and not any(e.field in names for e in errors):
            errors.append(where.error(f"needs exactly one of {names}, found {present}", names[0]))
    errors += [e for a in spec.attrs if (e := _attr_error(g.attrs, a, where, None))]
    return errors, sizes, found


def _field_error(
    obj: object, field: FieldSpec, sizes: dict[str, int], where: Where, file_size: int
) -> DataError | None:
    if not isinstance(obj, h5py.Dataset):
        return where.error("is not a dataset", field.name)
    if obj.dtype != np.dtype(field.dtype):
        return where.error(f"dtype is {obj.dtype}, expected {field.dtype}", field.name)
    if not _bind_shape(obj.shape, field.shapes, sizes):
        bound = ", ".join(f"{k}={v}" for k, v in sizes.items())
        return where.error(f"shape {obj.shape} does not match {list(field.shapes)} ({bound})", field.name)
    if implausible_size(obj, file_size):
        return where.error(f"shape {obj.shape} claims more data than the file can hold", field.name)
    for spec in field.attrs:
        if "<" not in spec.name and (error := _attr_error(obj.attrs, spec, where, field.name)):
            return error
    return None


def _bind_shape(shape: tuple[int, ...], options: tuple[Shape, ...], sizes: dict[str, int]) -> bool:
    """Match ``shape`` against any option, binding new symbols into ``sizes``."""
    for option in options:
        trial = dict(sizes)
        if _bind_one(shape, option, trial):
            sizes.update(trial)
            return True
    return False


def _bind_one(shape: tuple[int, ...], option: Shape, sizes: dict[str, int]) -> bool:
    if option and option[-1] == "...":
        option = option[:-1]
        if len(shape) < len(option):
            return False
        shape = shape[: len(option)]
    if len(shape) != len(option):
        return False
    for n, symbol in zip(shape, option):
        if symbol == "T+1":
            symbol, n = "T", n - 1
        if isinstance(symbol, int):
            if n != symbol:
                return False
        elif sizes.setdefault(symbol, n) != n:
            return False
    return True


_DECODERS = {"str": as_str, "str_list": as_str_list, "int": as_int, "float": as_float}


def _attr_error(attrs: h5py.AttributeManager, spec: AttrSpec, where: Where, field: str | None) -> DataError | None:
    """Check one attribute; ``field`` is its dataset, or None for a group attribute."""
    name = field or spec.name
    if spec.name not in attrs:
        return where.error(f"missing required attribute {spec.name!r}", name) if spec.required else None
    try:
        with h5_guard(where.file, where.group, name):
            value = _DECODERS[spec.kind](get_attr(attrs, spec.name))
    except DataError as exc:
        return exc
    if value is None:
        return where.error(f"attribute {spec.name!r} must be a {spec.kind}", name)
    if spec.choices and value not in spec.choices:
        return where.error(f"attribute {spec.name!r} is {value!r}, expected one of {spec.choices}", name)
    return None
