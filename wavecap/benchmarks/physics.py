"""Section ``physics``: refining a corrupted motion with PD-controlled physics.

A held-out synthetic ground-truth motion (walking, lunges, squats, jumping
jacks joined into one sequence, 30 fps, > 20 s, a seed no other stage uses)
is corrupted the way pose estimators corrupt motion:

* per-frame jitter: independent Gaussian rotations on every joint (root
  included) and Gaussian noise on the root translation;
* slow root drift: a smooth random horizontal offset of the root (at most
  ``drift_amplitude``, changing over ``drift_seconds``), which makes planted
  feet skate;
* a constant floor offset: the whole motion sits ``floor_offset`` below the
  floor, so feet penetrate.

It is then refined by :func:`wavecap.physics.refine.refine_motion` with the
floor known (z = 0, as for a mounted radar) and contacts estimated from the
corrupted motion itself (no ground truth enters the refinement).

Keys (metrics as defined in :mod:`wavecap.physics.metrics`; "before" = the
corrupted input, "after" = the refined output, both against the GT):
    physics.frames_per_s: refined frames per wall-clock second, one thread.
    physics.cpu_frames_per_s: refined frames per second of this process's
        CPU time: the same work, less sensitive to other jobs sharing the
        machine (``physics.load_average`` is the 1-minute load at the start).
    physics.foot_skate_ratio: FS after / FS before (FS gated by GT contact).
    physics.penetration_mm: mean Penetrate after refinement (UHC, 5 mm
        tolerance); ``physics.penetration_raw_mm`` without the tolerance.
    physics.mpjpe_delta_mm: world-frame MPJPE to GT, after - before.
    physics.jitter_ratio: jitter after / before.
    physics.<metric>_before / _after / _gt: the raw figures.
    physics.fallback_frames: frames handed back unrefined after divergence.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

from wavecap.runtime import torch_threads
from wavecap.body import build_body_model
from wavecap.datasets.motion import Motion, generate, sequence
from wavecap.geometry import axis_angle_to_matrix, matrix_to_axis_angle
from wavecap.physics import metrics
from wavecap.physics.refine import refine_motion
from wavecap.physics.refine_config import RefineConfig


def held_out_motion(movements: list[tuple[str, float]], seed: int, fps: float) -> Motion:
    """The ground-truth sequence: each (movement, seconds) generated with ``seed`` and joined."""
    parts = [generate(name, seconds, fps=fps, seed=seed + k) for k, (name, seconds) in enumerate(movements)]
    return sequence(parts)


def corrupt(
    motion: Motion,
    seed: int,
    joint_noise_deg: float,
    root_noise_deg: float,
    transl_noise_m: float,
    drift_amplitude: float,
    drift_seconds: float,
    floor_offset: float,
) -> Motion:
    """A pose-estimator-like copy of ``motion``: jitter, slow drift, floor offset.

    Args:
        motion: ground truth (world frame).
        seed: noise seed.
        joint_noise_deg: std of the per-axis rotation noise on body joints (deg).
        root_noise_deg: std of the per-axis rotation noise on the root (deg).
        transl_noise_m: std of the per-axis root translation noise (m).
        drift_amplitude: peak horizontal root offset of the drift (m).
        drift_seconds: time scale of the drift (s): Gaussian-smoothed noise.
        floor_offset: constant downward shift of the motion (m).

    Returns:
        The corrupted motion (same frames, fps, betas; no contacts).
    """
    rng = np.random.default_rng(seed)
    frames = len(motion)
    rot = torch.from_numpy(motion.rotations())  # [T, 24, 3, 3]
    sigma = np.full((1, 24, 1), np.radians(joint_noise_deg))
    sigma[:, 0] = np.radians(root_noise_deg)
    noise = axis_angle_to_matrix(torch.from_numpy(rng.normal(size=(frames, 24, 3)) * sigma))
    aa = matrix_to_axis_angle(rot @ noise).numpy().reshape(frames, -1)
    drift = gaussian_filter1d(rng.normal(size=(frames, 2)), sigma=drift_seconds * motion.fps, axis=0)  # [T, 2]
    drift *= drift_amplitude / np.abs(drift).max()
    transl = motion.transl + rng.normal(size=(frames, 3)) * transl_noise_m
    transl[:, :2] += drift
    transl[:, 2] -= floor_offset
    return Motion(fps=motion.fps, global_orient=aa[:, :3], body_pose=aa[:, 3:], betas=motion.betas, transl=transl,
                  name=f"{motion.name} (corrupted)")


def run(cfg: Any) -> dict[str, Any]:
    """Measure the physics section (see module docstring)."""
    bench = cfg.physics_bench
    model = build_body_model("stand-in")
    movements = [(str(name), float(seconds)) for name, seconds in bench.movements]
    gt = held_out_motion(movements, int(bench.seed), float(bench.fps))
    noisy = corrupt(gt, int(bench.seed) + 1, float(bench.joint_noise_deg), float(bench.root_noise_deg),
                    float(bench.transl_noise_m), float(bench.drift_amplitude), float(bench.drift_seconds),
                    float(bench.floor_offset))

    load = os.getloadavg()[0]
    with torch_threads(1):
        start, cpu_start = time.perf_counter(), time.process_time()
        refined, diag = refine_motion(noisy, config=RefineConfig.from_mapping(cfg.physics), floor_z=0.0,
                                      body_model=model)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start

    posed = {name: metrics.posed_body(model, m.global_orient, m.body_pose, m.betas, m.transl)
             for name, m in (("gt", gt), ("before", noisy), ("after", refined))}
    gt_joints, gt_vertices = posed["gt"]
    figures = {name: metrics.motion_metrics(j, v, gt.fps, 0.0, gt_joints, gt_vertices) for name, (j, v) in posed.items()}
    out: dict[str, Any] = {
        "physics.frames": len(gt),
        "physics.seconds_of_motion": round(gt.duration, 2),
        "physics.frames_per_s": len(gt) / seconds,
        "physics.cpu_frames_per_s": len(gt) / cpu_seconds,
        "physics.load_average": round(load, 2),
        "physics.foot_skate_ratio": figures["after"]["foot_skate_mm"] / figures["before"]["foot_skate_mm"],
        "physics.penetration_mm": figures["after"]["penetration_mm"],
        "physics.penetration_raw_mm": metrics.penetration(posed["after"][1], 0.0, tolerance=0.0),
        "physics.mpjpe_delta_mm": figures["after"]["mpjpe_mm"] - figures["before"]["mpjpe_mm"],
        "physics.jitter_ratio": figures["after"]["jitter"] / figures["before"]["jitter"],
        "physics.fallback_frames": int(diag.fallback.sum()),
        "physics.mean_residual_force_n": float(diag.residual_force.mean()),
    }
    for name, values in figures.items():
        for key, value in values.items():
            out[f"physics.{key}_{name}"] = value
    if bench.get("plot"):
        from wavecap.physics.plots import plot_foot_trajectories

        plot_foot_trajectories(model, gt, noisy, refined, diag.contacts, bench.plot, seconds=bench.plot_seconds)
        out["physics.plot"] = str(bench.plot)
    return out
