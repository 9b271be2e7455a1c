"""Section ``teacher``: analytic IK speed / exactness and R34 compute efficiency.

Keys:
    teacher.ik_frames_per_s: frames/s of the adaptive IK (rest skeleton from
        betas included), float32, ``teacher_bench.ik_batch`` frames per call.
    teacher.ik_frames_per_cpu_s: the same per CPU-second on one thread
        (robust to other load on the machine; see _ik_figures).
    teacher.ik_max_error_m: max |joint difference| in metres of
        FK -> twist extraction -> IK -> FK on random poses, in
        ``teacher.ik_error_dtype`` (float64), both IK variants.
    teacher.ik_max_rotation_error_rad: max geodesic error of the recovered
        local rotations in the same check.
    teacher.r34_gmac_per_crop: multiply-accumulates of one forward of the
        official ResNet-34 layout at 256 x 256 (conv, transposed conv and
        linear layers, counted with forward hooks).
    teacher.r34_gmac_per_s: achieved rate of the batched forward
        (BatchNorm folded, channels-last, inference mode; soft-argmax and
        decoding included in the time, not in the count).
    teacher.matmul_gmac_per_s: a large fp32 matmul's rate in the same run.
    teacher.r34_efficiency: r34_gmac_per_s / matmul_gmac_per_s.
    teacher.r34_ms_per_crop: forward wall time per crop at that batch.
    teacher.r34_efficiency_1thread_cpu: the same ratio on one thread in CPU
        time (robust to other load on a shared machine).
    teacher.compact_fps: camera frames per second of the whole labeling loop
        (scripts/label_with_teacher.py's code: decode in a DataLoader worker,
        track, crop, network, IK, write both label runs) on a synthetic
        session on disk, with the shipped compact checkpoint, ``threads`` cores.
    teacher.compact_fps_1thread: the same loop with one intra-op thread.
    teacher.r34_fps: the same loop with the official R34 layout (random
        weights: speed only) on a shorter session.
    teacher.synthetic_mpjpe_mm / teacher.synthetic_pa_mpjpe_mm: errors of the
        compact labels (camera clock) on that held-out capture, simulated
        here with its own seed, subject shape and motion order: 24 SMPL
        joints, root-relative (MPJPE, unaligned) and Procrustes-aligned
        (PA-MPJPE), millimetres, over valid frames.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from omegaconf import OmegaConf

from wavecap.runtime import torch_threads
from wavecap.body import build_body_model
from wavecap.datasets.sim.capture import SimulatorConfig, SyntheticCapture, write_session
from wavecap.geometry.rotations import axis_angle_to_matrix, geodesic_distance, random_rotation_matrix
from wavecap.teacher.ik import inverse_kinematics, twist_angles
from wavecap.teacher.evaluation import evaluate_camera_labels, label_config
from wavecap.teacher.labeling import label_sessions
from wavecap.teacher.network import build_teacher, fuse_for_inference


def _random_fk(body: nn.Module, batch: int, generator: torch.Generator, dtype: torch.dtype) -> tuple:
    """Random poses, shapes and their root-relative FK joints [B, 29, 3]."""
    rot = axis_angle_to_matrix(torch.randn(batch, 24, 3, generator=generator, dtype=dtype) * 0.6)
    rot[:, 0] = random_rotation_matrix(batch, generator=generator, dtype=dtype)
    betas = torch.randn(batch, 10, generator=generator, dtype=dtype)
    joints = body(rot[:, 0], rot[:, 1:], betas, return_vertices=False).joints29
    return rot, betas, joints - joints[:, :1]


def count_macs(model: nn.Module, *inputs: torch.Tensor) -> int:
    """Multiply-accumulates of one forward of conv / transposed-conv / linear layers."""
    total = 0

    def hook(module: nn.Module, args: tuple, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.ConvTranspose2d):
            # Every input value is scattered to out_ch x k x k outputs.
            k = module.kernel_size[0] * module.kernel_size[1]
            total += args[0].numel() * module.out_channels // module.groups * k
        elif isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            total += out.numel() * module.in_channels // module.groups * k
        else:
            total += out.numel() * module.in_features

    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    handles = [m.register_forward_hook(hook) for m in layers]
    try:
        with torch.inference_mode():
            model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return total


def _best_seconds(fn: Any, repeats: int, clock: Any = time.perf_counter) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        fn()
        best = min(best, clock() - start)
    return best


def _ik_figures(cfg: Any) -> dict[str, float | int | str]:
    bench = cfg.teacher_bench
    generator = torch.Generator().manual_seed(int(cfg.seed))
    body = build_body_model(cfg.body.source, cfg.body.gender, cfg.body.num_betas)
    batch = int(bench.ik_batch)
    with torch.inference_mode():
        rot, betas, joints = _random_fk(body, batch, generator, torch.float32)
        phi = twist_angles(rot, betas, body)
        inverse_kinematics(joints, phi, betas, body)  # warm-up
        seconds = _best_seconds(lambda: inverse_kinematics(joints, phi, betas, body), int(bench.ik_repeats))
        # Peer figure in CPU time on one thread: other processes on a shared
        # machine barely change it, while they can slow OpenMP's two-thread
        # barriers many-fold. Two idle cores do at least this well.
        with torch_threads(1):
            cpu_seconds = _best_seconds(
                lambda: inverse_kinematics(joints, phi, betas, body), int(bench.ik_repeats), time.process_time
            )

        body64 = body.double()
        rot, betas, joints = _random_fk(body64, int(bench.ik_check_frames), generator, torch.float64)
        phi = twist_angles(rot, betas, body64)
        joint_error = rotation_error = 0.0
        for variant in ("adaptive", "naive"):
            result = inverse_kinematics(joints, phi, betas, body64, variant)
            rebuilt = body64(result.rotmats[:, 0], result.rotmats[:, 1:], betas, return_vertices=False).joints29
            rebuilt = rebuilt - rebuilt[:, :1]
            joint_error = max(joint_error, float((rebuilt - joints).abs().max()))
            rotation_error = max(rotation_error, float(geodesic_distance(result.rotmats, rot).max()))
    return {
        "teacher.ik_batch": batch,
        "teacher.ik_frames_per_s": batch / seconds,
        "teacher.ik_frames_per_cpu_s": batch / cpu_seconds,
        "teacher.ik_max_error_m": joint_error,
        "teacher.ik_max_rotation_error_rad": rotation_error,
        "teacher.ik_error_dtype": "float64",
    }


def _r34_figures(cfg: Any) -> dict[str, float | int]:
    bench = cfg.teacher_bench
    torch.manual_seed(int(cfg.seed))
    net = build_teacher(bench.r34).eval()
    size = net.input_size
    macs = count_macs(net, torch.zeros(1, 3, size, size))
    batch = int(bench.r34_batch)
    fast = fuse_for_inference(net).to(memory_format=torch.channels_last)
    images = torch.randn(batch, 3, size, size).contiguous(memory_format=torch.channels_last)
    n = int(bench.matmul_size)
    a, b, c = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
    r34_s = matmul_s = float("inf")
    with torch.inference_mode():
        fast(images)  # warm-up (oneDNN primitive creation)
        torch.mm(a, b, out=c)  # into a preallocated output: no page faults in the timing
        # Interleaved, best of each: a shared machine slows both alike.
        for _ in range(int(bench.r34_repeats)):
            r34_s = min(r34_s, _best_seconds(lambda: fast(images), 1))
            matmul_s = min(matmul_s, _best_seconds(lambda: torch.mm(a, b, out=c), int(bench.matmul_repeats)))
        with torch_threads(1):
            r34_cpu = _best_seconds(lambda: fast(images), 2, time.process_time)  # the first re-plans oneDNN
            matmul_cpu = _best_seconds(lambda: torch.mm(a, b, out=c), int(bench.matmul_repeats), time.process_time)
    r34_rate = macs * batch / r34_s
    matmul_rate = n**3 / matmul_s
    return {
        "teacher.r34_batch": batch,
        "teacher.r34_gmac_per_crop": macs / 1e9,
        "teacher.r34_ms_per_crop": 1e3 * r34_s / batch,
        "teacher.r34_gmac_per_s": r34_rate / 1e9,
        "teacher.matmul_gmac_per_s": matmul_rate / 1e9,
        "teacher.r34_efficiency": r34_rate / matmul_rate,
        "teacher.r34_efficiency_1thread_cpu": (macs * batch / r34_cpu) / (n**3 / matmul_cpu),
    }


def _simulate(cfg: Any, body: nn.Module, path: Path, overrides: Any) -> int:
    """Write a synthetic capture; returns its number of camera frames."""
    values = OmegaConf.merge(cfg.simulator, overrides)
    with SyntheticCapture(SimulatorConfig.from_dict(values), body) as capture:
        write_session(capture, str(path), progress=False)
        return len(capture.camera_times)


def _label_seconds(cfg: Any, body: nn.Module, path: Path, teacher: Any, checkpoint: str | None,
                   run: str = "bench") -> float:
    """Wall time of labeling one session (both runs) with a teacher config."""
    bench = cfg.teacher_bench.labeling
    label_cfg = label_config({
        "session": str(path), "checkpoint": checkpoint, "teacher": OmegaConf.to_container(teacher, resolve=True),
        "batch_size": int(bench.batch_size), "chunk_size": int(bench.chunk_size),
        "num_workers": int(bench.num_workers), "threads": int(cfg.threads), "progress": False, "run": run,
    })
    start = time.perf_counter()
    label_sessions(label_cfg, body)
    return time.perf_counter() - start


def _labeling_figures(cfg: Any) -> dict[str, float | int | str]:
    bench = cfg.teacher_bench.labeling
    body = build_body_model(cfg.body.source, cfg.body.gender, cfg.body.num_betas)
    checkpoint = str(Path(bench.checkpoint).expanduser())
    if not Path(checkpoint).is_absolute():
        checkpoint = str(Path(__file__).resolve().parents[2] / checkpoint)
    with tempfile.TemporaryDirectory() as folder:
        heldout, short = Path(folder) / "heldout.h5", Path(folder) / "short.h5"
        frames = _simulate(cfg, body, heldout, bench.heldout)
        compact_s = _label_seconds(cfg, body, heldout, cfg.teacher_bench.compact, checkpoint)
        errors = evaluate_camera_labels(str(heldout), "bench_camera")
        with torch_threads(1):  # peer figure: other load on a shared machine stalls 2-thread OpenMP far more
            compact_1thread_s = _label_seconds(cfg, body, heldout, cfg.teacher_bench.compact, checkpoint, "bench1")
        short_frames = _simulate(cfg, body, short, {**OmegaConf.to_container(bench.heldout), "seconds": bench.r34_seconds})
        r34_s = _label_seconds(cfg, body, short, cfg.teacher_bench.r34, None)
    return {
        "teacher.compact_fps": frames / compact_s,
        "teacher.compact_fps_1thread": frames / compact_1thread_s,
        "teacher.r34_fps": short_frames / r34_s,
        "teacher.r34_fps_weights": "random (speed only)",
        "teacher.labeling_frames": frames,
        "teacher.synthetic_mpjpe_mm": errors["mpjpe_mm"],
        "teacher.synthetic_pa_mpjpe_mm": errors["pa_mpjpe_mm"],
        "teacher.synthetic_valid_fraction": errors["valid_fraction"],
        "teacher.synthetic_error_joints": "24 SMPL joints; MPJPE root-relative unaligned, PA-MPJPE Procrustes-aligned",
    }


def run(cfg: Any) -> dict[str, float | int | str]:
    """Measure the teacher section (see module docstring)."""
    return {**_ik_figures(cfg), **_r34_figures(cfg), **_labeling_figures(cfg)}
