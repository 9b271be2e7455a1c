"""The demo's report: PNG figures, ``report.md`` with the numbers, ``summary.json``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from tqdm import tqdm

from wavecap.body import BodyModel
from wavecap.body.skeleton import SMPL_PARENTS
from wavecap.datasets import open_session
from wavecap.datasets.session_plot import plot_session_frame
from wavecap.physics.plots import plot_foot_trajectories

from .stages import RunPaths

COLORS = {"ground truth": "k", "teacher": "tab:blue", "student": "tab:orange", "refined": "tab:green"}
PHYSICS_ROWS = (("foot_skate_mm", "foot skating (mm/frame, GT-contact gated)"),
                ("penetration_mm", "penetration (mm, 5 mm tolerance)"), ("float_mm", "float (mm)"),
                ("jitter", "jitter (10 m/s^3)"), ("mpjpe_mm", "world MPJPE, no alignment (mm)"))


def json_ready(value: Any) -> Any:
    """``value`` with non-finite floats as None (strict JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def summary_numbers(result: dict[str, Any], stage_seconds: dict[str, float], diagnostics: dict) -> dict[str, Any]:
    """The headline figures (``summary.json``): accuracy per comparison, physics before/after, timings."""
    acc, phys = result["accuracy"], result["physics"]
    out: dict[str, Any] = {"frames_scored": int(result["keep"].sum()), "radar_fps": round(result["fps"], 3)}
    for name, key in (("teacher vs GT", "teacher"), ("student vs GT", "student"),
                      ("student vs teacher", "student_to_teacher"), ("physics vs GT", "physics")):
        out[f"{key}_mpjpe_mm"] = acc[name]["overall"]["mpjpe_mm"]
        out[f"{key}_pa_mpjpe_mm"] = acc[name]["overall"]["pa_mpjpe_mm"]
    out["teacher_camera_pa_mpjpe_mm"] = result["teacher_camera"]["pa_mpjpe_mm"]
    for key, _ in PHYSICS_ROWS:
        for stage in ("before", "after"):
            out[f"physics_{key}_{stage}"] = phys[stage][key]
    out["physics_foot_skate_ratio"] = phys["after"]["foot_skate_mm"] / phys["before"]["foot_skate_mm"]
    out["physics_jitter_ratio"] = phys["after"]["jitter"] / phys["before"]["jitter"]
    out["physics_fallback_frames"] = int(diagnostics["summary"]["fallback_frames"])
    out["physics_floor_z"] = float(diagnostics["summary"]["floor_z"])
    out["physics_floor_estimated"] = bool(diagnostics["summary"]["floor_estimated"])
    out["stage_seconds"] = {k: round(v, 2) for k, v in stage_seconds.items()}
    out["demo_seconds"] = round(sum(stage_seconds.values()), 2)
    return out


def _accuracy_over_time(result: dict[str, Any], path: Path) -> None:
    fig = Figure(figsize=(11, 3.8))
    ax = fig.subplots()
    for name, scores in result["accuracy"].items():
        ax.plot(scores["times"], scores["per_frame"]["pa_mpjpe_mm"], lw=1, label=f"{name} ({scores['overall']['pa_mpjpe_mm']:.0f})")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("PA-MPJPE (mm)")
    ax.set_title("held-out capture: per-frame PA-MPJPE over the 24 SMPL joints (Procrustes-aligned per frame)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _per_joint(result: dict[str, Any], path: Path) -> None:
    names = ("teacher vs GT", "student vs GT", "physics vs GT")
    joints = list(result["accuracy"][names[0]]["per_joint"]["pa_mpjpe_mm"])
    x = np.arange(len(joints))
    fig = Figure(figsize=(12, 4))
    ax = fig.subplots()
    for k, name in enumerate(names):
        values = result["accuracy"][name]["per_joint"]["pa_mpjpe_mm"]
        ax.bar(x + (k - 1) * 0.27, [values[j] for j in joints], 0.27, label=name)
    ax.set_xticks(x, joints, rotation=70, fontsize=7)
    ax.set_ylabel("PA-MPJPE (mm)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _physics_bars(result: dict[str, Any], path: Path) -> None:
    phys = result["physics"]
    fig = Figure(figsize=(15, 3.4))
    axes = fig.subplots(1, len(PHYSICS_ROWS))
    for ax, (key, label) in zip(axes, PHYSICS_ROWS):
        stages = ("ground truth", "before", "after")
        ax.bar(range(3), [phys[s][key] for s in stages], color=["0.4", "tab:orange", "tab:green"])
        ax.set_xticks(range(3), ["GT", "student", "physics"])
        ax.set_title(label, fontsize=9)
    fig.suptitle("physical plausibility before (student) and after the physics refinement")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _skeletons(result: dict[str, Any], frames: list[int], path: Path) -> None:
    """Front views (world x vs z) of GT, teacher, student and refined skeletons at ``frames``."""
    fig = Figure(figsize=(4 * len(frames), 4.5))
    axes = fig.subplots(1, len(frames), squeeze=False)
    for ax, f in zip(axes[0], frames):
        for name, joints in result["joints"].items():
            j = joints[f, :24]  # [24, 3] world
            for child, parent in enumerate(SMPL_PARENTS):
                if parent >= 0:
                    ax.plot(j[[parent, child], 0], j[[parent, child], 2], color=COLORS[name], lw=1.5,
                            label=name if child == 1 else None)
        ax.axhline(0.0, color="0.6", lw=0.8)
        ax.set_aspect("equal")
        ax.set_title(f"t = {result['times'][f]:.2f} s", fontsize=9)
        ax.set_xlabel("world x (m)")
        ax.set_ylabel("world z (m)")
    axes[0][0].legend(fontsize=7, loc="upper left")
    fig.suptitle("skeletons, front view: ground truth, teacher labels, student (radar only), after physics")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _fmt(value: float) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.1f}"


def _markdown(result: dict[str, Any], summary: dict[str, Any], figures: dict[str, str], config_note: str) -> str:
    acc, phys = result["accuracy"], result["physics"]
    lines = ["# WaveCap demo report", "", config_note, "",
             f"Held-out capture: {summary['frames_scored']} radar frames at {summary['radar_fps']:.1f} Hz, "
             "world frame (z-up, m), 24 SMPL joints. MPJPE: root-aligned (pelvis at the origin, no rotation); "
             "PA-MPJPE: each frame Procrustes-aligned (rotation, translation, scale) to the reference.", "",
             "## Accuracy", "", "| comparison | MPJPE (mm) | PA-MPJPE (mm) | PCK3D @150 mm (%) | frames |",
             "|---|---|---|---|---|"]
    for name, scores in acc.items():
        o = scores["overall"]
        lines.append(f"| {name} | {_fmt(o['mpjpe_mm'])} | {_fmt(o['pa_mpjpe_mm'])} | {_fmt(o['pck3d_pct'])} "
                     f"| {scores['frames']} |")
    cam = result["teacher_camera"]
    lines += ["", f"Teacher labels on the camera clock, camera frame: MPJPE {_fmt(cam['mpjpe_mm'])} mm, "
              f"PA-MPJPE {_fmt(cam['pa_mpjpe_mm'])} mm, valid fraction {cam['valid_fraction']:.3f}.", "",
              f"![accuracy over time]({figures['accuracy']})", "", f"![per joint]({figures['per_joint']})", "",
              "## Physics before / after", "",
              "Before = the student's motion, after = refined by PyBullet physics driven by the student's contact "
              f"probabilities, on the floor z = {summary['physics_floor_z']:.3f} m "
              f"({'estimated from stance' if summary['physics_floor_estimated'] else 'given'}). Penetration and "
              "float are measured against the true floor z = 0. Metrics: `wavecap.physics.metrics`.", "",
              "| metric | ground truth | student (before) | physics (after) |", "|---|---|---|---|"]
    for key, label in PHYSICS_ROWS:
        lines.append(f"| {label} | {_fmt(phys['ground truth'][key])} | {_fmt(phys['before'][key])} "
                     f"| {_fmt(phys['after'][key])} |")
    lines += ["", f"Foot-skate ratio after / before: {summary['physics_foot_skate_ratio']:.3f}; "
              f"jitter ratio: {summary['physics_jitter_ratio']:.3f}; "
              f"frames handed back unrefined: {summary['physics_fallback_frames']}.", "",
              f"![physics]({figures['physics']})", "", f"![feet]({figures['feet']})", "",
              "## Frames", "", f"![skeletons]({figures['skeletons']})", ""]
    lines += [f"![frame]({name})" for name in figures["frames"]]
    lines += ["", "## Stage times (s)", "", "Wall-clock seconds of each stage in this invocation (a stage whose "
              "outputs already existed is skipped and takes ~0 s).", "", "| stage | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in summary["stage_seconds"].items()]
    lines += [f"| **total before the report** | **{sum(summary['stage_seconds'].values()):.1f}** |", ""]
    return "\n".join(lines)


def write_report(paths: RunPaths, result: dict[str, Any], diagnostics: dict, body_model: BodyModel,
                 stage_seconds: dict[str, float], frames: int, foot_seconds: float, config_note: str,
                 progress: bool = True) -> dict[str, Any]:
    """Write every figure, ``report.md`` and ``summary.json`` into the run folder.

    Returns:
        The summary (also in ``summary.json``).
    """
    root = paths.root
    keep = np.flatnonzero(result["keep"])
    picks = [int(keep[i]) for i in np.linspace(len(keep) * 0.15, len(keep) * 0.85, frames).astype(int)]
    figures = {"accuracy": "accuracy_over_time.png", "per_joint": "per_joint.png", "physics": "physics.png",
               "feet": "feet.png", "skeletons": "skeletons.png",
               "frames": [f"frame_{k}.png" for k in range(frames)]}
    motions = result["motions"]
    jobs = [
        lambda: _accuracy_over_time(result, root / figures["accuracy"]),
        lambda: _per_joint(result, root / figures["per_joint"]),
        lambda: _physics_bars(result, root / figures["physics"]),
        lambda: _skeletons(result, picks, root / figures["skeletons"]),
        lambda: plot_foot_trajectories(body_model, motions["ground truth"], motions["student"], motions["refined"],
                                       np.asarray(diagnostics["contacts"], bool), root / figures["feet"],
                                       seconds=foot_seconds),
        lambda: _session_frames(paths, result["times"][picks], root, figures["frames"]),
    ]
    for job in tqdm(jobs, desc="report", unit="figure", disable=not progress):
        job()
    summary = summary_numbers(result, stage_seconds, diagnostics)
    (root / "summary.json").write_text(json.dumps(json_ready(summary), indent=2) + "\n")
    (root / "report.md").write_text(_markdown(result, summary, figures, config_note))
    return summary


def _session_frames(paths: RunPaths, times: np.ndarray, root: Path, names: list[str]) -> None:
    """RGB + radar points + GT skeleton at the camera frames nearest ``times`` (session_plot)."""
    with open_session(str(paths.heldout)) as session:
        camera_times = np.asarray(session.camera.timestamps)
        for t, name in zip(times, names):
            plot_session_frame(session, int(np.abs(camera_times - t).argmin()), root / name)
