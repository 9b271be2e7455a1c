"""Section ``e2e``: the whole demo (``scripts/demo.py``), launched fresh and timed.

The section deletes ``outputs/<e2e_bench.run>`` (unless ``e2e_bench.fresh``
is false), runs ``python scripts/demo.py run=<run> <e2e_bench.overrides...>`` as a child process, times it from launch to exit
and reads the figures from the ``summary.json`` that run wrote. It runs last
in ``section=all`` (it takes minutes and loads the machine).

Keys:
    e2e.demo_seconds: wall time of the whole demo process (s; goal <= 900 on
        2 cores), including interpreter start-up.
    e2e.demo_cpu_seconds: CPU seconds of the demo process and its children
        (less sensitive to other jobs on a shared machine).
    e2e.load_average: 1-minute load average at the start.
    e2e.teacher_pa_mpjpe_mm: the teacher's labels on the held-out capture
        (radar frames, world, 24 SMPL joints, Procrustes-aligned per frame).
    e2e.student_pa_mpjpe_mm: the student (radar only) on the same frames.
    e2e.student_to_teacher_pa_mpjpe_mm: student against the teacher's labels.
    e2e.physics_pa_mpjpe_mm: after the physics refinement.
    e2e.physics_foot_skate_ratio: foot skating after / before physics (GT-contact gated).
    e2e.physics_penetration_mm_before / _after (against z = 0), e2e.physics_jitter_ratio,
    e2e.physics_fallback_frames, e2e.physics_floor_z (the refinement's floor, m).
    e2e.stage_seconds.<stage>: each stage's wall time inside the demo.
    e2e.report: the run's report.md.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from wavecap.demo.stages import REPO

FIGURES = ("teacher_pa_mpjpe_mm", "student_pa_mpjpe_mm", "student_to_teacher_pa_mpjpe_mm", "physics_pa_mpjpe_mm",
           "teacher_mpjpe_mm", "student_mpjpe_mm", "physics_foot_skate_ratio", "physics_penetration_mm_before",
           "physics_penetration_mm_after", "physics_jitter_ratio", "physics_fallback_frames", "physics_floor_z")


def run(cfg: Any) -> dict[str, Any]:
    """Measure the e2e section (see module docstring)."""
    bench = cfg.e2e_bench
    run_dir = REPO / str(bench.out_root) / str(bench.run)
    if bool(bench.fresh) and run_dir.exists():
        shutil.rmtree(run_dir)
    # The demo's own thread count (configs/demo.yaml) applies, as on a user's machine.
    args = [sys.executable, "scripts/demo.py", f"run={bench.run}", f"out_root={bench.out_root}",
            f"progress={str(bool(bench.progress)).lower()}", *map(str, bench.overrides)]
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(args, check=True, cwd=REPO)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = json.loads(Path(run_dir / "summary.json").read_text())
    out: dict[str, Any] = {
        "e2e.demo_seconds": round(seconds, 2),
        "e2e.demo_cpu_seconds": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2),
        "e2e.load_average": round(load, 2),
        **{f"e2e.{key}": summary[key] for key in FIGURES},
        **{f"e2e.stage_seconds.{k}": v for k, v in summary["stage_seconds"].items()},
        "e2e.report": str(run_dir / "report.md"),
    }
    return out
