"""Frame timestamps: from the file when they are precise enough, otherwise synthesised.

"Precise enough" means two things, checked on the per-frame times after unit
conversion:

1. they increase strictly from frame to frame (a clock quantised to whole
   seconds at 10 Hz repeats values and fails this), and
2. their scatter around a constant-rate clock fitted to the frame numbers is
   at most ``MAX_JITTER`` of a frame period (RMS): host arrival times with a
   few milliseconds of jitter pass, a clock that stalls and jumps does not.

Otherwise times are ``(frame_number - first) / frame_rate_hz`` and the report
says so with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .units import TIME_SCALE, time_unit

MAX_JITTER = 0.25


@dataclass(frozen=True)
class FrameTimes:
    """Per-frame times on the session clock.

    Attributes:
        t: (T,) seconds from the first frame, strictly increasing.
        source: ``"file"`` or ``"synthesised"``.
        reason: why, for the report.
        origin_s: file time of t = 0 in seconds (0 when synthesised).
        unit: unit of the file's time column (empty when there is none).
    """

    t: np.ndarray
    source: str
    reason: str
    origin_s: float = 0.0
    unit: str = ""


def synthesised(frame_numbers: np.ndarray, rate_hz: float, reason: str) -> FrameTimes:
    """Times ``(frame - first) / rate`` for integer frame numbers (T,)."""
    t = (frame_numbers - frame_numbers[0]) / rate_hz if frame_numbers.size else np.zeros(0)
    return FrameTimes(np.asarray(t, dtype=np.float64), "synthesised", f"{reason}; synthesised at {rate_hz:g} Hz")


def frame_times(
    frame_numbers: np.ndarray,
    file_times: np.ndarray | None,
    rate_hz: float,
    unit: str = "auto",
) -> FrameTimes:
    """Times of all frames from the file's times of some of them.

    Args:
        frame_numbers: (T,) int64 frame numbers, strictly increasing.
        file_times: (T,) times in the file's unit, NaN for frames that have
            none (frames with no rows); None if the file has no time column.
        rate_hz: nominal frame rate (Hz), for synthesised times and the unit.
        unit: unit of ``file_times`` or ``auto``.

    Returns:
        The times and where they came from.
    """
    if file_times is None:
        return synthesised(frame_numbers, rate_hz, "no time column")
    known = np.isfinite(file_times)
    if known.sum() < 2:
        return synthesised(frame_numbers, rate_hz, "fewer than 2 frames carry a time")
    f, ft = frame_numbers[known].astype(np.float64), file_times[known]
    steps = np.diff(ft) / np.diff(f)  # file units per frame
    chosen, why = time_unit(float(np.median(steps)), rate_hz, unit)
    seconds = ft * TIME_SCALE[chosen]
    if (np.diff(seconds) <= 0).any():
        i = int(np.argmax(np.diff(seconds) <= 0)) + 1
        return synthesised(frame_numbers, rate_hz,
                           f"file times do not increase at frame {int(f[i])} ({float(seconds[i - 1]):.6f} s then "
                           f"{float(seconds[i]):.6f} s: too coarse or out of order)")
    slope, intercept = np.polyfit(f - f[0], seconds - seconds[0], 1)
    jitter = float(np.sqrt(np.mean((seconds - seconds[0] - (slope * (f - f[0]) + intercept)) ** 2)))
    if not slope > 0 or jitter > MAX_JITTER * slope:
        return synthesised(frame_numbers, rate_hz,
                           f"file times scatter {jitter:.3g} s RMS around a steady clock, more than "
                           f"{MAX_JITTER:g} of the {slope:.3g} s frame period")
    # Frames without a time of their own (no rows) are placed between their neighbours.
    # Frames before the first or after the last timed frame continue at the fitted rate.
    frames = frame_numbers.astype(np.float64)
    all_seconds = np.interp(frames, f, seconds)
    all_seconds = np.where(frames < f[0], seconds[0] + slope * (frames - f[0]), all_seconds)
    all_seconds = np.where(frames > f[-1], seconds[-1] + slope * (frames - f[-1]), all_seconds)
    origin = float(all_seconds[0])
    reason = f"from the file ({why}; scatter {jitter:.3g} s RMS around a {1 / slope:.4g} Hz clock)"
    return FrameTimes(all_seconds - origin, "file", reason, origin, chosen)
