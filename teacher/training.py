"""Train / fine-tune the teacher on sessions with ground truth (HybrIK's losses).

Losses (weights in ``configs/train_teacher.yaml``), as HybrIK trains its
camera model:

* ``uvd``: L1 on the 29 soft-argmax joints (u, v crop units, d / 2.2 m);
* ``beta``: squared error of the shape;
* ``twist``: squared error of the raw (cos, sin) head output against the
  ground-truth twist;
* ``cam``: L1 on the camera scale (the root depth, see
  :mod:`wavecap.teacher.training_data`);
* ``sigma``: binary cross-entropy of ``decsigma`` against each joint's
  current uvd error scaled into [0, 1] (``sigma_error_scale``), so that
  ``1 - sigma`` is a calibrated-ish confidence.

Checkpoints are written atomically (temp file + ``os.replace``) and hold
the model, optimiser, scheduler, RNG state and step; resuming from one
continues exactly as an uninterrupted run. They are read back with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from wavecap.teacher.crop import normalize_crops
from wavecap.teacher.network import NUM_JOINTS, HybrIKNet, TeacherOutput
from wavecap.teacher.training_data import augment_params, color_jitter, crop_targets


@dataclass(frozen=True)
class LossWeights:
    """Weights of the training losses (see module doc)."""

    uvd: float = 1.0
    beta: float = 0.005
    twist: float = 0.01
    cam: float = 0.05
    sigma: float = 0.01
    sigma_error_scale: float = 10.0


def teacher_losses(out: TeacherOutput, uvd: torch.Tensor, phi: torch.Tensor, betas: torch.Tensor,
                   scale: torch.Tensor, w: LossWeights) -> dict[str, torch.Tensor]:
    """HybrIK's losses of one batch; ``total`` is their weighted sum.

    Args:
        out: network output. uvd: [B, 29, 3]; phi: [B, 23, 2]; betas: [B, 10];
        scale: [B] targets.
    """
    # Losses in fp32 whatever precision the forward ran in.
    err = (out.uvd.float() - uvd).abs()  # [B, 29, 3]
    losses = {
        "uvd": err.mean(),
        "beta": ((out.betas.float() - betas) ** 2).mean(),
        "twist": ((out.phi_raw.float() - phi) ** 2).mean(),
        "cam": (out.cam[:, 0].float() - scale).abs().mean(),
    }
    target_sigma = (err.detach().norm(dim=-1) * w.sigma_error_scale).clamp(0, 1)
    losses["sigma"] = F.binary_cross_entropy(out.sigma.float().clamp(1e-6, 1 - 1e-6), target_sigma)
    losses["total"] = sum(getattr(w, k) * v for k, v in losses.items())
    return losses


def make_batch(cache: Mapping[str, torch.Tensor], index: torch.Tensor, generator: torch.Generator,
               cfg: Mapping[str, Any], size: int, depth_factor: float, augment: bool = True) -> dict[str, torch.Tensor]:
    """Network inputs and targets of cache rows ``index`` (augmented when asked)."""
    aug = cfg["augment"]
    zoom, offset, angle = augment_params(len(index), generator, float(aug["scale"]), float(aug["shift"]),
                                         float(aug["rotation_deg"]), augment)
    crops, uvd, scale = crop_targets(cache["crops"][index], cache["boxes"][index], cache["joints29"][index],
                                     cache["K"][index], zoom, offset, angle, size, float(cfg["context"]),
                                     depth_factor)
    if augment:
        crops = color_jitter(crops, generator, float(aug["color"]))
    return {"images": normalize_crops(crops), "uvd": uvd, "scale": scale,
            "phi": cache["phi"][index], "betas": cache["betas"][index]}


def _rng_state(generator: torch.Generator) -> dict[str, torch.Tensor]:
    return {"torch": torch.get_rng_state(), "data": generator.get_state()}


def save_training_state(path: str | os.PathLike[str], net: HybrIKNet, optimizer: torch.optim.Optimizer,
                        scheduler: Any, generator: torch.Generator, step: int) -> None:
    """Atomically write a resumable training checkpoint."""
    state = {"model": net.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
             "rng": _rng_state(generator), "step": torch.tensor(step)}
    tmp = f"{os.fspath(path)}.tmp-{os.getpid()}"
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_training_state(path: str | os.PathLike[str], net: HybrIKNet, optimizer: torch.optim.Optimizer,
                        scheduler: Any, generator: torch.Generator) -> int:
    """Restore a checkpoint of :func:`save_training_state`; returns the step to continue from."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    net.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"]["torch"])
    generator.set_state(state["rng"]["data"])
    return int(state["step"])


def export_weights(net: HybrIKNet, path: str | os.PathLike[str], half: bool = False) -> None:
    """Write the state dict only (optionally fp16), atomically, for labeling."""
    state = {k: (v.half() if half and v.is_floating_point() else v) for k, v in net.state_dict().items()}
    tmp = f"{os.fspath(path)}.tmp-{os.getpid()}"
    torch.save(state, tmp)
    os.replace(tmp, path)


def build_optimizer(net: HybrIKNet, cfg: Mapping[str, Any], steps: int) -> tuple[torch.optim.Optimizer, Any]:
    """Adam and a cosine (or step) learning-rate schedule over ``steps``."""
    opt = torch.optim.Adam(net.parameters(), lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))
    if cfg["schedule"] == "cosine":
        sched: Any = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=float(cfg["lr"]) * 0.01)
    elif cfg["schedule"] == "step":
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, steps // 3), gamma=0.1)
    else:
        raise ValueError(f"schedule must be cosine or step, got {cfg['schedule']!r}")
    return opt, sched


def train(net: HybrIKNet, cache: Mapping[str, torch.Tensor], cfg: Mapping[str, Any],
          state_path: str | None = None, progress: bool = True, stop_after: int | None = None) -> dict[str, float]:
    """Train ``net`` on a crop cache for ``cfg.steps`` steps, resuming from ``state_path``.

    Args:
        net: network (trained in place).
        cache: from :func:`wavecap.teacher.training_data.build_crop_cache`.
        cfg: the ``train`` section of ``configs/train_teacher.yaml``.
        state_path: resumable checkpoint, written every ``cfg.save_every``
            steps and at the end; resumed from if it exists.
        progress: tqdm bar.
        stop_after: stop (after saving) at this step, as if killed (for tests).

    Returns:
        mean of each loss over the last ``cfg.log_every`` steps.
    """
    steps, batch = int(cfg["steps"]), int(cfg["batch_size"])
    weights = LossWeights(**cfg["loss"])
    generator = torch.Generator().manual_seed(int(cfg["seed"]))
    torch.manual_seed(int(cfg["seed"]))
    optimizer, scheduler = build_optimizer(net, cfg, steps)
    step = 0
    if state_path is not None and Path(state_path).exists():
        step = load_training_state(state_path, net, optimizer, scheduler, generator)
    n = cache["crops"].shape[0]
    bf16 = _precision(cfg) == "bf16"
    # bf16 convolutions are only fast on CPUs in channels-last layout; the state dict is unchanged.
    memory_format = torch.channels_last if bf16 else torch.contiguous_format
    net.to(memory_format=memory_format)
    # Whole-batch volumes: the per-image chunking that saves memory at inference slows autograd.
    chunk, net.joints_per_chunk = net.joints_per_chunk, NUM_JOINTS
    net.train()
    recent: dict[str, list[float]] = {}
    bar = tqdm(total=steps, initial=step, desc="train teacher", unit="step", disable=not progress)
    while step < steps:
        index = torch.randint(n, (batch,), generator=generator)
        data = make_batch(cache, index, generator, cfg, net.input_size, net.depth_factor)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = net(data["images"].contiguous(memory_format=memory_format))
        losses = teacher_losses(out, data["uvd"], data["phi"], data["betas"], data["scale"], weights)
        optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), float(cfg["clip_grad"]))
        optimizer.step()
        scheduler.step()
        step += 1
        for k, v in losses.items():
            recent.setdefault(k, []).append(float(v.detach()))
            del recent[k][: -int(cfg["log_every"])]
        bar.update(1)
        bar.set_postfix(uvd=f"{recent['uvd'][-1]:.4f}", total=f"{recent['total'][-1]:.4f}")
        at_stop = stop_after is not None and step >= stop_after
        if state_path is not None and (step % int(cfg["save_every"]) == 0 or step == steps or at_stop):
            save_training_state(state_path, net, optimizer, scheduler, generator, step)
        if at_stop:
            break
    bar.close()
    net.joints_per_chunk = chunk
    net.to(memory_format=torch.contiguous_format)
    net.eval()
    return {k: sum(v) / len(v) for k, v in recent.items()}


def _precision(cfg: Mapping[str, Any]) -> str:
    precision = str(cfg.get("precision", "fp32"))
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"train.precision must be fp32 or bf16, got {precision!r}")
    return precision
