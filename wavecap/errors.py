"""The project's own exception types.

Every error a user can trigger with bad input is one of these, so callers (and
fuzz tests) can tell "your file is wrong" from "WaveCap has a bug".
"""

from __future__ import annotations


class WaveCapError(Exception):
    """Base class of every error WaveCap raises on purpose."""


class DataError(WaveCapError):
    """Bad recorded or imported data; the message names where it is.

    Args:
        message: what is wrong.
        file: path of the offending file, if any.
        group: HDF5 group (or folder / table) inside the file.
        field: dataset, column or attribute name.
        frame: frame index where the problem was found.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        group: str | None = None,
        field: str | None = None,
        frame: int | None = None,
    ) -> None:
        self.file, self.group, self.field, self.frame = file, group, field, frame
        where = [
            f"{name}={value}"
            for name, value in (("file", file), ("group", group), ("field", field), ("frame", frame))
            if value is not None
        ]
        super().__init__(f"{message} [{', '.join(where)}]" if where else message)


class BodyModelError(WaveCapError):
    """A body-model file is missing, unreadable or inconsistent."""


class CheckpointError(WaveCapError):
    """A checkpoint does not match the model it is loaded into."""
