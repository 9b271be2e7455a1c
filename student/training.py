"""Distillation training loop of the radar student (``scripts/train_student.py``).

One function, :func:`train`, driven by ``configs/train_student.yaml``:

* data: :mod:`wavecap.student.data` windows from the configured sessions,
  split by session or by time blocks with a gap; the point normaliser is
  fitted on the training split only and travels in the checkpoint.
  ``targets=keypoints`` trains from a keypoint stream alone: the keypoint head
  of its skeleton is added to the model when not configured, and the SMPL,
  contact and uncertainty losses have no labels and are off.
* optimisation: AdamW, linear warm-up then cosine decay (per step), gradient
  clipping, optional bf16 autocast of the forward pass (fp16 is refused by
  the temporal model: FAVOR+ overflows it).
* batches are a pure function of ``(seed, step)``: the window indices and
  each row's augmentation generator are drawn from ``[seed, step]``. So a
  resumed run sees exactly the batches the uninterrupted run would have,
  and under DDP rank r takes rows ``[r B/W, (r+1) B/W)`` of the same global
  batch a single process would use (DDP averages the shard gradients).
* checkpoints: ``last.pt`` every ``checkpoint_every`` steps and ``best.pt``
  on a new best validation error (:func:`score_key`), each written to a temp file and
  ``os.replace``-d (a kill never leaves a torn file); they hold the model
  (normaliser buffers included), optimiser, scheduler, torch RNG state, step,
  best score and the model config, and load with ``weights_only=True``.
* logs: ``log.csv`` (and TensorBoard when ``tensorboard=true`` and it is
  installed), tqdm on rank 0.
"""

from __future__ import annotations

import copy
import csv
import logging
import math
import os
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from omegaconf import DictConfig, OmegaConf, open_dict
from tqdm import tqdm

from wavecap.body import BodyModel, build_body_model
from wavecap.skeletons import get_skeleton
from wavecap.student.data import Augmentation, WindowDataset, load_session, split_sessions, time_block_split
from wavecap.student.losses import smpl_joints, student_loss
from wavecap.student.model import RadarStudent, StudentOutput, build_student

log = logging.getLogger(__name__)


def atomic_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save`` to a temp file in the same folder, fsync, then ``os.replace``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A student checkpoint, loaded with ``weights_only=True`` on the CPU."""
    return torch.load(path, map_location="cpu", weights_only=True)


def model_from_checkpoint(checkpoint: dict[str, Any] | str | os.PathLike[str], causal: bool | None = None
                          ) -> RadarStudent:
    """Rebuild the student of a checkpoint (config + weights + normaliser), in eval mode."""
    ckpt = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint)
    model = build_student(OmegaConf.create(ckpt["student_config"]), causal=causal)
    model.load_state_dict(ckpt["model"])
    return model.eval()


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Learning-rate multiplier: linear warm-up over ``warmup`` steps, then cosine to ``min_ratio``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def batch_plan(seed: int, step: int, num_windows: int, batch_size: int
               ) -> tuple[np.ndarray, list[np.random.Generator]]:
    """Window indices of the global batch of ``step`` and one augmentation generator per row."""
    rng = np.random.default_rng([seed, step])
    indices = rng.choice(num_windows, batch_size, replace=num_windows < batch_size)
    return indices, [np.random.default_rng([seed, step, row, 1]) for row in range(batch_size)]


def build_datasets(cfg: DictConfig, body_model: BodyModel) -> tuple[WindowDataset, WindowDataset]:
    """Training and validation windows from ``cfg.sessions`` / ``cfg.val_sessions`` and ``cfg.split``."""
    enc = cfg.student.encoder
    paths = [to_path(p) for p in cfg.sessions]
    if not paths:
        raise ValueError("no training sessions: set sessions=[...]")
    kp = cfg.keypoints
    load = lambda p: load_session(p, body_model, list(enc.columns), int(enc.max_points),  # noqa: E731
                                  targets=str(cfg.targets), label_run=str(cfg.label_run),
                                  keypoint_stream=None if kp.stream is None else str(kp.stream),
                                  keypoint_max_gap_s=float(kp.max_gap_s))
    split = cfg.split
    window, stride = int(cfg.window), int(cfg.stride)
    augmentation = Augmentation(**OmegaConf.to_container(cfg.augment.options)) if cfg.augment.enabled else None
    if split.mode == "session":
        val_paths = [to_path(p) for p in cfg.val_sessions]
        train_paths = [p for p in paths if p not in val_paths]
        if not val_paths:
            train_paths, val_paths = split_sessions(paths, float(split.val_fraction), int(cfg.seed))
        if not val_paths or not train_paths or set(train_paths) & set(val_paths):
            raise ValueError("the session split needs disjoint, non-empty training and validation sessions")
        train_data, val_data = [load(p) for p in train_paths], [load(p) for p in val_paths]
        train_ranges, val_ranges = [[(0, len(d))] for d in train_data], [[(0, len(d))] for d in val_data]
    elif split.mode == "blocks":
        train_data = [load(p) for p in paths]
        val_data, train_ranges, val_ranges = train_data, [], []
        for d in train_data:
            tr, va = time_block_split(len(d), round(float(split.block_s) * d.fps), round(float(split.gap_s) * d.fps),
                                      int(split.val_every))
            train_ranges.append(tr)
            val_ranges.append(va)
        if not any(val_ranges):
            raise ValueError(f"split.mode=blocks leaves no validation frames: every session is shorter than "
                             f"split.val_every x split.block_s = {int(split.val_every) * float(split.block_s):g} s; "
                             "shorten the blocks or split by session")
    else:
        raise ValueError(f"split.mode must be 'session' or 'blocks', got {split.mode!r}")
    return (WindowDataset(train_data, train_ranges, window, stride, augmentation),
            WindowDataset(val_data, val_ranges, window, window))


def to_path(p: str) -> str:
    """Absolute path (relative paths are relative to the launch directory)."""
    return os.path.abspath(os.path.expanduser(str(p)))


def _float_output(out: StudentOutput) -> StudentOutput:
    """The outputs in float32 (bf16 autocast leaves heads in bf16; losses run in float32)."""
    for name, value in vars(out).items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            setattr(out, name, value.float())
    out.keypoints = {k: v.float() for k, v in out.keypoints.items()}
    return out


def score_key(targets: str) -> str:
    """The validation figure that picks ``best.pt``: keypoint error for keypoint targets, else joint error."""
    return "val_keypoint_error_mm" if targets == "keypoints" else "val_joint_error_mm"


@torch.no_grad()
def validate(model: RadarStudent, data: WindowDataset, body_model: BodyModel, batch_size: int,
             cfg: DictConfig) -> dict[str, float]:
    """Validation loss and position errors over every validation window (no augmentation).

    Returns:
        ``val_loss``; with SMPL targets ``val_joint_error_mm``: mean distance
        of the 29 predicted joints to the labels; with keypoint targets
        ``val_keypoint_error_mm``: mean distance of the keypoint head's
        joints to the tracked labelled joints. Label frame, no alignment, mm,
        over valid label frames.
    """
    was_training = model.training
    model.eval()
    losses, sums, counts = [], {}, {}
    for s in range(0, len(data), batch_size):
        frames, targets = data.batch(range(s, min(s + batch_size, len(data))))
        out = model(frames)
        loss, _ = student_loss(out, targets, body_model, dict(cfg.loss.weights), str(cfg.loss.likelihood))
        losses.append(float(loss))
        mask = targets.frame_mask  # [B, T]
        if targets.joints is not None:
            joints = smpl_joints(body_model, out.rotmats, out.betas, out.transl)  # [B, T, 29, 3]
            error = (joints - targets.joints).norm(dim=-1).mean(-1)[mask]  # [frames]
            sums["val_joint_error_mm"] = sums.get("val_joint_error_mm", 0.0) + float(error.sum())
            counts["val_joint_error_mm"] = counts.get("val_joint_error_mm", 0) + int(mask.sum())
        for name, target in targets.keypoints.items():
            tracked = mask[..., None] & torch.isfinite(target).all(-1)  # [B, T, J]
            error = (out.keypoints[name] - target).norm(dim=-1)[tracked]  # [tracked joints]
            sums["val_keypoint_error_mm"] = sums.get("val_keypoint_error_mm", 0.0) + float(error.sum())
            counts["val_keypoint_error_mm"] = counts.get("val_keypoint_error_mm", 0) + int(tracked.sum())
    model.train(was_training)
    return {"val_loss": float(np.mean(losses)),
            **{key: 1000.0 * total / max(counts[key], 1) for key, total in sums.items()}}


def with_keypoint_head(cfg: DictConfig, skeleton: str | None) -> DictConfig:
    """The config with a keypoint head for ``skeleton`` (added when missing; None = unchanged).

    Keypoint targets train the head of their skeleton, so the head need not be
    configured by hand; one configured with another joint count is an error.
    """
    if skeleton is None:
        return cfg
    joints = get_skeleton(skeleton).num_joints
    heads = cfg.student.get("keypoint_heads") or {}
    if skeleton in heads:
        if int(heads[skeleton]) != joints:
            raise ValueError(f"student.keypoint_heads.{skeleton}={heads[skeleton]} but {skeleton} has {joints} joints")
        return cfg
    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        if cfg.student.get("keypoint_heads") is None:
            cfg.student.keypoint_heads = {}
        cfg.student.keypoint_heads[skeleton] = joints
    log.info("added a %d-joint keypoint head for %s (keypoint targets)", joints, skeleton)
    return cfg


def _init_distributed(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """(rank, world size); joins a gloo process group when more than one process runs."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    world = int(os.environ.get("WORLD_SIZE", 1)) if world_size is None else world_size
    rank = int(os.environ.get("RANK", 0)) if rank is None else rank
    if world > 1:
        dist.init_process_group("gloo", rank=rank, world_size=world)
    return rank, world


def _checkpoint(model: RadarStudent, optimizer: torch.optim.Optimizer, scheduler: Any, step: int,
                best: float, cfg: DictConfig, train_set: WindowDataset) -> dict[str, Any]:
    norm = model.encoder.normalizer
    return {
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "step": step, "best_" + score_key(str(cfg.targets)): best, "rng_torch": torch.get_rng_state(),
        "normalizer": {"mean": norm.mean.clone(), "std": norm.std.clone()},
        "student_config": OmegaConf.to_container(cfg.student, resolve=True),
        "label_frame": train_set.sessions[0].label_frame, "targets": str(cfg.targets),
        "fps": float(train_set.sessions[0].fps),
    }


def train(cfg: DictConfig, rank: int | None = None, world_size: int | None = None) -> dict[str, float]:
    """Train (or resume training) the student; see the module docstring.

    Args:
        cfg: the composed ``configs/train_student.yaml``.
        rank, world_size: DDP process; default from torchrun's ``RANK`` /
            ``WORLD_SIZE`` (1 process when unset).

    Returns:
        Final ``step``, the last validation's score (``val_joint_error_mm``,
        or ``val_keypoint_error_mm`` for keypoint targets; see :func:`score_key`)
        and its best value (``best_`` + that name).
    """
    rank, world = _init_distributed(rank, world_size)
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    batch_size = int(cfg.batch_size)
    if batch_size % world:
        raise ValueError(f"batch_size {batch_size} must divide evenly over {world} ranks")
    if cfg.bf16 == "fp16":
        raise ValueError("fp16 is not supported (FAVOR+ overflows it); use bf16")
    out_dir = Path(to_path(cfg.out_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(int(cfg.seed))
    body_model = build_body_model(cfg.body.source, cfg.body.gender, cfg.body.num_betas)
    train_set, val_set = build_datasets(cfg, body_model)
    cfg = with_keypoint_head(cfg, train_set.keypoint_skeleton)
    key = score_key(str(cfg.targets))
    model = build_student(cfg.student)
    steps = int(cfg.steps)
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(cfg.lr), weight_decay=float(cfg.weight_decay))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, int(cfg.warmup_steps), steps, float(cfg.min_lr_ratio)))
    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"
    start, best = 0, math.inf
    if cfg.resume and last_path.exists():
        ckpt = load_checkpoint(last_path)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        torch.set_rng_state(ckpt["rng_torch"])
        start, best = int(ckpt["step"]), float(ckpt["best_" + key])
    else:
        model.encoder.fit_normalizer(*map(torch.from_numpy, train_set.training_points()))
    model.train()
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    logger = _Logger(out_dir / "log.csv", start, bool(cfg.tensorboard)) if rank == 0 else None
    shard = slice(rank * batch_size // world, (rank + 1) * batch_size // world)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if cfg.bf16 else nullcontext()
    weights, likelihood = dict(cfg.loss.weights), str(cfg.loss.likelihood)
    metrics = {key: math.nan}
    for step in tqdm(range(start, steps), initial=start, total=steps, desc="train student",
                     disable=rank != 0 or not cfg.progress):
        indices, generators = batch_plan(int(cfg.seed), step, len(train_set), batch_size)
        frames, targets = train_set.batch(indices[shard], generators[shard])
        with autocast:
            out = net(frames)
        loss, terms = student_loss(_float_output(out), targets, body_model, weights, likelihood)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), float(cfg.grad_clip))
        optimizer.step()
        scheduler.step()
        done = step + 1
        row: dict[str, float] = {"step": done, "lr": scheduler.get_last_lr()[0], "loss": float(loss.detach()),
                                 "grad_norm": float(grad_norm), **{k: float(v) for k, v in terms.items()}}
        if rank == 0 and (done % int(cfg.val_every_steps) == 0 or done == steps):
            metrics = validate(model, val_set, body_model, batch_size, cfg)
            row.update(metrics)
            if metrics[key] < best:
                best = metrics[key]
                atomic_save(_checkpoint(model, optimizer, scheduler, done, best, cfg, train_set), best_path)
        if rank == 0 and (done % int(cfg.checkpoint_every) == 0 or done == steps):
            atomic_save(_checkpoint(model, optimizer, scheduler, done, best, cfg, train_set), last_path)
        if logger is not None and (done % int(cfg.log_every) == 0 or "val_loss" in row):
            logger.write(row)
        if world > 1:
            dist.barrier()
    if logger is not None:
        logger.close()
    return {"step": steps, key: metrics[key], "best_" + key: best}


class _Logger:
    """CSV log (rows past the resumed step are dropped: they will be redone) + optional TensorBoard."""

    def __init__(self, path: Path, start: int, tensorboard: bool) -> None:
        self.path = path
        self.rows: list[dict[str, float]] = []
        if path.exists():
            with open(path, newline="") as f:
                self.rows = [r for r in csv.DictReader(f) if int(r["step"]) <= start]
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.tb = SummaryWriter(str(path.parent / "tensorboard"))
            except ImportError:
                log.warning("tensorboard is not installed; logging to CSV only")

    def write(self, row: dict[str, float]) -> None:
        self.rows.append(row)
        keys = list(dict.fromkeys(k for r in self.rows for k in r))
        tmp = self.path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(self.rows)
        os.replace(tmp, self.path)
        if self.tb is not None:
            for k, v in row.items():
                if k != "step":
                    self.tb.add_scalar(k, float(v), int(row["step"]))

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
