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
    student.scaling_16k_over_1k_median: the median over rounds of the same
        ratio within a round (the spread check of the one above).
    student.scaling_16k_over_1k_cpu: the same ratio in process CPU time on
        one thread: waiting for a core shared with other processes is left
        out, so on a busy machine this is the load-free figure (on an idle
        one-thread run it equals the wall-clock one).
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
    student.frames_per_s: a ``pipeline_frames``-frame capture (12,000 = 10 min
        at 20 Hz) with ``points_per_frame`` points per frame, from session
        file to written SMPL output (read + pad points, default model full-
        sequence forward, FK to joints in radar and world frames, HDF5 +
        AMASS .npz written) with ``infer_session``; best of
        ``pipeline_repeats`` (goal >= 5,000). The radar stream is synthesised
        directly into a session file with the session writer (random
        person-sized clouds), not ray-cast: the simulator would take an hour
        for 10 minutes of radar, and the student's cost does not depend on
        where the points came from. The model is untrained (normaliser
        fitted): speed does not depend on the weights.
    student.synthetic_pa_mpjpe_mm: PA-MPJPE (mm, world joints, 24 SMPL
        joints, Procrustes-aligned per frame) of a student trained on the
        compact teacher's labels (never ground truth), on a held-out
        simulated capture's radar alone. The captures, teacher, training and
        inference are the demo's (``wavecap.demo.stages`` with
        ``configs/demo.yaml`` plus ``synthetic.overrides``, in
        ``outputs/<synthetic.run>``): training captures and a held-out
        capture with its own seed, subject shape and motion order.
    student.synthetic_teacher_pa_mpjpe_mm: the teacher's radar-time labels'
        PA-MPJPE on the same frames.
    student.synthetic_ratio_to_teacher: student / teacher (goal <= 1.3).
    student.synthetic_frames: held-out radar frames scored: those the teacher
        labelled valid and the ground truth covers, the same for both.
    student.synthetic_seconds.<stage>: wall time of each demo stage (simulate,
        label, train, infer) at the demo's thread count.
        These are measured only when the demo's ``teacher_checkpoint`` exists,
        and otherwise reported as a "skipped: ..." string.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from wavecap.runtime import torch_threads
from wavecap.body import build_body_model
from wavecap.datasets import SessionWriter
from wavecap.errors import DataError
from wavecap.student.encoders import RadarFrames
from wavecap.student.model import build_student
from wavecap.student.streaming import StreamingStudent

REPO = Path(__file__).resolve().parents[2]


def _frames(frames: int, cfg: Any, generator: torch.Generator) -> RadarFrames:
    """[1, T] synthetic point-cloud frames: a person-sized cloud 2.5 m down the boresight."""
    slots = int(cfg.student.encoder.max_points)
    columns = len(cfg.student.encoder.columns)
    points = torch.randn(1, frames, slots, columns, generator=generator) * 0.3
    points[..., 1] += 2.5
    points[..., 2] += 1.0
    point_mask = torch.arange(slots) < int(cfg.student_bench.points_per_frame)
    return RadarFrames(torch.ones(1, frames, dtype=torch.bool), points, point_mask.expand(1, frames, slots))


def _seconds(fn: Callable[[], object], clock: Callable[[], float] = time.perf_counter) -> float:
    start = clock()
    fn()
    return clock() - start


def _interleaved(fns: dict[str, Callable[[], object]], rounds: int,
                 clock: Callable[[], float] = time.perf_counter) -> dict[str, list[float]]:
    """Seconds of each function per round, the functions run in turn each round (after a warm-up)."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            times[name].append(_seconds(fn, clock))
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
        forwards = {"long": lambda: model(inputs[long]), "short": lambda: model(inputs[short])}
        scaling = _interleaved(forwards, rounds)
        result[f"student.offline_s_{short}"] = min(scaling["short"])
        result[f"student.offline_s_{long}"] = min(scaling["long"])
        result["student.scaling_16k_over_1k"] = _ratio(scaling, "long", "short")
        result["student.scaling_16k_over_1k_median"] = statistics.median(
            a / b for a, b in zip(scaling["long"], scaling["short"]))
        with torch_threads(1):
            result["student.scaling_16k_over_1k_cpu"] = _ratio(
                _interleaved(forwards, rounds, time.process_time), "long", "short")
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
    result.update(_pipeline(cfg))
    result.update(_synthetic(cfg))
    return result


def _synthetic_session(path: Path, frames: int, points: int, seed: int) -> None:
    """A radar-only session of random person-sized clouds (x, y, z, doppler, snr), 20 Hz."""
    rng = np.random.default_rng(seed)
    cloud = rng.normal(size=(frames * points, 5)).astype(np.float32) * [0.25, 0.15, 0.45, 0.5, 3.0]
    cloud += np.array([0.0, 2.6, 0.0, 0.0, 20.0], np.float32)
    with SessionWriter(str(path), created_by="wavecap benchmark student", compression="lzf") as writer:
        writer.write_radar(cloud, np.arange(frames) / 20.0, columns=["x", "y", "z", "doppler", "snr"],
                           offsets=np.arange(frames + 1) * points, T_world_from_radar=np.eye(4),
                           config={"model": "synthetic", "frame_rate_hz": 20.0, "doppler_sign": "positive_away"})


def _pipeline(cfg: Any) -> dict[str, float]:
    """Session file -> written SMPL output, default model (see ``student.frames_per_s``)."""
    from wavecap.student.data import read_radar
    from wavecap.student.inference import infer_session
    from wavecap.datasets import open_session
    from wavecap.student.training import atomic_save

    bench = cfg.student_bench
    frames = int(bench.pipeline_frames)
    body_model = build_body_model(cfg.body.source, cfg.body.gender, cfg.body.num_betas)
    with tempfile.TemporaryDirectory() as tmp:
        session, ckpt = Path(tmp) / "capture.h5", Path(tmp) / "student.pt"
        _synthetic_session(session, frames, int(bench.points_per_frame), int(cfg.seed))
        model = build_student(cfg.student)
        with open_session(session) as s:
            points, mask = read_radar(s, model.encoder.columns, model.encoder.max_points)
        model.encoder.fit_normalizer(torch.from_numpy(points), torch.from_numpy(mask))
        atomic_save({"model": model.state_dict(), "label_frame": "radar", "fps": 20.0,
                     "student_config": OmegaConf.to_container(cfg.student, resolve=True)}, ckpt)
        times = [_seconds(partial(infer_session, str(session), str(ckpt), body_model, out_h5=f"{tmp}/pred.h5",
                                  out_npz=f"{tmp}/pred.npz")) for _ in range(int(bench.pipeline_repeats))]
    return {"student.pipeline_s": min(times), "student.frames_per_s": frames / min(times)}


def _compose(name: str, overrides: list[str]) -> Any:
    """Compose ``configs/<name>.yaml``, inside ``scripts/benchmark.py``'s Hydra app or outside it."""
    if GlobalHydra.instance().is_initialized():
        return compose(name, overrides=overrides)
    with initialize_config_dir(str(REPO / "configs"), version_base=None):
        return compose(name, overrides=overrides)


def _synthetic(cfg: Any) -> dict[str, float | int | str]:
    """Student vs compact teacher on the demo's held-out capture (see the module docstring)."""
    from wavecap.demo import run_folder, stages
    from wavecap.student.evaluation import evaluate

    syn = cfg.student_bench.synthetic
    demo = _compose("demo", [f"run={syn.run}", f"out_root={syn.out_root}", "progress=false",
                             *map(str, syn.overrides)])
    keys = ("student.synthetic_pa_mpjpe_mm", "student.synthetic_teacher_pa_mpjpe_mm",
            "student.synthetic_ratio_to_teacher")
    try:
        stages.teacher_checkpoint(demo)
    except DataError as error:
        return {k: f"skipped: {error}" for k in keys}
    root = run_folder(demo)
    if bool(syn.fresh) and root.exists():
        shutil.rmtree(root)
    paths = stages.RunPaths.of(root, int(demo.captures.train))
    body_model = build_body_model(demo.body.source, demo.body.gender, demo.body.num_betas)
    seconds: dict[str, float] = {}
    with torch_threads(int(demo.threads)):
        for name, stage in (("simulate", partial(stages.simulate, demo, paths, body_model)),
                            ("label", partial(stages.label, demo, paths, body_model)),
                            ("train", partial(stages.train, demo, paths)),
                            ("infer", partial(stages.infer, demo, paths, body_model))):
            seconds[name] = _seconds(stage)
    label_run = str(demo.label.run)
    # Both on the frames the teacher labelled (and the ground truth covers).
    student = evaluate(str(paths.prediction), str(paths.heldout), body_model, valid_run=label_run)
    teacher = evaluate(str(paths.heldout), str(paths.heldout), body_model, pred_run=label_run)
    if student["times"] != teacher["times"]:
        raise RuntimeError("student and teacher were scored on different frames")
    student_pa, teacher_pa = student["overall"]["pa_mpjpe_mm"], teacher["overall"]["pa_mpjpe_mm"]
    return {
        **dict(zip(keys, (student_pa, teacher_pa, student_pa / teacher_pa))),
        "student.synthetic_frames": len(student["times"]),
        **{f"student.synthetic_seconds.{k}": round(v, 1) for k, v in seconds.items()},
        "student.synthetic_run": str(root),
    }


def _streaming(cfg: Any, generator: torch.Generator) -> dict[str, float]:
    """Per-frame latency on 1 thread and agreement with the causal full forward."""
    bench = cfg.student_bench
    causal = build_student(cfg.student, causal=True).eval()
    check = _frames(int(bench.stream_check_frames), cfg, generator)
    timed = _frames(int(bench.stream_frames), cfg, generator)
    with torch_threads(1):
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
    return {
        "student.streaming_ms_per_frame": 1000 * statistics.median(latencies),
        "student.streaming_p95_ms": 1000 * statistics.quantiles(latencies, n=20)[-1],
        "student.streaming_max_abs_diff": _max_difference(streamed, full),
    }
