"""Guessing length and time units from the data, with the rule stated.

Unit mix-ups are among the most common complaints about radar datasets; each
rule here picks a unit only where the alternatives cannot both be plausible
and refuses (with the figures) where they can.
"""

from __future__ import annotations

import numpy as np

from wavecap.errors import DataError

LENGTH_SCALE = {"m": 1.0, "cm": 1e-2, "mm": 1e-3}
TIME_SCALE = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}

# Median radar point range (distance from the sensor) in the file's unit.
# A person in front of an indoor mmWave radar is 0.3-15 m away, so below 30
# the unit is metres and from 300 millimetres; between the two both "m" (a
# person 30-300 m away) and "mm" (3-30 cm from the antenna) are implausible
# and the choice is left to the user.
RADAR_M_BELOW = 30.0
RADAR_MM_FROM = 300.0
RADAR_MM_BELOW = 1e6

# Median bone length of a skeleton is ~0.25 m: 0.25 m, 25 cm, 250 mm. The
# thresholds are the geometric means between neighbouring units.
BONE_M_BELOW = 2.5
BONE_CM_BELOW = 79.0
BONE_MM_BELOW = 8000.0


def radar_units(xyz: np.ndarray, units: str, file: str) -> tuple[str, str]:
    """The length unit of radar points.

    Args:
        xyz: (N, 3) positions in the file's unit (finite rows).
        units: ``auto``, ``m``, ``cm`` or ``mm``.
        file: named in errors.

    Returns:
        The unit and a sentence saying why, for the report.

    Raises:
        DataError: ``auto`` and the median range is ambiguous or absurd.
    """
    if xyz.size == 0:
        return ("m" if units == "auto" else units), "no points to check; metres assumed" if units == "auto" else "given"
    with np.errstate(over="ignore", invalid="ignore"):
        median = float(np.sqrt(np.median(np.einsum("ij,ij->i", xyz, xyz))))  # median of squares: no sqrt per point
    if units != "auto":
        return units, f"given (median point range {median:.4g} {units})"
    if median < RADAR_M_BELOW:
        return "m", f"auto: median point range {median:.4g} < {RADAR_M_BELOW:g}, so metres"
    if RADAR_MM_FROM <= median < RADAR_MM_BELOW:
        return "mm", f"auto: median point range {median:.4g} >= {RADAR_MM_FROM:g}, so millimetres"
    raise DataError(f"cannot tell the length unit: median point range is {median:.4g}, which is neither a "
                    f"plausible number of metres (< {RADAR_M_BELOW:g}) nor of millimetres (>= {RADAR_MM_FROM:g}); "
                    "set radar_options.units", file=file, field="x")


def keypoint_units(positions: np.ndarray, bones: tuple[tuple[int, int], ...], units: str, file: str) -> tuple[str, str]:
    """The length unit of keypoints, from the median bone length.

    Args:
        positions: (T, J, 3) positions in the file's unit; NaN = untracked.
        bones: (parent, child) index pairs of the skeleton.
        units: ``auto``, ``m``, ``cm`` or ``mm``.
        file: named in errors.

    Returns:
        The unit and a sentence saying why.

    Raises:
        DataError: ``auto`` and no bone is measurable, or its length is absurd.
    """
    parents, children = (np.array(ix, dtype=np.int64) for ix in zip(*bones))
    with np.errstate(over="ignore", invalid="ignore"):
        lengths = np.linalg.norm(positions[:, children] - positions[:, parents], axis=-1)
    lengths = lengths[np.isfinite(lengths) & (lengths > 0)]
    if units != "auto":
        return units, "given"
    if lengths.size == 0:
        raise DataError("cannot tell the length unit: no bone has both joints tracked; set keypoint_options.units",
                        file=file)
    median = float(np.median(lengths))
    for unit, below in (("m", BONE_M_BELOW), ("cm", BONE_CM_BELOW), ("mm", BONE_MM_BELOW)):
        if median < below:
            return unit, f"auto: median bone length {median:.4g} ({unit} if < {below:g})"
    raise DataError(f"cannot tell the length unit: median bone length {median:.4g} is not a human bone in m, cm "
                    "or mm; set keypoint_options.units", file=file)


def time_unit(period: float, nominal_rate_hz: float, unit: str) -> tuple[str, str]:
    """The unit of a time column, from its median frame period.

    ``auto`` picks the unit whose period is closest (on a log scale) to the
    nominal ``1 / nominal_rate_hz``; the units are 1000x apart, so a clock off
    its nominal rate by up to ~30x is still read right.

    Args:
        period: median difference between consecutive frame times, file unit.
        nominal_rate_hz: the stream's nominal rate.
        unit: ``auto``, ``s``, ``ms``, ``us`` or ``ns``.
    """
    if unit != "auto":
        return unit, "given"
    if not period > 0:
        return "s", "no positive frame period; seconds assumed"
    target = np.log10(1.0 / nominal_rate_hz)
    best = min(TIME_SCALE, key=lambda u: abs(np.log10(period * TIME_SCALE[u]) - target))
    return best, f"auto: median frame period {period:.6g} is nearest {1 / nominal_rate_hz:.4g} s in {best}"
