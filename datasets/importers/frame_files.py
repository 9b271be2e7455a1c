"""Per-frame files of dataset folders (``frame012.bin``, ``frame_12.npy``): listing and safe loading."""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import numpy as np

from wavecap.errors import DataError

from .report import ImportReport

# What NumPy raises on a corrupt .npy/.npz (bad magic, header, truncated data, pickles refused).
_NPY_ERRORS = (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, MemoryError, TypeError,
               SyntaxError, UnicodeDecodeError)


def numbered_files(folder: str | os.PathLike[str], pattern: str) -> tuple[np.ndarray, list[Path]]:
    """Files of ``folder`` whose names match ``pattern`` (one group: the frame number), in frame order.

    Args:
        folder: the folder.
        pattern: regular expression over the file name, e.g. ``r"frame(\\d+)\\.bin"``.

    Returns:
        (T,) int64 frame numbers, strictly increasing, and the T paths.

    Raises:
        DataError: no such files, or a frame number missing between the first and the last.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError("folder not found", file=str(folder))
    regex = re.compile(pattern)
    found = {}
    for path in folder.iterdir():
        if (m := regex.fullmatch(path.name)) and path.is_file():
            number = int(m[1])
            if number in found:
                raise DataError(f"two files for frame {number}: {found[number].name}, {path.name}", file=str(folder))
            found[number] = path
    if not found:
        raise DataError(f"no files matching {pattern!r}", file=str(folder))
    numbers = np.array(sorted(found), dtype=np.int64)
    missing = np.setdiff1d(np.arange(numbers[0], numbers[-1] + 1), numbers)
    if missing.size:
        raise DataError(f"{missing.size} frame files missing between frame {numbers[0]} and {numbers[-1]} "
                        f"(first: frame {missing[0]})", file=str(folder))
    return numbers, [found[int(n)] for n in numbers]


def load_npy(path: Path, frame: int | None = None) -> np.ndarray:
    """A .npy array, refusing pickles and shapes the file cannot hold (memory-mapped, then copied)."""
    try:
        if path.stat().st_size == 0:
            raise DataError("empty .npy file", file=str(path), frame=frame)
        return np.array(np.load(path, mmap_mode="r", allow_pickle=False))
    except DataError:
        raise
    except _NPY_ERRORS as exc:
        raise DataError(f"not a readable .npy array ({type(exc).__name__}: {exc})", file=str(path),
                        frame=frame) from exc


def load_npz_member(path: Path, key: str, frame: int | None = None) -> np.ndarray | None:
    """Array ``key`` of an .npz file, or None if absent; the header's shape is checked against the stored size."""
    try:
        with zipfile.ZipFile(path) as archive:
            name = f"{key}.npy"
            if name not in archive.namelist():
                return None
            info = archive.getinfo(name)
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read_header(member)
                header_bytes = member.tell()
                if dtype.hasobject:
                    raise DataError(f"{key} holds Python objects (pickles are refused)", file=str(path), frame=frame)
                expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
                if expected != info.file_size - header_bytes:
                    raise DataError(f"{key}: header shape {shape} needs {expected} bytes, the archive holds "
                                    f"{info.file_size - header_bytes}", file=str(path), frame=frame)
                data = np.frombuffer(member.read(expected), dtype=dtype)
                return data.reshape(shape, order="F" if fortran else "C").copy()
    except DataError:
        raise
    except _NPY_ERRORS as exc:
        raise DataError(f"not a readable .npz archive ({type(exc).__name__}: {exc})", file=str(path),
                        frame=frame) from exc


def finite_rows(points: np.ndarray) -> np.ndarray:
    """(N,) True where a row is finite once stored as float32."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.isfinite(points.astype(np.float32)).all(axis=1)


def ragged(frames: list[np.ndarray], width: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Concatenate per-frame (n_i, width) arrays, dropping non-finite rows.

    Returns:
        (N, width) float32 points, (T+1,) int64 offsets, and the number of rows dropped.
    """
    kept = []
    dropped = 0
    for p in frames:
        ok = finite_rows(p)
        dropped += int((~ok).sum())
        kept.append(p[ok])
    counts = np.array([len(p) for p in kept], dtype=np.int64)
    points = np.concatenate(kept).astype(np.float32) if kept else np.zeros((0, width), np.float32)
    return points, np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), dropped


def warn_synthesised_times(report: ImportReport, dataset: str, rate_hz: float) -> None:
    """Note that a dataset ships no per-frame times, so they are made from the frame index."""
    report.warn(f"{dataset} ships no per-frame timestamps: radar times synthesised from frame numbers at "
                f"{rate_hz:g} Hz (radar_options.frame_rate_hz)")
