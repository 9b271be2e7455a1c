"""Section ``simulator``: speed and fidelity of the synthetic capture.

A capture of ``cfg.simulator_bench.seconds`` seconds (config
``cfg.simulator``, i.e. ``configs/datasets/simulator.yaml``) is written to a
temporary session exactly as ``scripts/simulate_capture.py`` writes it, while
a hook scores every frame against the ground truth. The hook's time is
excluded from the realtime factor.

Keys:
    simulator.realtime_factor: capture seconds per wall second of the
        capture itself: scene set-up, posing, rendering, radar, ground truth
        and session writing. The subject's motion is an input (procedural or
        an AMASS file); its generation time is ``simulator.motion_generation_s``.
        The machine is shared, so ``simulator.realtime_factor_cpu`` divides by
        the process's CPU time instead (all its threads; what an otherwise idle
        machine would give at best) and ``simulator.load_average_1min`` says
        how busy the machine was.
    simulator.points_per_frame_mean / _p95: radar detections per frame.
    simulator.on_body_fraction: share of detections whose reported position
        (radar frame -> world) lies within ``surface_tolerance_m`` of the
        ground-truth body-model mesh at the frame's exact time; measured with
        ghosts and clutter on, whose configured rates are reported as
        ``simulator.ghost_probability`` / ``simulator.clutter_leak_rate``, and
        their measured shares as ``simulator.share_<kind>``.
    simulator.doppler_sign_agreement: among on-body detections whose
        ground-truth radial velocity exceeds one Doppler bin, the share whose
        reported Doppler has the same sign. The ground truth comes from the
        body-model mesh, not from the radar model: the mesh's velocity
        (central difference) at the surface sample nearest the detection's
        true scatterer, projected on the line of sight from the radar.
        ``simulator.doppler_sign_agreement_radar_truth`` scores the same
        against the radar model's own per-point truth instead (quantisation
        and aliasing only; the difference is how far the mesh velocity at the
        cell's centroid departs from the cell's mean velocity).
    simulator.rgb_joint_inside_silhouette: share of the 24 ground-truth joints
        projecting inside the image (and not behind furniture) whose pixel the
        segmentation mask assigns to the humanoid.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf
from scipy.spatial import cKDTree

from wavecap.body import BodyModel, build_body_model
from wavecap.datasets import validate_session
from wavecap.datasets.sim.capture import (
    CameraShot,
    RadarShot,
    SimulatorConfig,
    SyntheticCapture,
    build_motion,
    write_session,
)

# Barycentric points per triangle that, with the vertices, stand for the
# surface when measuring point-to-mesh distance (edges of the stand-in mesh
# are ~2 cm, so the sampling error stays below ~5 mm).
_BARY = np.array([[1 / 3, 1 / 3, 1 / 3], [2 / 3, 1 / 6, 1 / 6], [1 / 6, 2 / 3, 1 / 6], [1 / 6, 1 / 6, 2 / 3]])


class _Scorer:
    """Fidelity measurements, fed by ``write_session``'s hook (radar scored afterwards)."""

    def __init__(self, capture: SyntheticCapture, body_model: BodyModel, tolerance: float, velocity_h: float) -> None:
        self.capture, self.tolerance, self.h = capture, tolerance, velocity_h
        self.faces = body_model.faces
        self.radar_origin = capture.T_world_from_radar[:3, 3]
        self.doppler_bin = capture.config.radar.doppler_resolution_mps
        cam = capture.camera
        rot, transl = capture.sample(capture.camera_times)
        self.camera_joints = capture.forward(rot, transl).joints.double().numpy()  # [Tc, 24, 3] world
        self.T_cam_from_world = np.linalg.inv(cam.T_world_from_camera)
        self.occluders = {uid for name, uid in capture.scene.uids.items() if name.startswith("furniture")}
        self.radar_shots: list[tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.points: list[int] = []
        self.kinds: list[np.ndarray] = []
        self.on_body: list[np.ndarray] = []
        self.sign_ok: list[np.ndarray] = []
        self.sign_ok_truth: list[np.ndarray] = []
        self.joint_hits = self.joint_total = 0
        self.seconds = self.cpu_seconds = 0.0

    def __call__(self, shot: CameraShot | RadarShot) -> None:
        start, start_cpu = time.perf_counter(), time.process_time()
        if isinstance(shot, CameraShot):
            self._camera(shot)
        else:
            self._radar(shot)
        self.seconds += time.perf_counter() - start
        self.cpu_seconds += time.process_time() - start_cpu

    def _camera(self, shot: CameraShot) -> None:
        cam = self.capture.camera
        joints = self.camera_joints[shot.index]
        local = joints @ self.T_cam_from_world[:3, :3].T + self.T_cam_from_world[:3, 3]  # [24, 3]
        uvw = local @ cam.K.T
        u, v = np.rint(uvw[:, :2] / uvw[:, 2:]).astype(np.int64).T
        height, width = shot.segmentation.shape
        inside = (local[:, 2] > 0) & (u >= 0) & (u < width) & (v >= 0) & (v < height)
        ids = shot.segmentation[v[inside], u[inside]]
        visible = ~np.isin(ids, list(self.occluders))
        self.joint_hits += int((ids[visible] == self.capture.humanoid.body_uid).sum())
        self.joint_total += int(visible.sum())

    def _radar(self, shot: RadarShot) -> None:
        # Scored later in batches (see ``score_radar``): one FK call per batch.
        frame = shot.frame
        self.radar_shots.append((shot.t, frame.points, frame.kind, frame.true_position, frame.true_radial_velocity))

    def score_radar(self, batch: int = 50) -> None:
        """Distance to the GT mesh and Doppler sign of every stored radar detection."""
        T = self.capture.T_world_from_radar
        offsets = np.array([0.0, -self.h, self.h])
        for start in range(0, len(self.radar_shots), batch):
            shots = self.radar_shots[start : start + batch]
            times = (np.array([shot[0] for shot in shots])[:, None] + offsets).ravel()  # [3B]
            rot, transl = self.capture.sample(times)
            vertices = self.capture.forward(rot, transl, vertices=True).vertices.double().numpy()
            vertices = vertices.reshape(len(shots), 3, -1, 3)  # [B, 3 (t, t-h, t+h), V, 3]
            for (_, points, kind, true_position, true_radial), frame_vertices in zip(shots, vertices):
                self.kinds.append(kind)
                self.points.append(len(points))
                if len(points):
                    self._score_points(points, true_position, true_radial, frame_vertices, T)

    def _score_points(
        self, points: np.ndarray, true_position: np.ndarray, true_radial: np.ndarray, vertices: np.ndarray,
        T_world_from_radar: np.ndarray,  # noqa: N803
    ) -> None:
        """One frame's detections.

        Args:
            points: [n, 5] reported points (radar frame; doppler in column 3).
            true_position: [n, 3] world position of each detection's scatterer.
            true_radial: [n] the radar model's own noise-free radial velocity (m/s).
            vertices: [3, V, 3] GT mesh at t, t - h, t + h (world).
            T_world_from_radar: [4, 4] radar extrinsic.
        """
        world = points[:, :3].astype(np.float64) @ T_world_from_radar[:3, :3].T + T_world_from_radar[:3, 3]
        on_faces = np.einsum("kc,tfcd->tfkd", _BARY, vertices[:, self.faces]).reshape(3, -1, 3)
        samples = np.concatenate([on_faces, vertices], axis=1)  # [3, S, 3] surface samples
        tree = cKDTree(samples[0])
        distance, _ = tree.query(world)
        on_body = distance <= self.tolerance
        self.on_body.append(on_body)
        # GT radial velocity: the mesh's own motion at the scatterer, independent of the radar model.
        _, nearest = tree.query(true_position.astype(np.float64))
        velocity = (samples[2, nearest] - samples[1, nearest]) / (2 * self.h)  # [n, 3] world
        line_of_sight = samples[0, nearest] - self.radar_origin
        line_of_sight /= np.linalg.norm(line_of_sight, axis=1, keepdims=True)
        radial = np.einsum("ni,ni->n", velocity, line_of_sight)  # positive away
        scored = on_body & (np.abs(radial) > self.doppler_bin)
        self.sign_ok.append(np.sign(points[scored, 3]) == np.sign(radial[scored]))
        scored = on_body & (np.abs(true_radial) > self.doppler_bin)
        self.sign_ok_truth.append(np.sign(points[scored, 3]) == np.sign(true_radial[scored]))


def run(cfg: Any) -> dict[str, float | int | str]:
    """Measure the simulator section (see module docstring)."""
    bench = cfg.simulator_bench
    sim_values = OmegaConf.to_container(cfg.simulator, resolve=True)
    sim_values.update(seconds=float(bench.seconds), seed=int(cfg.seed))
    if bench.get("motions"):
        sim_values["motions"] = list(bench.motions)
    config = SimulatorConfig.from_dict(sim_values)
    body_model = build_body_model(cfg.simulator.body.source, cfg.simulator.body.gender, cfg.simulator.body.num_betas)

    start = time.perf_counter()
    motion = build_motion(config, body_model)
    motion_seconds = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "bench.h5")
        load = os.getloadavg()[0]
        start, start_cpu = time.perf_counter(), time.process_time()
        with SyntheticCapture(config, body_model, motion) as capture:
            scorer = _Scorer(capture, body_model, float(bench.surface_tolerance_m), float(bench.velocity_step_s))
            write_session(capture, path, compression=bench.compression, progress=False, on_shot=scorer)
        wall = time.perf_counter() - start - scorer.seconds
        cpu = time.process_time() - start_cpu - scorer.cpu_seconds
        scorer.score_radar()
        valid = validate_session(path, "full").ok
        size_mb = Path(path).stat().st_size / 2**20

    points = np.asarray(scorer.points)
    kinds = np.concatenate(scorer.kinds)
    on_body = np.concatenate(scorer.on_body)
    sign_ok = np.concatenate(scorer.sign_ok)
    sign_ok_truth = np.concatenate(scorer.sign_ok_truth)
    radar = config.radar
    return {
        "simulator.seconds": config.seconds,
        "simulator.motions": ",".join(config.motions),
        "simulator.camera": f"{config.camera.width}x{config.camera.height} @ {config.camera.fps:g} fps",
        "simulator.radar": f"{radar.model} @ {radar.frame_rate_hz:g} Hz",
        "simulator.camera_frames": len(capture.camera_times),
        "simulator.radar_frames": len(points),
        "simulator.realtime_factor": config.seconds / wall,
        "simulator.realtime_factor_cpu": config.seconds / cpu,
        "simulator.load_average_1min": round(load, 2),
        "simulator.motion_generation_s": round(motion_seconds, 2),
        "simulator.session_valid": int(valid),
        "simulator.session_mb": round(size_mb, 2),
        "simulator.points_per_frame_mean": float(points.mean()),
        "simulator.points_per_frame_p95": float(np.percentile(points, 95)),
        "simulator.on_body_fraction": float(on_body.mean()) if on_body.size else float("nan"),
        "simulator.surface_tolerance_m": float(bench.surface_tolerance_m),
        "simulator.ghost_probability": float(radar.ghost_probability),
        "simulator.clutter_leak_rate": float(radar.clutter_leak_rate if radar.clutter_removal else 1.0),
        "simulator.share_body": float(np.mean(kinds == 0)),
        "simulator.share_clutter": float(np.mean(kinds == 1)),
        "simulator.share_ghost": float(np.mean(kinds == 2)),
        "simulator.doppler_sign_agreement": float(sign_ok.mean()) if sign_ok.size else float("nan"),
        "simulator.doppler_scored_points": int(sign_ok.size),
        "simulator.doppler_sign_agreement_radar_truth": float(sign_ok_truth.mean()) if sign_ok_truth.size else float("nan"),
        "simulator.rgb_joint_inside_silhouette": scorer.joint_hits / max(scorer.joint_total, 1),
        "simulator.rgb_joints_scored": scorer.joint_total,
    }
