"""Ray-cast radar model: geometry, quantisation, Doppler, clutter, ghosts, detector.

Scenes are built here in PyBullet DIRECT mode from boxes (no humanoid): a
floor, static walls, and a person-sized box (0.44 x 0.28 x 1.74 m) moved
kinematically between frames. The radar sits off the origin and yawed, so
radar and world frames differ.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import numpy as np
import pybullet as p
import pytest
from omegaconf import OmegaConf

from wavecap.datasets.sim.radar import (
    KIND_BODY,
    KIND_CLUTTER,
    KIND_GHOST,
    RadarConfig,
    RadarFrame,
    RadarSimulator,
    link_world_transforms,
)
from wavecap.datasets.sim.radar_rays import AngularBox, cast_rays, sample_ray_directions
from wavecap.errors import DataError

DT = 0.05
PERSON_HALF = (0.22, 0.14, 0.87)
YAW = np.radians(15.0)
RADAR_ORIGIN = np.array([0.5, -0.3, 1.0])
BORESIGHT = np.array([-np.sin(YAW), np.cos(YAW), 0.0])  # radar +y in the world
NOISELESS = {"range_noise_scale": 0.0, "angle_noise_scale": 0.0}


def _radar_pose() -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = [[np.cos(YAW), -np.sin(YAW), 0.0], [np.sin(YAW), np.cos(YAW), 0.0], [0.0, 0.0, 1.0]]
    T[:3, 3] = RADAR_ORIGIN
    return T


@pytest.fixture
def client() -> Iterator[int]:
    cid = p.connect(p.DIRECT)
    p.createMultiBody(0, p.createCollisionShape(p.GEOM_PLANE, physicsClientId=cid), physicsClientId=cid)
    yield cid
    p.disconnect(cid)


def _box(cid: int, half: tuple[float, float, float], position: np.ndarray, mass: float = 1.0) -> int:
    shape = p.createCollisionShape(p.GEOM_BOX, halfExtents=list(half), physicsClientId=cid)
    return p.createMultiBody(mass, shape, basePosition=list(position), physicsClientId=cid)


def _person_place(distance: float, speed: float = 0.0, turn_rate: float = 0.0) -> Callable[[int], tuple]:
    """Box centre and yaw at frame f: ``distance`` along the boresight, moving along it."""

    def place(f: int) -> tuple:
        centre = RADAR_ORIGIN + (distance + speed * DT * f) * BORESIGHT
        centre[2] = PERSON_HALF[2]
        return centre, turn_rate * DT * f

    return place


def _run(
    cid: int, body: int, place: Callable[[int], tuple], config: RadarConfig, frames: int, seed: int = 0,
    people: tuple[int, ...] | None = None,
) -> list[RadarFrame]:
    """Move ``body`` with ``place`` and capture a frame after each move."""
    sim = RadarSimulator(cid, config, _radar_pose(), seed)

    def pose(f: int) -> None:
        centre, yaw = place(f)
        p.resetBasePositionAndOrientation(body, centre, p.getQuaternionFromEuler([0, 0, yaw]), physicsClientId=cid)

    pose(-1)
    previous = link_world_transforms(cid, [body])
    out = []
    for f in range(frames):
        pose(f)
        now = link_world_transforms(cid, [body])
        out.append(sim.capture(f * DT, now, previous, DT, [body] if people is None else people))
        previous = now
    return out


def _ranges(frame: RadarFrame) -> np.ndarray:
    return np.linalg.norm(frame.points[:, :3].astype(np.float64), axis=1)


# -- configuration ------------------------------------------------------------


def test_yaml_config_matches_defaults_and_derived_resolutions() -> None:
    cfg = RadarConfig.from_dict(OmegaConf.load("configs/datasets/radar/iwr6843.yaml"))
    assert cfg == RadarConfig()
    assert cfg.bandwidth_hz == pytest.approx(4.0e9)
    assert cfg.range_resolution_m == pytest.approx(0.0375, abs=5e-4)
    assert 8.0 <= cfg.max_range_m <= 10.0
    assert 0.10 <= cfg.doppler_resolution_mps <= 0.13
    assert cfg.max_velocity_mps == pytest.approx(cfg.doppler_resolution_mps * cfg.num_loops / 2)
    assert np.degrees(cfg.azimuth_resolution_rad) == pytest.approx(14.3, abs=0.1)
    assert np.degrees(cfg.elevation_resolution_rad) == pytest.approx(57.3, abs=0.1)
    reflect = cfg.reflectivity_of_links(23)  # SMPL humanoid: base = pelvis, link j - 1 = joint j
    assert reflect[0] == 1.0 and reflect[15 + 1 - 1] == 0.6 and reflect[20 + 1 - 1] == 0.25


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"no_such_key": 1}, "no_such_key"),
        ({"dropout_rate": 1.5}, "dropout_rate"),
        ({"num_loops": 0}, "num_loops"),
        ({"num_loops": 12.5}, "num_loops"),
        ({"snr_fluctuation": 1}, "snr_fluctuation"),
        ({"elevation_fov_deg": 95.0}, "elevation_fov_deg"),
        ({"ramp_end_time_us": 10.0}, "ramp_end_time_us"),
        ({"reflector_planes": [[0.0, 0.0, 2.0, 0.0]]}, "reflector_planes"),
        ({"body_parts": {"torso": {"reflectivity": 1.0, "joints": ["tail"]}}}, "body_parts.torso"),
    ],
)
def test_bad_config_raises_data_error_naming_the_field(values: dict, field: str) -> None:
    with pytest.raises(DataError) as info:
        RadarConfig.from_dict(values)
    assert info.value.field == field


def test_bad_inputs_raise_data_error(client: int) -> None:
    scaled = _radar_pose()
    scaled[:3, :3] *= 2.0
    with pytest.raises(DataError):
        RadarSimulator(client, RadarConfig(), scaled, seed=0)
    sim = RadarSimulator(client, RadarConfig(), _radar_pose(), seed=0)
    with pytest.raises(DataError):
        sim.capture(0.0, {}, {}, 0.0, [])


def test_nothing_in_view_gives_an_empty_typed_frame() -> None:
    cid = p.connect(p.DIRECT)  # no floor: the rays hit nothing
    try:
        frame = RadarSimulator(cid, RadarConfig(), _radar_pose(), seed=0).capture(0.5, {}, {}, DT, [])
    finally:
        p.disconnect(cid)
    assert frame.t == 0.5 and len(frame) == 0
    assert frame.points.shape == (0, 5) and frame.points.dtype == np.float32
    assert frame.kind.dtype == np.int8 and frame.link.dtype == np.int16 and frame.true_position.shape == (0, 3)


# -- rays ---------------------------------------------------------------------


def test_ray_solid_angles_sum_to_the_covered_areas() -> None:
    cfg = RadarConfig()
    roi = AngularBox(-0.1, 0.15, -0.3, 0.2, 4.0)
    directions, omega, dense = sample_ray_directions(cfg, roi, np.random.default_rng(0))
    np.testing.assert_allclose(np.linalg.norm(directions, axis=1), 1.0, atol=1e-12)
    fov_az, fov_el = np.radians(cfg.azimuth_fov_deg), np.radians(cfg.elevation_fov_deg)
    assert omega[~dense].sum() == pytest.approx(2 * fov_az * 2 * np.sin(fov_el), rel=0.01)
    assert omega[dense].sum() == pytest.approx(0.25 * (np.sin(0.2) - np.sin(-0.3)), rel=0.01)
    assert 0.8 * cfg.roi_rays <= dense.sum() <= 1.2 * cfg.roi_rays
    azimuth = np.arctan2(directions[:, 0], directions[:, 1])
    assert np.all(np.abs(azimuth) <= fov_az) and np.all(np.abs(np.arcsin(directions[:, 2])) <= fov_el)


def test_cast_rays_chunks_large_batches(client: int) -> None:
    rng = np.random.default_rng(1)
    count = 20_000  # more than one rayTestBatch call can take
    directions = np.column_stack([rng.uniform(-0.3, 0.3, (count, 2)), -np.ones(count)])
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    hits = cast_rays(client, np.array([0.0, 0.0, 2.0]), directions, 0.1, 10.0, threads=0)
    assert len(hits.ray) == count
    np.testing.assert_allclose(hits.range_m, 2.0 / -directions[hits.ray, 2], atol=1e-6)  # floor at z = 0
    np.testing.assert_allclose(hits.normal, np.tile([0.0, 0.0, 1.0], (count, 1)), atol=1e-9)


def test_importance_sampling_keeps_total_power_independent_of_density(client: int) -> None:
    body = _box(client, PERSON_HALF, np.zeros(3))
    open_detector = {"cfar_threshold_db": -200.0, "snr_fluctuation": False, "dropout_rate": 0.0,
                     "max_points": 100_000, "ghost_probability": 0.0, "clutter_removal": False}
    totals = []
    for rays in (300, 3000):
        cfg = RadarConfig(**open_detector, roi_rays=rays)
        frames = _run(client, body, _person_place(3.0, speed=-0.5), cfg, frames=4)
        totals.append(np.mean([(10 ** (f.points[f.kind == KIND_BODY, 4] / 10)).sum() for f in frames]))
    assert totals[0] == pytest.approx(totals[1], rel=0.1)


# -- geometry, quantisation, Doppler ------------------------------------------


def test_detections_lie_in_the_field_of_view_and_range(client: int) -> None:
    for centre in ([0.5, 4.0, 1.0], [2.6, 3.0, 1.0], [-2.0, 3.0, 1.0]):  # static walls and furniture
        _box(client, (0.6, 0.05, 1.0), np.array(centre), mass=0.0)
    body = _box(client, PERSON_HALF, np.zeros(3))
    cfg = RadarConfig(clutter_removal=False)
    frames = _run(client, body, _person_place(3.0, speed=-1.0, turn_rate=1.0), cfg, frames=5)
    points = np.concatenate([f.points for f in frames]).astype(np.float64)
    assert len(points) > 50
    r = np.linalg.norm(points[:, :3], axis=1)
    half_bin = np.degrees(2.0 / cfg.azimuth_fft_size)  # one FFT bin near the FOV edge, in degrees
    assert np.all(points[:, 1] > 0)
    assert np.all(np.abs(np.degrees(np.arctan2(points[:, 0], points[:, 1]))) <= cfg.azimuth_fov_deg + 2 * half_bin)
    assert np.all(np.abs(np.degrees(np.arcsin(points[:, 2] / r))) <= cfg.elevation_fov_deg + 2 * half_bin)
    assert np.all((r >= cfg.min_range_m - cfg.range_resolution_m) & (r <= cfg.max_range_m + cfg.range_resolution_m))


def test_noiseless_points_sit_on_the_quantisation_grids(client: int) -> None:
    _box(client, (1.0, 0.05, 1.0), RADAR_ORIGIN + 5.0 * BORESIGHT, mass=0.0)
    body = _box(client, PERSON_HALF, np.zeros(3))
    cfg = RadarConfig(clutter_removal=False, **NOISELESS)
    frames = _run(client, body, _person_place(3.0, speed=0.8, turn_rate=-1.0), cfg, frames=4)
    points = np.concatenate([f.points for f in frames]).astype(np.float64)
    r = np.linalg.norm(points[:, :3], axis=1)

    def off_grid(values: np.ndarray, step: float) -> np.ndarray:
        return np.abs(values / step - np.rint(values / step))

    assert len(points) > 20
    assert off_grid(r, cfg.range_resolution_m).max() < 1e-3
    assert off_grid(points[:, 3], cfg.doppler_resolution_mps).max() < 1e-3
    assert off_grid(points[:, 0] / r, 2.0 / cfg.azimuth_fft_size).max() < 1e-3
    assert off_grid(points[:, 2] / r, 2.0 / cfg.elevation_fft_size).max() < 1e-3
    # Bin centres: true (noise-free, unquantised) Doppler within half a bin of the reported one.
    body_rows = np.concatenate([f.kind for f in frames]) == KIND_BODY
    truth = np.concatenate([f.true_radial_velocity for f in frames])
    assert np.all(np.abs(points[body_rows, 3] - truth[body_rows]) <= cfg.doppler_resolution_mps / 2 + 1e-4)


@pytest.mark.parametrize("speed", [-1.2, 1.2])  # towards / away from the radar (m/s)
def test_doppler_sign_is_positive_away(client: int, speed: float) -> None:
    body = _box(client, PERSON_HALF, np.zeros(3))
    cfg = RadarConfig()
    frames = _run(client, body, _person_place(3.0, speed=speed), cfg, frames=6)
    doppler = np.concatenate([f.points[f.kind == KIND_BODY, 3] for f in frames])
    truth = np.concatenate([f.true_radial_velocity[f.kind == KIND_BODY] for f in frames])
    assert len(doppler) >= 10
    assert np.mean(np.sign(doppler) == np.sign(speed)) > 0.95
    assert np.mean(np.sign(truth) == np.sign(speed)) > 0.95
    assert np.median(np.abs(truth)) == pytest.approx(abs(speed), rel=0.1)  # the box moves along the boresight


def test_surface_velocity_of_a_turning_body(client: int) -> None:
    body = _box(client, PERSON_HALF, np.zeros(3))
    rate = 1.5  # rad/s about the vertical axis through the box centre
    place = _person_place(3.0, turn_rate=rate)
    frames = _run(client, body, place, RadarConfig(**NOISELESS), frames=5)
    centre = place(0)[0]
    for frame in frames:
        rows = frame.kind == KIND_BODY
        position = frame.true_position[rows].astype(np.float64)
        velocity = np.cross([0.0, 0.0, rate], position - centre)  # rigid rotation
        sight = (position - RADAR_ORIGIN) / np.linalg.norm(position - RADAR_ORIGIN, axis=1, keepdims=True)
        expected = np.einsum("ni,ni->n", velocity, sight)
        np.testing.assert_allclose(frame.true_radial_velocity[rows], expected, atol=0.03)


def test_rays_follow_links_posed_by_joint_resets(client: int) -> None:
    box = p.createCollisionShape(p.GEOM_BOX, halfExtents=[0.2, 0.1, 0.4], physicsClientId=client)
    arm = p.createCollisionShape(p.GEOM_BOX, halfExtents=[0.3, 0.05, 0.05], physicsClientId=client)
    base = RADAR_ORIGIN + 3.0 * BORESIGHT
    body = p.createMultiBody(
        1.0, box, basePosition=list(base), linkMasses=[0.5], linkCollisionShapeIndices=[arm],
        linkVisualShapeIndices=[-1], linkPositions=[[0.2, 0.0, 0.3]], linkOrientations=[[0, 0, 0, 1]],
        linkInertialFramePositions=[[0.3, 0.0, 0.0]], linkInertialFrameOrientations=[[0, 0, 0, 1]],
        linkParentIndices=[0], linkJointTypes=[p.JOINT_REVOLUTE], linkJointAxis=[[0, 1, 0]], physicsClientId=client,
    )
    sim = RadarSimulator(client, RadarConfig(), _radar_pose(), seed=3)
    previous = link_world_transforms(client, [body])
    counts = []
    for f in range(1, 6):
        p.resetJointState(body, 0, -0.6 * f, physicsClientId=client)  # raise the arm
        now = link_world_transforms(client, [body])
        state = p.getLinkState(body, 0, computeForwardKinematics=True, physicsClientId=client)
        np.testing.assert_allclose(now[(body, 0)][:3, 3], state[4], atol=1e-9)
        assert set(now) == {(body, -1), (body, 0)}
        frame = sim.capture(f * DT, now, previous, DT, [body])
        previous = now
        arm_rows = frame.link == 0
        lo, hi = p.getAABB(body, 0, physicsClientId=client)
        inside = np.all((frame.true_position[arm_rows] >= np.subtract(lo, 0.01))
                        & (frame.true_position[arm_rows] <= np.add(hi, 0.01)), axis=1)
        assert inside.all()
        counts.append(arm_rows.sum())
        # The base does not move: clutter removal leaves only the moving arm.
        assert np.all(frame.link[frame.kind == KIND_BODY] == 0)
    assert sum(counts) > 0


# -- clutter, ghosts, detector --------------------------------------------------


def test_static_wall_is_zero_doppler_clutter_removed_by_clutter_removal(client: int) -> None:
    wall = RADAR_ORIGIN + 4.0 * BORESIGHT
    wall[2] = 1.0
    wall_body = _box(client, (1.5, 0.05, 1.0), wall, mass=0.0)
    p.resetBasePositionAndOrientation(wall_body, wall, p.getQuaternionFromEuler([0, 0, YAW]), physicsClientId=client)
    kept = {}
    for removal, leak in ((False, 0.0), (True, 0.0), (True, 0.005)):
        sim = RadarSimulator(client, RadarConfig(clutter_removal=removal, clutter_leak_rate=leak), _radar_pose(), 0)
        kept[(removal, leak)] = [sim.capture(f * DT, {}, {}, DT, []) for f in range(5)]
    without = np.concatenate([f.points for f in kept[(False, 0.0)]])
    kinds = np.concatenate([f.kind for f in kept[(False, 0.0)]])
    truth = np.concatenate([f.true_position for f in kept[(False, 0.0)]]).astype(np.float64)
    assert len(without) > 20 and np.all(kinds == KIND_CLUTTER)
    assert np.all(without[:, 3] == 0.0)
    truth_radar = (truth - RADAR_ORIGIN) @ _radar_pose()[:3, :3]  # world -> radar frame
    on_wall = np.abs(truth_radar[:, 1] - 3.95) < 0.03  # the wall face, 3.95 m along the boresight
    on_floor = np.abs(truth[:, 2]) < 0.03
    assert np.mean(on_wall | on_floor) > 0.9 and on_wall.any()
    assert sum(len(f) for f in kept[(True, 0.0)]) == 0
    assert sum(len(f) for f in kept[(True, 0.005)]) <= 0.05 * len(without)


def test_ghosts_are_flagged_and_farther_than_their_source(client: int) -> None:
    body = _box(client, PERSON_HALF, np.zeros(3))
    radar_x = np.array([np.cos(YAW), np.sin(YAW), 0.0])  # the radar's x axis in the world
    side_wall = (*radar_x.tolist(), float(radar_x @ RADAR_ORIGIN - 1.5))  # 1.5 m to the radar's left
    cfg = RadarConfig(ghost_probability=1.0, ghost_attenuation_db=0.0, max_points=1000,
                      reflector_planes=((0.0, 0.0, 1.0, 0.0), side_wall), **NOISELESS)
    frames = _run(client, body, _person_place(3.0, speed=-1.0, turn_rate=1.0), cfg, frames=5)
    ghost_ranges = np.concatenate([_ranges(f)[f.kind == KIND_GHOST] for f in frames])
    source_ranges = np.concatenate([np.linalg.norm(f.true_position[f.kind == KIND_GHOST] - RADAR_ORIGIN, axis=1)
                                    for f in frames])
    body_count = sum(int((f.kind == KIND_BODY).sum()) for f in frames)
    assert len(ghost_ranges) >= 10
    assert np.all(ghost_ranges >= source_ranges - cfg.range_resolution_m)
    assert np.mean(ghost_ranges - source_ranges) > 0.1
    none = _run(client, body, _person_place(3.0, speed=-1.0), dataclasses.replace(cfg, ghost_probability=0.0), 3)
    assert all((f.kind != KIND_GHOST).all() for f in none) and body_count > 0


def test_point_cap_keeps_the_strongest(client: int) -> None:
    body = _box(client, PERSON_HALF, np.zeros(3))
    place = _person_place(2.0, speed=-1.0, turn_rate=2.0)
    full = _run(client, body, place, RadarConfig(**NOISELESS), frames=4, seed=5)
    capped = _run(client, body, place, RadarConfig(max_points=5, **NOISELESS), frames=4, seed=5)
    for whole, few in zip(full, capped):
        assert len(whole) > 5 and len(few) == 5
        np.testing.assert_array_equal(few.points, whole.points[:5])
        assert np.all(np.diff(few.points[:, 4]) <= 0)


def test_same_seed_same_frames_other_seed_other_frames(client: int) -> None:
    body = _box(client, PERSON_HALF, np.zeros(3))
    place = _person_place(3.0, speed=-0.7, turn_rate=1.0)
    runs = [_run(client, body, place, RadarConfig(), frames=3, seed=seed) for seed in (7, 7, 8)]
    for a, b in zip(runs[0], runs[1]):
        for name in ("points", "kind", "link", "true_position", "true_radial_velocity"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert any(len(a) != len(c) or not np.array_equal(a.points, c.points) for a, c in zip(runs[0], runs[2]))


def test_person_sized_box_gives_ti_like_point_counts(client: int) -> None:
    body = _box(client, PERSON_HALF, np.zeros(3))
    cfg = RadarConfig()
    near = _run(client, body, _person_place(3.0, speed=-0.5, turn_rate=1.0), cfg, frames=10)
    counts = np.array([len(f) for f in near])
    assert 20 <= counts.mean() <= 150 and counts.max() <= cfg.max_points
    body_share = sum(int((f.kind == KIND_BODY).sum()) for f in near) / counts.sum()
    assert body_share > 0.8
    far = _run(client, body, _person_place(7.0, speed=-0.5, turn_rate=1.0), cfg, frames=10)
    assert np.mean([(f.kind == KIND_BODY).sum() for f in far]) < 0.7 * counts.mean()  # fewer at long range
