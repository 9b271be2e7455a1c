"""The validation report every importer writes beside its session.

It answers the questions users of other tools' data keep asking: how many
frames and points came in, which frames were empty, what was dropped and why,
whether the timestamps came from the file or were made up, and which units
and conventions were assumed. It is printed and saved as JSON
(``<session>.import.json``).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger("wavecap.datasets.importers")

# An interval longer than this many median frame periods counts as a gap.
GAP_FACTOR = 1.5


@dataclass
class ImportReport:
    """What an import read, assumed, dropped and wrote.

    Attributes:
        format: importer name (``ti_csv``, ``mmfi``, ...).
        output: session file written.
        inputs: input paths by role (``radar``, ``keypoints``, ``sequence``, ...).
        streams: per session group (``/radar``, ``/keypoints/kinect_v2``, ...) its figures.
        assumptions: conventions taken without proof in the input, by topic.
        warnings: things the user should check.
    """

    format: str
    output: str = ""
    inputs: dict[str, str] = field(default_factory=dict)
    streams: dict[str, dict[str, object]] = field(default_factory=dict)
    assumptions: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        """Record a warning and log it."""
        self.warnings.append(message)
        log.warning(message)

    def assume(self, topic: str, what: str) -> None:
        """Record an assumption (units, frames, column meaning, sign conventions)."""
        self.assumptions[topic] = what

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready dict."""
        return {
            "format": self.format, "output": self.output, "inputs": self.inputs, "streams": self.streams,
            "assumptions": self.assumptions, "warnings": self.warnings,
        }

    def write_json(self, path: str | os.PathLike[str]) -> None:
        """Write the report as indented JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, default=_json_default) + "\n")

    def summary(self) -> str:
        """Human-readable multi-line summary."""
        lines = [f"import {self.format} -> {self.output}"]
        for name, figures in self.streams.items():
            lines.append(f"  {name}: " + ", ".join(f"{k}={_short(v)}" for k, v in figures.items()))
        lines += [f"  assumed {k}: {v}" for k, v in self.assumptions.items()]
        lines += [f"  WARNING: {w}" for w in self.warnings]
        return "\n".join(lines)


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _short(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    return str(value)


def report_path(out: str | os.PathLike[str]) -> str:
    """Where the JSON report of session ``out`` goes: ``x.h5`` -> ``x.import.json``."""
    out = os.fspath(out)
    stem = out[: -len(".h5")] if out.endswith(".h5") else out
    return f"{stem}.import.json"


def points_figures(counts: np.ndarray) -> dict[str, object]:
    """Per-frame point-count figures.

    Args:
        counts: (T,) points per frame.
    """
    counts = np.asarray(counts)
    if counts.size == 0:
        return {"points": 0, "points_per_frame": {"min": 0, "mean": 0.0, "max": 0}, "empty_frames": 0}
    return {
        "points": int(counts.sum()),
        "points_per_frame": {"min": int(counts.min()), "mean": round(float(counts.mean()), 3),
                             "max": int(counts.max())},
        "empty_frames": int((counts == 0).sum()),
    }


def timing_figures(t: np.ndarray, source: str) -> dict[str, object]:
    """Frame count, rate and gaps of a stream's timestamps.

    Args:
        t: (T,) seconds, strictly increasing.
        source: where the times came from (``"file"``, ``"synthesised at 10 Hz"``, ...).

    Returns:
        frames, duration_s, rate_hz (from the median period), gaps (intervals
        longer than ``GAP_FACTOR`` median periods), longest_gap_s, timestamps.
    """
    t = np.asarray(t, dtype=np.float64)
    figures: dict[str, object] = {"frames": int(t.size), "timestamps": source}
    if t.size < 2:
        return figures
    period = np.diff(t)
    median = float(np.median(period))
    gaps = period > GAP_FACTOR * median
    figures.update({
        "duration_s": round(float(t[-1] - t[0]), 6),
        "rate_hz": round(1.0 / median, 4),
        "gaps": int(gaps.sum()),
        "longest_gap_s": round(float(period.max()), 6),
    })
    if gaps.any():
        figures["first_gap_after_frame"] = int(np.argmax(gaps))
    return figures
