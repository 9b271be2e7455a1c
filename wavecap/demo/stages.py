"""The demo's stages, each a call into its package that skips work already done.

Every stage reads the composed ``configs/demo.yaml`` and writes under the run
folder ``outputs/<run>/``:

==============  ===================================  =====================================
stage           writes                               done when
==============  ===================================  =====================================
simulate        ``sessions/train_<i>.h5``,           the file exists (written atomically)
                ``sessions/heldout.h5``
label           ``/labels/<run>`` in each session    the label writer's completion marks
train           ``student/last.pt``, ``best.pt``     ``last.pt`` holds ``train.steps`` steps
infer           ``heldout_pred.h5`` / ``.npz``       the file exists
refine          ``heldout_refined.npz`` / ``.json``  the file exists
==============  ===================================  =====================================

The student sees only teacher labels (``train.targets`` must be ``labels``) and
the held-out capture's radar; ground truth is read by the evaluation alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

import wavecap
from wavecap.body import BodyModel
from wavecap.datasets.motion import Motion, load_amass_npz, save_amass_npz
from wavecap.errors import DataError

REPO = Path(wavecap.__file__).resolve().parent.parent


@dataclass(frozen=True)
class RunPaths:
    """Files of one demo run (all under ``root``)."""

    root: Path
    train_sessions: tuple[Path, ...]
    heldout: Path
    student_dir: Path
    prediction: Path
    prediction_npz: Path
    refined: Path
    refined_diagnostics: Path

    @classmethod
    def of(cls, root: Path, train_captures: int) -> RunPaths:
        sessions = root / "sessions"
        return cls(root=root, train_sessions=tuple(sessions / f"train_{i}.h5" for i in range(train_captures)),
                   heldout=sessions / "heldout.h5", student_dir=root / "student",
                   prediction=root / "heldout_pred.h5", prediction_npz=root / "heldout_pred.npz",
                   refined=root / "heldout_refined.npz", refined_diagnostics=root / "heldout_refined.json")

    @property
    def sessions(self) -> tuple[Path, ...]:
        return (*self.train_sessions, self.heldout)


def capture_overrides(cfg: DictConfig) -> list[dict[str, object]]:
    """Simulator overrides of every capture, training captures first, the held-out one last.

    Training capture i: seed ``train_seed + i``, and drawn from that seed a
    subject shape, an order of ``train_motions`` (the first
    ``motions_per_capture``) and the subject's starting heading. Why random
    orders and headings: the radar sees a body differently from every side,
    and a student learns only the headings its captures show it; trained on
    one cycle of movements rotated per capture, it also learns which movement
    comes next. The held-out capture has its own seed, motion order, shape
    and heading.
    """
    cap = cfg.captures
    motions = list(cap.train_motions)
    out: list[dict[str, object]] = []
    for i in range(int(cap.train)):
        seed = int(cap.train_seed) + i
        rng = np.random.default_rng(seed)
        betas = np.zeros(10)
        betas[:4] = rng.normal(0.0, float(cap.train_betas_std), 4)
        order = [motions[k] for k in rng.permutation(len(motions))]
        facing = float(rng.uniform(*cap.train_facing_deg))
        out.append({"seconds": float(cap.train_seconds), "seed": seed, "motions": order[:int(cap.motions_per_capture)],
                    "betas": [round(float(b), 4) for b in betas], "subject_id": f"sim-train-{i}",
                    "subject_facing_deg": round(facing, 2)})
    out.append({"seconds": float(cap.heldout_seconds), "seed": int(cap.heldout_seed),
                "motions": list(cap.heldout_motions), "betas": [float(b) for b in cap.heldout_betas],
                "subject_id": str(cap.heldout_subject), "subject_facing_deg": float(cap.heldout_facing_deg)})
    return out


def simulate(cfg: DictConfig, paths: RunPaths, body_model: BodyModel) -> list[Path]:
    """Stage 1: simulate the captures that do not exist yet; returns the ones written."""
    from wavecap.datasets.sim.capture import SimulatorConfig, SyntheticCapture, write_session

    written = []
    for path, overrides in zip(paths.sessions, capture_overrides(cfg)):
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        sim_cfg = OmegaConf.merge(cfg.simulate, overrides)
        with SyntheticCapture(SimulatorConfig.from_dict(sim_cfg), body_model) as capture:
            write_session(capture, str(path), compression=sim_cfg.compression, progress=bool(cfg.progress))
        written.append(path)
    return written


def teacher_checkpoint(cfg: DictConfig) -> Path:
    """The compact teacher's weights, or a DataError naming the command that makes them."""
    path = Path(str(cfg.teacher_checkpoint)).expanduser()
    path = path if path.is_absolute() else REPO / path
    if not path.exists():
        raise DataError(
            f"teacher checkpoint {path} is missing. Produce it with the command in checkpoints/README.md "
            "(python scripts/train_teacher.py 'sessions=outputs/teacher_data/train_*.h5' "
            "export=checkpoints/teacher_compact_synthetic.pt), or set teacher_checkpoint=PATH",
            file=str(path))
    return path


def label(cfg: DictConfig, paths: RunPaths, body_model: BodyModel) -> dict[str, dict]:
    """Stage 2: label every capture from its RGB frames with the compact teacher (resumable)."""
    from wavecap.teacher.labeling import label_sessions

    label_cfg = OmegaConf.merge(cfg.label, {"session": [str(p) for p in paths.sessions],
                                            "checkpoint": str(teacher_checkpoint(cfg)), "source": "rgb"})
    return label_sessions(label_cfg, body_model)


def _trained_steps(path: Path) -> int:
    from wavecap.student.training import load_checkpoint

    return int(load_checkpoint(path)["step"]) if path.exists() else 0


def train(cfg: DictConfig, paths: RunPaths) -> dict[str, float]:
    """Stage 3: distil the student from the training captures' teacher labels (resumes)."""
    from wavecap.student.training import train as train_student

    if str(cfg.train.targets) != "labels":
        raise DataError("the demo trains on teacher labels only: train.targets must be 'labels'",
                        field="train.targets")
    best = paths.student_dir / "best.pt"
    if _trained_steps(paths.student_dir / "last.pt") >= int(cfg.train.steps) and best.exists():
        return {"step": int(cfg.train.steps), "skipped": 1.0}
    train_cfg = OmegaConf.merge(cfg.train, {"sessions": [str(p) for p in paths.train_sessions], "val_sessions": [],
                                            "out_dir": str(paths.student_dir), "resume": True})
    return train_student(train_cfg)


def infer(cfg: DictConfig, paths: RunPaths, body_model: BodyModel) -> Path:
    """Stage 4: run the student on the held-out capture's radar alone."""
    from wavecap.student.inference import infer_session

    if not paths.prediction.exists():
        # One forward pass over the whole capture: the bar counts the capture, not frames.
        with tqdm(total=1, desc="infer student", unit="capture", disable=not cfg.progress) as bar:
            infer_session(str(paths.heldout), str(paths.student_dir / "best.pt"), body_model,
                          out_h5=str(paths.prediction), out_npz=str(paths.prediction_npz),
                          mode=str(cfg.infer.mode), window=int(cfg.infer.window), overlap=int(cfg.infer.overlap))
            bar.update()
    return paths.prediction


def student_motion(paths: RunPaths) -> tuple[Motion, np.ndarray, np.ndarray]:
    """The student's world-frame motion, its contact probabilities [T, 4] and radar times [T] (s)."""
    from wavecap.student.inference import read_predictions_h5

    pred = read_predictions_h5(paths.prediction)
    times = pred["timestamps"]
    fps = float(1.0 / np.median(np.diff(times)))
    motion = Motion(fps=fps, global_orient=pred["world/global_orient"], body_pose=pred["body_pose"],
                    betas=pred["betas"], transl=pred["world/transl"], name="student")
    return motion, pred["contact_prob"], times


def refine(cfg: DictConfig, paths: RunPaths, body_model: BodyModel) -> tuple[Motion, dict]:
    """Stage 5: physics refinement driven by the student's contact probabilities.

    Returns:
        The refined motion (world frame) and its diagnostics (``to_dict`` form).
    """
    from wavecap.physics.refine import refine_motion

    if not (paths.refined.exists() and paths.refined_diagnostics.exists()):
        motion, contact_prob, _ = student_motion(paths)
        physics = OmegaConf.to_container(cfg.refine.physics, resolve=True)
        physics["progress"] = bool(cfg.progress)
        refined, diagnostics = refine_motion(motion, contacts=contact_prob if cfg.refine.use_contacts else None,
                                             config=physics, floor_z=cfg.floor_z, body_model=body_model)
        save_amass_npz(refined, paths.refined, columns=72)
        paths.refined_diagnostics.write_text(json.dumps(diagnostics.to_dict()) + "\n")
    refined = load_amass_npz(paths.refined)
    return refined, json.loads(paths.refined_diagnostics.read_text())
