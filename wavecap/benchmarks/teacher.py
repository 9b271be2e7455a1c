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
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from wavecap.body import build_body_model
from wavecap.geometry.rotations import axis_angle_to_matrix, geodesic_distance, random_rotation_matrix
from wavecap.teacher.ik import inverse_kinematics, twist_angles
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


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run a block with one intra-op thread (restored afterwards)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


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
        with _one_thread():
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
        with _one_thread():
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


def run(cfg: Any) -> dict[str, float | int | str]:
    """Measure the teacher section (see module docstring)."""
    return {**_ik_figures(cfg), **_r34_figures(cfg)}
