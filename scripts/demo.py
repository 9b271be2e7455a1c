"""WaveCap's main job end to end on synthetic captures (the README's first command).

    python scripts/demo.py                                  # outputs/demo/report.md
    python scripts/demo.py run=big captures.train=6 captures.train_seconds=90 train.steps=3000

Simulates training captures and a held-out capture, labels them from RGB with
the compact teacher, trains the radar student on those labels, runs it on the
held-out radar alone, refines the motion with physics, scores every stage
against ground truth and writes ``outputs/<run>/report.md`` (PNGs beside it)
and ``summary.json``. Rerunning the same command resumes. Configuration:
``configs/demo.yaml`` (each stage's script config under its stage key).
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from wavecap.demo import run_demo


@hydra.main(version_base=None, config_path="../configs", config_name="demo")
def main(cfg: DictConfig) -> None:
    summary = run_demo(cfg)
    print(f"\nWaveCap demo finished in {summary['demo_seconds']:.0f} s: {summary['run_dir']}/report.md")
    print(f"  teacher vs GT      PA-MPJPE {summary['teacher_pa_mpjpe_mm']:7.1f} mm   MPJPE {summary['teacher_mpjpe_mm']:7.1f} mm")
    print(f"  student vs GT      PA-MPJPE {summary['student_pa_mpjpe_mm']:7.1f} mm   MPJPE {summary['student_mpjpe_mm']:7.1f} mm")
    print(f"  student vs teacher PA-MPJPE {summary['student_to_teacher_pa_mpjpe_mm']:7.1f} mm")
    print(f"  after physics      PA-MPJPE {summary['physics_pa_mpjpe_mm']:7.1f} mm")
    print(f"  foot skating {summary['physics_foot_skate_mm_before']:.2f} -> {summary['physics_foot_skate_mm_after']:.2f}"
          f" mm/frame (ratio {summary['physics_foot_skate_ratio']:.3f}); penetration "
          f"{summary['physics_penetration_mm_before']:.1f} -> {summary['physics_penetration_mm_after']:.1f} mm; "
          f"jitter {summary['physics_jitter_before']:.1f} -> {summary['physics_jitter_after']:.1f} (10 m/s^3)")


if __name__ == "__main__":
    main()
