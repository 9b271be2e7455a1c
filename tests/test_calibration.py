"""Calibration from motion: recovers a known radar extrinsic and clock offset; stores it atomically.

The capture is synthetic and built here from the body model: a person walks a
figure of eight (with squats) in front of a radar whose pose and clock are
known; each radar frame holds noisy points sampled on the body surface that
faces the radar, plus static clutter.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from wavecap.body import BodyModel, build_body_model
from wavecap.body.skeleton import HYBRIK_JOINT_NAMES
from wavecap.datasets import SCHEMA_VERSION, SessionWriter, open_session, validate_session
from wavecap.datasets.calibration import (
    CalibrationOptions,
    calibrate_from_motion,
    calibrate_session,
    coarse_time_offset,
    read_calibration,
    static_points,
    write_calibration,
)
from wavecap.datasets.calibration_surface import Detections, RadarCell, SurfaceMotion, predicted_detections
from wavecap.errors import DataError
from wavecap.geometry import axis_angle_to_matrix, matrix_to_axis_angle, world_from_smpl
from wavecap.skeletons import get_skeleton, skeleton_from_smpl

REPO = Path(__file__).resolve().parents[1]
RADAR_HZ = 15.0
SECONDS = 30.0
CLOCK_OFFSET_S = 0.237  # radar clock behind the ground-truth clock
KINECT_CLOCK_S = -0.41  # the Kinect's clock against the ground truth's


def true_extrinsic() -> np.ndarray:
    """T_world_from_radar: 1.1 m high, turned 25 deg, tilted 8 deg down."""
    yaw, pitch = np.radians(25.0), np.radians(-8.0)
    rz = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
    t = np.eye(4)
    t[:3, :3], t[:3, 3] = rz @ rx, [0.4, -0.3, 1.1]
    return t


def body_params(t: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """World-frame SMPL parameters of a figure-eight walk at varying speed, with squats."""
    s = t + 0.3 * np.sin(0.6 * t)
    x, y = 1.3 * np.sin(0.32 * s), 3.2 + 0.9 * np.sin(0.64 * s)
    heading = np.unwrap(np.arctan2(np.gradient(y, t), np.gradient(x, t)))
    turn = axis_angle_to_matrix(torch.tensor(np.stack([0 * t, 0 * t, heading + np.pi / 2], 1)))
    orient = matrix_to_axis_angle(turn @ world_from_smpl(torch.float64)).float()
    pose = torch.zeros(len(t), 23, 3)
    swing = torch.tensor(0.4 * np.sin(2 * np.pi * t), dtype=torch.float32)
    squat = torch.tensor(np.clip(np.sin(0.25 * t), 0, 1) ** 4, dtype=torch.float32)
    pose[:, 0, 0], pose[:, 1, 0] = swing - squat, -swing - squat
    pose[:, 3, 0] = pose[:, 4, 0] = 1.4 * squat
    pose[:, 15, 2], pose[:, 16, 2] = -1.2, 1.2  # arms down
    transl = torch.stack([torch.tensor(x), torch.tensor(y), 0.93 - 0.3 * squat.double()], 1).float()
    return orient, pose.reshape(len(t), 69), transl


def radar_frames(model: BodyModel, times: np.ndarray, extrinsic: np.ndarray,
                 rng: np.random.Generator) -> list[np.ndarray]:
    """Per frame: 60 noisy points on the body surface facing the radar + 3 static clutter points, radar frame."""
    with torch.no_grad():
        out = model(*body_params(times)[:2], torch.zeros(len(times), 10), body_params(times)[2])
    verts = out.vertices.double()
    faces = torch.as_tensor(model.faces)
    face_normals = torch.cross(verts[:, faces[:, 1]] - verts[:, faces[:, 0]],
                               verts[:, faces[:, 2]] - verts[:, faces[:, 0]], dim=-1)
    normals = torch.zeros_like(verts).index_add_(1, faces.reshape(-1), face_normals.repeat_interleave(3, dim=1))
    sensor = extrinsic[:3, 3]
    clutter = np.array([[2.5, 5.0, 0.5], [-2.0, 4.0, 1.5], [0.5, 6.0, 2.2]])
    frames = []
    for v, n in zip(verts.numpy(), normals.numpy()):
        facing = np.flatnonzero(np.einsum("vc,vc->v", n, sensor - v) < 0)  # the mesh's normals point inwards
        pts = v[rng.choice(facing, 60, replace=False)] + rng.normal(0, 0.03, (60, 3))
        pts = np.concatenate([pts, clutter + rng.normal(0, 0.02, clutter.shape)])
        frames.append((pts - sensor) @ extrinsic[:3, :3])
    return frames


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Session: radar (stored extrinsic wrong, clock late), ground truth, and a Kinect stream on its own clock."""
    rng = np.random.default_rng(0)
    model = build_body_model("stand-in")
    tau = 0.05 + np.arange(0.0, SECONDS, 1.0 / RADAR_HZ)  # true radar frame times
    frames = radar_frames(model, tau, true_extrinsic(), rng)
    t_gt = np.arange(0.0, SECONDS + 0.5, 1.0 / 30.0)
    with torch.no_grad():
        gt = model(*body_params(t_gt)[:2], torch.zeros(len(t_gt), 10), body_params(t_gt)[2],
                   return_vertices=False).joints29.double().numpy()
    kinect = skeleton_from_smpl(gt, "kinect_v2") + rng.normal(0, 0.01, (len(t_gt), 25, 3))
    kinect[::7, get_skeleton("kinect_v2").index("HandTipLeft")] = np.nan  # untracked now and then
    path = tmp_path_factory.mktemp("calibration") / "walk.h5"
    with SessionWriter(path, created_by="test_calibration") as w:
        w.write_radar(frames, tau - CLOCK_OFFSET_S + 5.0, columns=["x", "y", "z"], T_world_from_radar=np.eye(4),
                      config={"frame_rate_hz": RADAR_HZ})
        w.write_ground_truth(t_gt + 5.0, joints=gt, joint_names=HYBRIK_JOINT_NAMES, skeleton="hybrik29")
        w.write_keypoints("kinect_v2", t_gt + 5.0 + KINECT_CLOCK_S, kinect,
                          joint_names=get_skeleton("kinect_v2").joint_names, skeleton="kinect_v2", frame="world")
    return path


def errors(estimate: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Rotation error (deg) and translation error (m) of a 4x4 estimate."""
    r = estimate[:3, :3] @ truth[:3, :3].T
    angle = np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1, 1)))
    return float(angle), float(np.linalg.norm(estimate[:3, 3] - truth[:3, 3]))


@pytest.mark.parametrize(("reference", "clock"), [("/ground_truth", 0.0), ("/keypoints/kinect_v2", KINECT_CLOCK_S)])
def test_recovers_extrinsic_and_clock_offset(capture: Path, reference: str, clock: float) -> None:
    result = calibrate_session(capture, CalibrationOptions(reference=reference))
    angle, shift = errors(result.T_world_from_radar, true_extrinsic())
    assert angle < 2.0, result.summary()
    assert shift < 0.05, result.summary()
    assert abs(result.time_offset_s - (CLOCK_OFFSET_S + clock)) < 1.0 / RADAR_HZ, result.summary()
    assert result.reference == reference and result.reference_frame == "world"
    assert 0.0 < result.surface_offset_m < 0.1 and result.inlier_fraction > 0.8
    assert result.residual_rms_m < 0.15


def test_calibration_is_stored_atomically_without_touching_raw_streams(capture: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "walk.h5"
    shutil.copyfile(capture, path)
    raw = ("radar/points", "radar/timestamps", "radar/offsets", "radar/T_world_from_radar", "ground_truth/joints")
    with h5py.File(path, "r") as f:
        before = {name: f[name][()] for name in raw}
    result = calibrate_session(path)
    write_calibration(path, result)
    stored = read_calibration(path)
    np.testing.assert_array_equal(stored.T_world_from_radar, result.T_world_from_radar)
    assert stored.time_offset_s == result.time_offset_s and stored.reference == "/ground_truth"
    with h5py.File(path, "r") as f:
        for name in raw:
            np.testing.assert_array_equal(f[name][()], before[name])
    assert validate_session(path, "full").ok
    with open_session(path) as s:
        assert s.schema_version == SCHEMA_VERSION
    with pytest.raises(DataError, match="already calibrated"):
        write_calibration(path, result, overwrite=False)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    def crash(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_calibration(path, result)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["walk.h5"]  # no temp file left


def test_script_writes_the_calibration(capture: Path, tmp_path: Path) -> None:
    path = tmp_path / "walk.h5"
    shutil.copyfile(capture, path)
    run = subprocess.run([sys.executable, str(REPO / "scripts" / "calibrate.py"), f"session={path}",
                          "options.reference=/keypoints/kinect_v2", f"hydra.run.dir={tmp_path / 'hydra'}"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "T_world_from_radar" in run.stdout and "wrote /calibration" in run.stdout
    stored = read_calibration(path)
    assert stored.reference == "/keypoints/kinect_v2"
    assert errors(stored.T_world_from_radar, true_extrinsic())[0] < 2.0


@pytest.mark.slow
def test_recovers_a_perturbed_simulated_capture_within_the_issue_bounds(tmp_path: Path) -> None:
    """The ray-cast radar simulator's capture, its radar clock shifted and its stored heading and position wrong.

    Its detections are not spread over the body like its joints (one per
    range-Doppler-azimuth cell that passed the detector: swinging limbs count
    more, surfaces at rest none), which leaves the centroid stage tens of
    centimetres and degrees off; the surface stage compares each detection
    with the body surface in its own cell. All three angles, the position and
    the clock are fitted, and checked against the issue's bounds.
    """
    from hydra import compose, initialize_config_dir

    from wavecap.datasets.sim.capture import SimulatorConfig, SyntheticCapture, write_session

    overrides = ["seconds=12", "seed=7", "motions=[walk_path,lunge_left]", "motion_options.walk_path.loop_radius=-1.2",
                 "radar_mount.yaw_deg=20",
                 "radar_mount.pitch_deg=-6", "radar_mount.position=[0.3,0.0,1.1]", "camera.width=32",
                 "camera.height=24", "camera.fps=5", "out=unused"]
    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base=None):
        cfg = compose("simulate_capture", overrides=overrides)
    simulated = tmp_path / "sim.h5"
    model = build_body_model("stand-in")
    with SyntheticCapture(SimulatorConfig.from_dict(cfg), model) as sim:
        write_session(sim, str(simulated), compression="lzf", progress=False)
    offset = 0.173
    with open_session(simulated) as s:
        truth = s.radar.T_world_from_radar
        frames = [f.data for f in s.radar.frames()]
        radar_t, columns, config = s.radar.timestamps, s.radar.columns, s.radar.config
        gt_t, joints, smpl = s.ground_truth.timestamps, s.ground_truth.field("joints"), s.ground_truth.smpl()
    believed = truth.copy()  # heading 15 deg and position 0.5 m off
    turn = np.radians(15.0)
    heading = np.array([[np.cos(turn), -np.sin(turn), 0], [np.sin(turn), np.cos(turn), 0], [0, 0, 1]])
    believed[:3, :3] = heading @ truth[:3, :3]
    believed[:3, 3] += [0.4, -0.3, 0.0]
    perturbed = tmp_path / "perturbed.h5"
    with SessionWriter(perturbed, created_by="test_calibration", body_model="stand-in") as w:
        w.write_radar(frames, radar_t - offset, columns=columns, T_world_from_radar=believed, config=config)
        w.write_ground_truth(gt_t, joints=joints, joint_names=HYBRIK_JOINT_NAMES, skeleton="hybrik29", **smpl)
    period = 1.0 / float(config["frame_rate_hz"])

    centroids = calibrate_session(perturbed, CalibrationOptions(surface="never"))
    result = calibrate_session(perturbed, CalibrationOptions(surface="always"), model)
    angle, shift = errors(result.T_world_from_radar, truth)
    # When written: centroids 4.6 deg, 19 cm, +21 ms off; surface stage 0.53 deg, 2.2 cm, -2.7 ms.
    assert result.model == "surface" and centroids.model == "centroids"
    assert angle < 2.0, result.summary()
    assert shift < 0.05, (result.T_world_from_radar[:3, 3] - truth[:3, 3], result.summary())
    assert abs(result.time_offset_s - offset) < period, result.summary()
    assert shift < 0.5 * errors(centroids.T_world_from_radar, truth)[1]  # the stage is what meets the bound


def test_surface_model_predicts_detections_in_their_cells() -> None:
    """Detections made from the moving surface's own samples are predicted inside their cells, on the near side."""
    model = build_body_model("stand-in")
    times = np.arange(0.0, 2.0, 1.0 / 30.0)
    orient, pose, transl = body_params(times)
    surface = SurfaceMotion(model, times, orient.numpy(), pose.numpy(), np.zeros(10), transl.numpy())
    queries = np.array([0.52, 1.27])
    surface.prepare(queries, margin_s=0.05)
    extrinsic = true_extrinsic()  # radar -> world, the reference frame here
    cell = RadarCell(range_m=0.0375, azimuth=0.25, doppler_mps=0.115)
    rng = np.random.default_rng(4)
    rows = []
    for k, t in enumerate(queries):
        position, normal, _, velocity = surface.surface_at(float(t))
        assert np.einsum("vi,vi->v", normal, position - position.mean(0)).mean() > 0  # outward normals
        away = position - extrinsic[:3, 3]
        r = np.linalg.norm(away, axis=1)
        radial = np.einsum("vi,vi->v", velocity, away) / r
        facing = np.flatnonzero((np.einsum("vi,vi->v", normal, away) < 0) & (np.abs(radial) > cell.doppler_mps))
        for v in rng.choice(facing, 30, replace=False):
            rows.append((k, (position[v] - extrinsic[:3, 3]) @ extrinsic[:3, :3], radial[v], position[v]))
    detections = Detections(np.array([r[0] for r in rows]), np.array([r[1] for r in rows], dtype=np.float64),
                            np.array([r[2] for r in rows], dtype=np.float64))
    truth = np.array([r[3] for r in rows])
    predicted = predicted_detections([surface.surface_at(float(t)) for t in queries], detections, extrinsic, cell)
    assert np.isfinite(predicted).all()  # every detection's cell holds its own sample
    range_of = lambda p: np.linalg.norm(p - extrinsic[:3, 3], axis=1)  # noqa: E731
    assert np.abs(range_of(predicted) - range_of(truth)).max() <= cell.range_m / 2 + 1e-4
    # A cell is thin in range and Doppler but wide in azimuth and height: the prediction stays near the sample.
    horizontal = np.linalg.norm((predicted - truth)[:, :2], axis=1)
    assert np.median(horizontal) < 0.05 and np.median(np.abs(predicted - truth)[:, 2]) < 0.15  # 3.1 and 4.8 cm


def test_motion_along_a_line_is_refused() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(0, 20, 0.1)
    line = np.stack([0.2 * np.sin(t), 2 + 1.5 * np.sin(0.4 * t), 0.9 + 0 * t], 1)
    with pytest.raises(DataError, match="two dimensions"):
        calibrate_from_motion(t, line + rng.normal(0, 0.05, line.shape), t, line)


def test_coarse_offset_has_sub_frame_resolution() -> None:
    rng = np.random.default_rng(2)
    t_ref = np.arange(0, 40, 1 / 30)
    walk = np.cumsum(rng.normal(0, 0.02, (len(t_ref), 3)), axis=0)
    walk = np.stack([np.convolve(w, np.ones(15) / 15, "same") for w in walk.T], 1)
    t_radar = np.arange(0.5, 39, 0.1)
    lag = 0.137
    radar = np.stack([np.interp(t_radar + lag, t_ref, w) for w in walk.T], 1) @ np.array(
        [[0, -1, 0], [1, 0, 0], [0, 0, 1.0]]) + [1.0, 2.0, 0.5]  # rotated and shifted: speed is not
    offset, score = coarse_time_offset(t_radar, radar, t_ref, walk, 1.0, 0.1)
    assert abs(offset - lag) < 0.02 and score > 0.9


def test_static_clutter_is_found_and_the_person_is_not() -> None:
    rng = np.random.default_rng(3)
    frames = []
    for i in range(100):
        person = np.array([np.sin(i / 10), 2 + np.cos(i / 10), 0.9]) + rng.normal(0, 0.2, (20, 3))
        frames.append(np.concatenate([person, np.array([[1.99, 3.01, 0.4]]) + rng.normal(0, 0.02, (1, 3))]))
    offsets = np.concatenate([[0], np.cumsum([len(f) for f in frames])])
    static = static_points(np.concatenate(frames), offsets)
    assert static[offsets[1:] - 1].all()  # the clutter point of every frame
    assert static.sum() == len(frames)
