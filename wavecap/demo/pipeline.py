"""``run_demo``: simulate -> teacher labels -> student -> radar-only inference -> physics -> report."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from wavecap.body import build_body_model

from . import stages
from .evaluation import evaluate_run
from .report import json_ready, write_report

log = logging.getLogger(__name__)


def run_folder(cfg: DictConfig) -> Path:
    """``<out_root>/<run>`` (relative roots are relative to the repository)."""
    root = Path(str(cfg.out_root)).expanduser()
    return (root if root.is_absolute() else stages.REPO / root) / str(cfg.run)


def run_demo(cfg: DictConfig, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every stage of the demo in ``outputs/<run>`` (resuming), score it and write the report.

    Args:
        cfg: the composed ``configs/demo.yaml``.
        echo: where stage headers go (``print`` for the script).

    Returns:
        The summary written to ``outputs/<run>/summary.json``: accuracy of
        every stage on the held-out capture (mm), physics before/after,
        ``stage_seconds`` and ``demo_seconds`` (wall time of this call).
    """
    start, cpu_start, load = time.perf_counter(), time.process_time(), os.getloadavg()[0]
    torch.set_num_threads(int(cfg.threads))
    torch.manual_seed(int(cfg.train.seed))
    paths = stages.RunPaths.of(run_folder(cfg), int(cfg.captures.train))
    paths.root.mkdir(parents=True, exist_ok=True)
    stages.teacher_checkpoint(cfg)  # fail before any work when the teacher is missing
    body_model = build_body_model(cfg.body.source, cfg.body.gender, cfg.body.num_betas)
    seconds: dict[str, float] = {}
    # CPU seconds beside wall seconds: on a shared machine wall time mostly measures the neighbours.
    cpu_seconds: dict[str, float] = {}
    results: dict[str, Any] = {}

    def stage(name: str, title: str, fn: Callable[[], Any]) -> Any:
        echo(f"[{len(seconds) + 1}/6] {title}")
        t0, c0 = time.perf_counter(), time.process_time()
        results[name] = fn()
        seconds[name], cpu_seconds[name] = time.perf_counter() - t0, time.process_time() - c0
        return results[name]

    stage("simulate", f"simulate {len(paths.train_sessions)} training captures + 1 held-out capture",
          lambda: stages.simulate(cfg, paths, body_model))
    stage("label", "label every capture from RGB with the compact teacher",
          lambda: stages.label(cfg, paths, body_model))
    stage("train", "train the radar student on the teacher's labels", lambda: stages.train(cfg, paths))
    stage("infer", "run the student on the held-out capture's radar alone",
          lambda: stages.infer(cfg, paths, body_model))
    refined, diagnostics = stage("refine", "refine the student's motion with physics",
                                 lambda: stages.refine(cfg, paths, body_model))
    echo("[6/6] evaluate against ground truth and write the report")
    t0 = time.perf_counter()
    label_run = str(cfg.label.run)
    result = evaluate_run(paths, body_model, label_run, f"{label_run}_camera", refined)
    seconds["evaluate"] = time.perf_counter() - t0
    note = (f"Run `{cfg.run}`: {len(paths.train_sessions)} training captures x {cfg.captures.train_seconds} s "
            f"(seeds {cfg.captures.train_seed}..), held-out {cfg.captures.heldout_seconds} s (seed "
            f"{cfg.captures.heldout_seed}, betas {list(cfg.captures.heldout_betas)[:4]}..); student "
            f"{cfg.train.steps} steps on teacher labels `{label_run}`; teacher `{cfg.teacher_checkpoint}`.")
    summary = write_report(paths, result, diagnostics, body_model, seconds, int(cfg.report.frames),
                           float(cfg.report.foot_seconds), note, bool(cfg.progress))
    summary["stage_seconds"]["report"] = round(time.perf_counter() - t0 - seconds["evaluate"], 2)
    summary["demo_seconds"] = round(time.perf_counter() - start, 2)
    summary["stage_cpu_seconds"] = {k: round(v, 2) for k, v in cpu_seconds.items()}
    summary["demo_cpu_seconds"] = round(time.process_time() - cpu_start, 2)
    summary["load_average_start"] = round(load, 2)
    summary["run_dir"] = str(paths.root)
    (paths.root / "summary.json").write_text(json.dumps(json_ready(summary), indent=2) + "\n")
    return summary
