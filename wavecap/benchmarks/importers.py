"""Section ``importers``: TI point-CSV import throughput.

A synthetic TI export (``Frame #, # Obj, X, Y, Z, Doppler, Intensity, Abs
Time``; 4-6 significant digits, ~64 bytes per row) of ``importers_bench.points``
points is written once, then imported end to end: parse, interpret (frames,
empty frames, units, timestamps), write the session (lzf) and validate it
(``importers_bench.validate``).

Keys:
    importers.ti_csv_points_per_s: points/s of the whole import, median of
        ``repeats``, with the default parser (pandas' C parser when installed).
    importers.ti_csv_points_per_cpu_s: the same runs per second of this
        process's CPU time (``time.process_time``): the import runs on one
        core, so on an idle machine this is the wall-clock figure; on a shared
        one it is the load-free figure.
    importers.ti_csv_parser: which parser that was.
    importers.ti_csv_mb_per_s: the same run in MB of CSV per second.
    importers.ti_csv_read_points_per_s: points/s of parsing + interpreting only
        (no session written), to show where the time goes.
    importers.ti_csv_numpy_points_per_s / _per_cpu_s: the whole import with the
        NumPy parser (``np.loadtxt``), the path without the optional pandas
        dependency.
"""

from __future__ import annotations

import io
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from wavecap.benchmarks.timing import median_seconds
from wavecap.datasets.importers import ImportReport, RadarOptions, import_ti_csv
from wavecap.datasets.importers.csv_table import have_pandas
from wavecap.datasets.importers.ti_csv import read_ti_csv

HEADER = "Frame #,# Obj,X,Y,Z,Doppler,Intensity,Abs Time"


def write_ti_export(path: Path, points: int, per_frame: int, seed: int) -> None:
    """A TI-style CSV of ``points`` rows, ``per_frame`` points per frame at 10 Hz with epoch times."""
    rng = np.random.default_rng(seed)
    distinct = min(points, 20_000)  # formatting is the slow part: format a pool of rows once, reuse it
    pool = np.column_stack([rng.normal(0, 0.6, distinct), rng.uniform(0.5, 6.0, distinct),
                            rng.normal(0.2, 0.5, distinct), rng.normal(0, 1.0, distinct),
                            rng.uniform(5, 45, distinct)])
    text = io.StringIO()
    np.savetxt(text, pool, fmt=["%.4f", "%.4f", "%.4f", "%.3f", "%.2f"], delimiter=",")
    rows = text.getvalue().splitlines()
    frames = -(-points // per_frame)
    lines = [HEADER]
    for f in range(frames):
        n = min(per_frame, points - f * per_frame)
        prefix, stamp = f"{f + 1},{n},", f",{1_692_871_261.0 + 0.1 * f:.4f}"
        start = (f * per_frame) % distinct
        lines += [prefix + rows[(start + k) % distinct] + stamp for k in range(n)]
    path.write_text("\n".join(lines) + "\n")


def run(cfg: Any) -> dict[str, float | int | str]:  # noqa: ANN401
    """Measure the importers section (see module docstring)."""
    bench = cfg.importers_bench
    points, repeats = int(bench.points), int(bench.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "radar.csv"
        write_ti_export(csv_path, points, int(bench.points_per_frame), int(cfg.seed))
        size_mb = csv_path.stat().st_size / 1e6
        out = Path(tmp) / "s.h5"

        def import_with(parser: str) -> tuple[float, float]:
            """Median wall and CPU seconds of the whole import (one warm-up run first)."""
            run = lambda: import_ti_csv(csv_path, out, radar_options=RadarOptions(parser=parser),  # noqa: E731
                                        overwrite=True, validate=str(bench.validate))
            run()
            wall, cpu = [], []
            for _ in range(repeats):
                start_wall, start_cpu = time.perf_counter(), time.process_time()
                run()
                wall.append(time.perf_counter() - start_wall)
                cpu.append(time.process_time() - start_cpu)
            return statistics.median(wall), statistics.median(cpu)

        parser = "pandas" if have_pandas() else "numpy"
        full, full_cpu = import_with("auto")
        read = median_seconds(lambda: read_ti_csv(csv_path, RadarOptions(), ImportReport("ti_csv")), repeats)
        numpy_full, numpy_cpu = import_with("numpy") if parser == "pandas" else (full, full_cpu)
    return {
        "importers.ti_csv_points": points,
        "importers.ti_csv_points_per_s": points / full,
        "importers.ti_csv_points_per_cpu_s": points / full_cpu,
        "importers.ti_csv_parser": parser,
        "importers.ti_csv_mb_per_s": size_mb / full,
        "importers.ti_csv_read_points_per_s": points / read,
        "importers.ti_csv_numpy_points_per_s": points / numpy_full,
        "importers.ti_csv_numpy_points_per_cpu_s": points / numpy_cpu,
    }
