"""Shared helpers of the student tests: tiny simulated sessions and a tiny training config."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir

from wavecap.body import build_body_model
from wavecap.datasets.sim.capture import SimulatorConfig, SyntheticCapture, write_session

REPO = Path(__file__).resolve().parents[1]
# A model small enough that a training step takes milliseconds on one core.
TINY_MODEL = [
    "student.dim=32", "student.temporal.depth=1", "student.temporal.heads=2", "student.temporal.dim_head=16",
    "student.temporal.nb_features=16", "student.temporal.rotary_max_period=16", "student.encoder.max_points=32",
    "student.encoder.hidden=[16,32]", "student.encoder.out_dim=32",
]


def simulate(path: Path, seed: int, seconds: float = 3.0, yaw_deg: float = 10.0, pitch_deg: float = -5.0) -> Path:
    """A few-second synthetic capture (cheap radar and camera) with a tilted, turned radar."""
    with initialize_config_dir(str(REPO / "configs"), version_base=None):
        cfg = compose("simulate_capture", overrides=[
            f"out={path}", f"seconds={seconds}", f"seed={seed}", "radar.roi_rays=300", "camera.width=32",
            "camera.height=24", "camera.fps=5", f"radar_mount.yaw_deg={yaw_deg}",
            f"radar_mount.pitch_deg={pitch_deg}", "motions=[walk_in_place,squat]",
        ])
    with SyntheticCapture(SimulatorConfig.from_dict(cfg), build_body_model("stand-in")) as capture:
        write_session(capture, str(path), progress=False)
    return path


def train_overrides(train: list[Path], val: list[Path], out_dir: Path, steps: int, **extra: object) -> list[str]:
    """Overrides of ``configs/train_student.yaml`` for a tiny ground-truth training run."""
    options = {
        "sessions": "[" + ",".join(map(str, train + val)) + "]", "val_sessions": "[" + ",".join(map(str, val)) + "]",
        "targets": "ground_truth", "out_dir": str(out_dir), "steps": steps, "window": 16, "stride": 4,
        "batch_size": 4, "lr": 3e-3, "warmup_steps": 2, "val_every_steps": steps, "checkpoint_every": 4,
        "progress": False, "threads": 1, **extra,
    }
    return [f"{k}={v}" for k, v in options.items()] + TINY_MODEL


def compose_train(overrides: list[str]):
    """The composed training config."""
    with initialize_config_dir(str(REPO / "configs"), version_base=None):
        return compose("train_student", overrides=overrides)
