"""Synthetic capture: clocks, camera geometry, and a 2-second session end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pybullet as pb
import pytest
import torch
from hydra import compose, initialize_config_dir

from wavecap.body import build_body_model
from wavecap.datasets import open_session, validate_session
from wavecap.datasets.sim.camera import Camera, CameraConfig, silhouette_box
from wavecap.datasets.sim.capture import RadarMount, SimulatorConfig, SyntheticCapture, write_session
from wavecap.datasets.sim.clocks import ClockConfig, sensor_timestamps
from wavecap.datasets.sim.scene import SceneConfig, build_scene
from wavecap.geometry import project_points, resample_linear

REPO = Path(__file__).resolve().parents[1]
SECONDS = 2.0


def test_clock_offset_drift_and_jitter():
    rng = np.random.default_rng(0)
    ideal = sensor_timestamps(20.0, 10.0, ClockConfig(), rng)
    np.testing.assert_allclose(ideal, np.arange(201) / 20.0)
    late = sensor_timestamps(20.0, 10.0, ClockConfig(offset_s=0.013, drift_ppm=1000.0), rng)
    assert late[0] == pytest.approx(0.013)
    assert np.diff(late).mean() == pytest.approx(0.05 / 1.001, rel=1e-9)
    noisy = sensor_timestamps(30.0, 10.0, ClockConfig(offset_s=-0.02, jitter_s=0.004), np.random.default_rng(1))
    assert noisy.min() >= 0.0 and noisy.max() <= 10.0 and np.all(np.diff(noisy) > 0)
    nominal = -0.02 + np.round((noisy + 0.02) * 30.0) / 30.0
    assert 0.002 < np.std(noisy - nominal) < 0.006


def test_camera_projection_matches_opencv_model():
    cid = pb.connect(pb.DIRECT)
    try:
        config = CameraConfig(width=200, height=150, fx=180.0, fy=170.0, cx=97.3, cy=80.1)
        camera = Camera(cid, config)
        points = np.array([[0.3, 2.0, 0.5], [-0.8, 3.0, 1.5], [0.9, 1.6, 1.2]])
        uids = [pb.createMultiBody(0, -1, pb.createVisualShape(pb.GEOM_SPHERE, radius=0.04, physicsClientId=cid),
                                   p.tolist(), physicsClientId=cid) for p in points]
        _, segmentation = camera.render()
        T = camera.T_world_from_camera
        uv, _ = project_points(torch.from_numpy((points - T[:3, 3]) @ T[:3, :3]), torch.from_numpy(camera.K))
        for uid, expected in zip(uids, uv.numpy()):
            rows, cols = np.nonzero(segmentation == uid)
            assert len(rows) > 10
            assert np.hypot(cols.mean() - expected[0], rows.mean() - expected[1]) < 0.35
    finally:
        pb.disconnect(cid)


def test_background_composite_equals_full_render():
    cid = pb.connect(pb.DIRECT)
    try:
        scene = build_scene(cid, SceneConfig())
        blocker = pb.createMultiBody(0, -1, pb.createVisualShape(pb.GEOM_BOX, halfExtents=[0.3, 0.3, 0.6],
                                                                 rgbaColor=[0.2, 0.8, 0.3, 1], physicsClientId=cid),
                                     [0.2, 2.5, 0.6], physicsClientId=cid)
        full = Camera(cid, CameraConfig()).render()
        fast = Camera(cid, CameraConfig(), static_uids=scene.uids.values()).render()
        np.testing.assert_array_equal(full[0], fast[0])
        np.testing.assert_array_equal(full[1], fast[1])
        assert (fast[1] == blocker).sum() > 500
    finally:
        pb.disconnect(cid)


def test_silhouette_box_runs_along_pixel_edges():
    segmentation = np.full((6, 8), -1, np.int32)
    segmentation[2:4, 3] = 5
    segmentation[3, 6] = 5
    segmentation[0, 0] = 7  # another body
    np.testing.assert_array_equal(silhouette_box(segmentation, 5), [2.5, 1.5, 6.5, 3.5])
    np.testing.assert_array_equal(silhouette_box(segmentation, 7), [-0.5, -0.5, 0.5, 0.5])  # one pixel
    assert np.isnan(silhouette_box(segmentation, 9)).all()  # not in view


def test_radar_mount_pose():
    T = RadarMount(position=(1.0, 2.0, 1.5), yaw_deg=90.0, pitch_deg=-10.0).T_world_from_radar()
    boresight = T[:3, :3] @ np.array([0.0, 1.0, 0.0])
    np.testing.assert_allclose(boresight, [-np.cos(np.radians(10)), 0.0, -np.sin(np.radians(10))], atol=1e-12)
    np.testing.assert_allclose(T[:3, 3], [1.0, 2.0, 1.5])


@pytest.mark.parametrize("facing_deg", [-90.0, 0.0, 135.0])
def test_subject_starts_at_the_configured_heading(facing_deg):
    from dataclasses import replace

    from wavecap.datasets.sim.capture import build_motion

    body_model = build_body_model("stand-in")
    motion = build_motion(replace(_config(0), subject_facing_deg=facing_deg), body_model)
    with torch.no_grad():
        joints = body_model(*(torch.tensor(np.array(a[:1]), dtype=torch.float32) for a in (
            motion.global_orient, motion.body_pose, np.broadcast_to(motion.betas, (1, 10)), motion.transl))).joints29[0]
    # The body's forward is its left-to-right hip axis turned a quarter left about up (z).
    right = (joints[2] - joints[1]).numpy()
    forward = np.cross([0.0, 0.0, 1.0], right)
    heading = np.degrees(np.arctan2(forward[1], forward[0]))
    assert abs((heading - facing_deg + 180.0) % 360.0 - 180.0) < 10.0


def _config(seed: int) -> SimulatorConfig:
    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base=None):
        cfg = compose(config_name="simulate_capture",
                      overrides=["out=unused.h5", f"seconds={SECONDS}", "motions=[lunge_left]", f"seed={seed}"])
    return SimulatorConfig.from_dict(cfg)


def _capture(path: Path, seed: int = 0) -> None:
    with SyntheticCapture(_config(seed), build_body_model("stand-in")) as capture:
        write_session(capture, str(path), progress=False)


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    folder = tmp_path_factory.mktemp("capture")
    first, second = folder / "a.h5", folder / "b.h5"
    _capture(first)
    _capture(second)
    return first, second


def test_session_validates_with_streams_on_their_own_clocks(sessions):
    path = sessions[0]
    assert validate_session(path, "full").ok
    config = _config(0)
    with open_session(path) as s:
        assert s.attrs["body_model"] == "stand-in"
        cam, radar, gt = s.camera.timestamps, s.radar.timestamps, s.ground_truth.timestamps
        assert len(cam) == pytest.approx(SECONDS * config.camera.fps + 1, abs=1)
        assert len(radar) == pytest.approx(SECONDS * config.radar.frame_rate_hz, abs=1)
        np.testing.assert_allclose(gt, np.arange(len(gt)) / config.motion_fps)
        for t in (cam, radar, gt):
            assert t[0] >= 0 and t[-1] <= SECONDS and np.all(np.diff(t) > 0)
        # Independent clocks: the radar starts at its offset and never shares a camera timestamp.
        assert radar[0] == pytest.approx(config.radar_clock.offset_s, abs=5 * config.radar_clock.jitter_s)
        assert np.abs(radar[:, None] - cam[None]).min() > 0
        joints = s.ground_truth.field("joints")
        assert joints.shape == (len(gt), 29, 3)
        assert s.ground_truth.field("contacts").shape == (len(gt), 4)
        np.testing.assert_allclose(s.camera.T_world_from_camera, config.camera.T_world_from_camera())
        np.testing.assert_allclose(s.radar.T_world_from_radar, config.radar_mount.T_world_from_radar())
        assert s.radar.config["doppler_sign"] == "positive_away"


def test_radar_points_inside_field_of_view_and_truth_aligned(sessions):
    config = _config(0).radar
    with open_session(sessions[0]) as s:
        counts = np.diff(s.radar.offsets)
        assert counts.mean() > 5 and counts.max() <= config.max_points
        points = np.concatenate([s.radar.frame(i) for i in range(len(s.radar))])
        truth = s.radar_truth
        kind = np.concatenate([truth.frame(i)["kind"] for i in range(len(s.radar))])
    assert len(kind) == len(points)
    r = np.linalg.norm(points[:, :3], axis=1)
    azimuth = np.degrees(np.arctan2(points[:, 0], points[:, 1]))
    elevation = np.degrees(np.arcsin(points[:, 2] / r))
    assert np.all(points[:, 1] > 0) and np.all(r <= config.max_range_m)
    # Reported angles carry estimation noise, so allow a few degrees beyond the FOV.
    assert np.all(np.abs(azimuth) <= config.azimuth_fov_deg + 5)
    assert np.all(np.abs(elevation) <= config.elevation_fov_deg + 15)
    assert np.mean(kind == 0) > 0.5  # mostly the person


def test_person_boxes_contain_the_projected_joints(sessions):
    with open_session(sessions[0]) as s:
        cam, gt = s.camera, s.ground_truth
        assert cam.boxes_source == "simulator-silhouette"
        boxes = cam.boxes()  # [Tc, 4]
        joints = resample_linear(torch.as_tensor(gt.timestamps.copy()), torch.as_tensor(gt.field("joints")).double(),
                                 torch.as_tensor(cam.timestamps.copy()))  # [Tc, 29, 3] world
        T_cw = torch.linalg.inv(torch.as_tensor(cam.T_world_from_camera))
        uv, depth = project_points(joints @ T_cw[:3, :3].T + T_cw[:3, 3], torch.as_tensor(cam.intrinsics))
        width, height = cam.width, cam.height
    uv, depth = uv.numpy(), depth.numpy()  # [Tc, 29, 2], [Tc, 29]
    in_view = (depth > 0) & (uv >= -0.5).all(-1) & (uv[..., 0] <= width - 0.5) & (uv[..., 1] <= height - 0.5)
    assert in_view.mean() > 0.9 and not np.isnan(boxes).any()  # the subject stays in view
    grow = 2.0  # px: joints are inside the body, a few sit on its silhouette's edge
    inside = ((uv[..., 0] >= boxes[:, None, 0] - grow) & (uv[..., 0] <= boxes[:, None, 2] + grow)
              & (uv[..., 1] >= boxes[:, None, 1] - grow) & (uv[..., 1] <= boxes[:, None, 3] + grow))
    assert inside[in_view].mean() >= 0.95
    # Tight: no side reaches beyond the joints' extent by more than a tenth of the person's height.
    lo, hi = uv.min(axis=1), uv.max(axis=1)  # [Tc, 2]
    slack = np.concatenate([lo - boxes[:, :2], boxes[:, 2:] - hi], axis=1)  # [Tc, 4] px
    assert slack.max() < 0.1 * (hi[:, 1] - lo[:, 1]).min()


def test_camera_frames_show_the_subject(sessions):
    with open_session(sessions[0]) as s:
        frames = [s.camera.frame(i) for i in (0, len(s.camera) // 2, len(s.camera) - 1)]
    for image in frames:
        assert image.shape == (240, 320, 3) and image.dtype == np.uint8
        assert image.std() > 10  # not blank
    assert np.abs(frames[0].astype(int) - frames[1]).max(axis=2).astype(bool).sum() > 100  # the subject moved


def test_capture_is_deterministic_for_a_seed(sessions):
    with open_session(sessions[0]) as a, open_session(sessions[1]) as b:
        for name in ("timestamps", "offsets"):
            np.testing.assert_array_equal(getattr(a.radar, name), getattr(b.radar, name))
        for i in range(len(a.radar)):
            np.testing.assert_array_equal(a.radar.frame(i), b.radar.frame(i))
            for key, value in a.radar_truth.frame(i).items():
                np.testing.assert_array_equal(value, b.radar_truth.frame(i)[key])
        np.testing.assert_array_equal(a.camera.timestamps, b.camera.timestamps)
        for i in range(len(a.camera)):
            np.testing.assert_array_equal(a.camera.frame(i), b.camera.frame(i))
        np.testing.assert_array_equal(a.camera.boxes(), b.camera.boxes())
        for name in a.ground_truth.names:
            np.testing.assert_array_equal(a.ground_truth.field(name), b.ground_truth.field(name))


def test_plot_script_writes_png(sessions, tmp_path):
    out = tmp_path / "frame.png"
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "plot_session.py"), f"session={sessions[0]}", "frame=20",
         f"out={out}", f"hydra.run.dir={tmp_path / 'hydra'}"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 20_000
