"""Pure checks on arrays read from a session; each returns the first problem or None.

A problem is ``(message, frame)`` where frame is the offending frame index, or
None when the problem is not tied to one frame. The validator turns problems
into ``DataError``s naming file, group and field.
"""

from __future__ import annotations

import numpy as np

Problem = tuple[str, int | None]

# Rotation tolerance: extrinsics are float64 but are often composed from
# float32 calibration output, which is orthonormal only to about 1e-6.
RIGID_ATOL = 1e-5


def timestamps_problem(t: np.ndarray) -> Problem | None:
    """Timestamps must be finite and strictly increasing.

    Args:
        t: (T,) seconds.
    """
    bad = ~np.isfinite(t)
    if bad.any():
        i = int(np.argmax(bad))
        return f"timestamp {t[i]!r} is not finite", i
    down = np.diff(t) <= 0
    if down.any():
        i = int(np.argmax(down)) + 1
        return f"timestamps not strictly increasing ({t[i - 1]!r} then {t[i]!r})", i
    return None


def offsets_problem(offsets: np.ndarray, n_rows: int, target: str = "points") -> Problem | None:
    """Ragged offsets must start at 0, never decrease and end at the row count.

    Args:
        offsets: (T+1,) int64 row offsets into the ragged dataset.
        n_rows: rows of the ragged dataset (N points, L bytes).
        target: name of the ragged dataset, for messages.
    """
    if offsets.size == 0:
        return "offsets is empty; it needs T+1 entries", None
    if offsets[0] != 0:
        return f"offsets[0] is {offsets[0]}, expected 0", 0
    down = np.diff(offsets) < 0
    if down.any():
        i = int(np.argmax(down))
        return f"offsets decrease ({offsets[i]} then {offsets[i + 1]}): negative {target} count", i
    if offsets[-1] != n_rows:
        last = offsets.size - 2 if offsets.size > 1 else None
        return f"offsets[-1] is {offsets[-1]} but {target} has {n_rows} rows", last
    return None


def rigid_problem(m: np.ndarray) -> str | None:
    """A 4x4 homogeneous transform must be finite, rigid and right-handed.

    Args:
        m: (4, 4) transform, translation in metres.
    """
    if not np.isfinite(m).all():
        return "transform has NaN/Inf entries"
    if not np.allclose(m[3], [0.0, 0.0, 0.0, 1.0], atol=1e-12, rtol=0.0):
        return f"transform last row is {m[3].tolist()}, expected [0, 0, 0, 1]"
    r = m[:3, :3]
    if not np.allclose(r.T @ r, np.eye(3), atol=RIGID_ATOL, rtol=0.0):
        return "transform rotation is not orthonormal (scale or shear): not a rigid transform"
    if abs(np.linalg.det(r) - 1.0) > RIGID_ATOL:
        return "transform rotation has determinant -1 (a reflection): not a rigid transform"
    return None


def intrinsics_problem(k: np.ndarray) -> str | None:
    """A pinhole matrix must be finite, upper triangular with positive focal lengths.

    Args:
        k: (3, 3) intrinsics in pixels.
    """
    if not np.isfinite(k).all():
        return "intrinsics has NaN/Inf entries"
    if k[1, 0] != 0 or k[2, 0] != 0 or k[2, 1] != 0 or k[2, 2] != 1:
        return "intrinsics must be [[fx, s, cx], [0, fy, cy], [0, 0, 1]]"
    if k[0, 0] <= 0 or k[1, 1] <= 0:
        return "intrinsics focal lengths must be positive"
    return None


def boxes_problem(boxes: np.ndarray) -> Problem | None:
    """Person boxes must be all-NaN rows (no person) or finite with x2 > x1, y2 > y1.

    Args:
        boxes: (T, 4) (x1, y1, x2, y2) image pixels.
    """
    missing = np.isnan(boxes).all(axis=1)  # [T]
    finite = np.isfinite(boxes).all(axis=1)
    ordered = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])  # NaN compares False
    bad = ~missing & ~(finite & ordered)
    if not bad.any():
        return None
    i = int(np.argmax(bad))
    return f"person box {boxes[i].tolist()} needs finite x1 < x2 and y1 < y2 (or all NaN: no person)", i


def first_nonfinite_row(block: np.ndarray, allow_nan: bool = False) -> int | None:
    """Index of the first row (along axis 0) holding NaN/Inf, or None.

    Args:
        block: (R, ...) array of any real dtype.
        allow_nan: only look for +-Inf (NaN marks missing values).
    """
    if block.dtype.kind not in "fc" or block.size == 0:
        return None
    bad = np.isinf(block) if allow_nan else ~np.isfinite(block)
    rows = bad.reshape(len(block), -1).any(axis=1)
    return int(np.argmax(rows)) if rows.any() else None


def image_magic_problem(data: np.ndarray, encoding: str) -> str | None:
    """Encoded frame bytes must start with the signature of their format.

    Args:
        data: (n,) uint8 file bytes.
        encoding: ``"png"`` or ``"jpeg"``.
    """
    magic = {"png": b"\x89PNG\r\n\x1a\n", "jpeg": b"\xff\xd8\xff"}[encoding]
    if bytes(data[: len(magic)]) != magic:
        return f"frame bytes are not a {encoding.upper()} file"
    return None
