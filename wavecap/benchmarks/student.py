"""Section ``student``: speed of the radar student, offline and streaming.

Inputs are synthetic radar point clouds (``student_bench.points_per_frame``
valid points per frame, laid out as the default point encoder expects); the
model is ``configs/student/model.yaml`` as composed into the benchmark config.
Peers run interleaved, round after round, and every figure is the best
(minimum) time over the rounds: on a shared machine other processes only ever
add time, so the minimum is the least disturbed measurement and ratios of
minima compare like with like.

Keys:
    student.params: trainable parameters of the default model.
    student.offline_s_<short>/<long>: seconds of one offline forward
        (encoder + Performer + heads, inference mode) over <short> / <long> frames.
    student.scaling_16k_over_1k: time(long) / time(short) (goal <= 20;
        16 would be exactly linear).
    student.model_frames_per_s: long / time(long), the model alone (no file I/O).
    student.performer_s_<peer>, student.exact_s_<peer>: the default temporal
        transformer (Performer) and the same-size exact-attention transformer
        (SDPA backend), on the same encoded features of <peer> frames.
    student.speedup_vs_softmax_4096: exact / performer of those transformers
        (goal >= 3).
    student.whole_model_speedup_4096: the same ratio for whole students
        (shared encoder and heads included).
    student.streaming_ms_per_frame: median latency of one frame through the
        causal model's recurrence (encoder, layers, heads), 1 thread (goal
        <= 5). Each step is timed alone: a step that another process
        preempted does not move the median.
    student.streaming_p95_ms: 95th percentile of the same latencies.
    student.streaming_max_abs_diff: max |stream - causal full forward| over
        every output on ``stream_check_frames`` frames (should be <= 1e-4).
"""

from __future__ import annotations

import statistics
import time
from functools import partial
from typing import Any, Callable

import torch
from omegaconf import OmegaConf

from wavecap.student.encoders import RadarFrames
from wavecap.student.model import build_student
from wavecap.student.streaming import StreamingStudent


def _frames(frames: int, cfg: Any, generator: torch.Generator) -> RadarFrames:
    """[1, T] synthetic point-cloud frames: a person-sized cloud 2.5 m down the boresight."""
    slots = int(cfg.student.encoder.max_points)
    columns = len(cfg.student.encoder.columns)
    points = torch.randn(1, frames, slots, columns, generator=generator) * 0.3
    points[..., 1] += 2.5
    points[..., 2] += 1.0
    point_mask = torch.arange(slots) < int(cfg.student_bench.points_per_frame)
    return RadarFrames(torch.ones(1, frames, dtype=torch.bool), points, point_mask.expand(1, frames, slots))


def _seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _interleaved(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Seconds of each function per round, the functions run in turn each round (after a warm-up)."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            times[name].append(_seconds(fn))
    return times


def _ratio(times: dict[str, list[float]], num: str, den: str) -> float:
    return min(times[num]) / min(times[den])


def _max_difference(a: Any, b: Any) -> float:
    names = ("rotmats", "betas", "transl", "contact_logits", "joint_log_scale")
    diffs = [float((getattr(a, n) - getattr(b, n)).abs().max()) for n in names]
    diffs += [float((a.keypoints[k] - b.keypoints[k]).abs().max()) for k in a.keypoints]
    return max(diffs)


def run(cfg: Any) -> dict[str, float | int | str]:
    """Measure the student section (see module docstring)."""
    bench = cfg.student_bench
    generator = torch.Generator().manual_seed(int(cfg.seed))
    rounds = int(bench.repeats)
    short, long, peer = int(bench.short_frames), int(bench.long_frames), int(bench.peer_frames)
    model = build_student(cfg.student).eval()
    exact_cfg = OmegaConf.merge(cfg.student, {"temporal": {"backend": "exact"}})
    exact = build_student(exact_cfg).eval()
    inputs = {n: _frames(n, cfg, generator) for n in (short, long, peer)}
    result: dict[str, float | int | str] = {
        "student.encoder": str(cfg.student.encoder.type),
        "student.temporal": f"{cfg.student.temporal.backend} dim={cfg.student.dim} depth={cfg.student.temporal.depth} "
                            f"heads={cfg.student.temporal.heads}x{cfg.student.temporal.dim_head} "
                            f"features={cfg.student.temporal.nb_features}",
        "student.params": sum(p.numel() for p in model.parameters()),
    }

    with torch.inference_mode():
        scaling = _interleaved({"long": lambda: model(inputs[long]), "short": lambda: model(inputs[short])}, rounds)
        result[f"student.offline_s_{short}"] = min(scaling["short"])
        result[f"student.offline_s_{long}"] = min(scaling["long"])
        result["student.scaling_16k_over_1k"] = _ratio(scaling, "long", "short")
        result["student.model_frames_per_s"] = long / min(scaling["long"])

        features = model.encode(inputs[peer])
        peers = _interleaved({"exact": lambda: exact.temporal(features),
                              "performer": lambda: model.temporal(features)}, rounds)
        result[f"student.performer_s_{peer}"] = min(peers["performer"])
        result[f"student.exact_s_{peer}"] = min(peers["exact"])
        result["student.speedup_vs_softmax_4096"] = _ratio(peers, "exact", "performer")
        whole = _interleaved({"exact": lambda: exact(inputs[peer]), "performer": lambda: model(inputs[peer])}, rounds)
        result["student.whole_model_speedup_4096"] = _ratio(whole, "exact", "performer")

    result.update(_streaming(cfg, generator))
    return result


def _streaming(cfg: Any, generator: torch.Generator) -> dict[str, float]:
    """Per-frame latency on 1 thread and agreement with the causal full forward."""
    bench = cfg.student_bench
    causal = build_student(cfg.student, causal=True).eval()
    check = _frames(int(bench.stream_check_frames), cfg, generator)
    timed = _frames(int(bench.stream_frames), cfg, generator)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        stream = StreamingStudent(causal)
        streamed = stream.run(check)
        with torch.inference_mode():
            full = causal(check)
        per_frame = [timed.slice(t, t + 1) for t in range(timed.num_frames)]
        stream.reset()
        for frame in per_frame[:20]:  # warm-up
            stream.step(frame)
        latencies = []
        for _ in range(int(bench.repeats)):
            for frame in per_frame:
                latencies.append(_seconds(partial(stream.step, frame)))
    finally:
        torch.set_num_threads(threads)
    return {
        "student.streaming_ms_per_frame": 1000 * statistics.median(latencies),
        "student.streaming_p95_ms": 1000 * statistics.quantiles(latencies, n=20)[-1],
        "student.streaming_max_abs_diff": _max_difference(streamed, full),
    }
