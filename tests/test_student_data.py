"""Student data: GT-as-labels frame conversion, keypoint-stream targets, windows, leak-free splits,
consistent rotation augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from student_fixtures import simulate
from wavecap.body import build_body_model
from wavecap.datasets import SessionWriter, open_session
from wavecap.datasets.calibration import MotionCalibration, write_calibration
from wavecap.student.data import (
    Augmentation,
    WindowDataset,
    load_session,
    mirror_smpl,
    vertical_mirror,
    split_sessions,
    time_block_split,
    window_ranges,
)
from wavecap.student.keypoints import interpolate_samples
from wavecap.student.labels import ground_truth_as_labels, smpl_joints29, transform_labels
from wavecap.skeletons import get_skeleton

COLUMNS = ["x", "y", "z", "doppler", "snr"]


@pytest.fixture(scope="module")
def body_model():
    return build_body_model("stand-in")


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return simulate(tmp_path_factory.mktemp("student_data") / "s.h5", seed=0, seconds=2.5)


def test_ground_truth_labels_in_radar_frame_match_transformed_gt_joints(session, body_model):
    with open_session(session) as s:
        gt_times, gt_joints = s.ground_truth.timestamps, s.ground_truth.field("joints")
        T_radar_from_world = np.linalg.inv(s.radar.T_world_from_radar)
        assert not np.allclose(T_radar_from_world[:3, :3], np.eye(3))  # a turned, tilted radar
        labels = ground_truth_as_labels(s, body_model, frame="radar", times=gt_times)
        on_radar_times = ground_truth_as_labels(s, body_model)
    expected = gt_joints @ T_radar_from_world[:3, :3].T + T_radar_from_world[:3, 3]
    joints = smpl_joints29(body_model, labels.global_orient, labels.body_pose, labels.betas, labels.transl)
    assert labels.frame == "radar" and labels.valid.all()
    assert np.abs(joints - expected).max() <= 1e-4
    assert np.abs(labels.joints29 - expected).max() <= 1e-4
    # On the radar clock: inside the GT span, and the person stands ~2.6 m down the boresight.
    assert on_radar_times.valid.sum() >= len(on_radar_times) - 1
    assert 2.0 < np.median(on_radar_times.joints29[on_radar_times.valid, 0, 1]) < 3.2
    back = transform_labels(labels, np.linalg.inv(T_radar_from_world), "world", body_model)
    np.testing.assert_allclose(back.joints29, gt_joints, atol=1e-4)


def test_windows_cover_ranges_and_pad():
    windows = window_ranges([(0, 50), (60, 65)], window=16, stride=10)
    assert windows[:4] == [(0, 16), (10, 26), (20, 36), (30, 46)]
    assert (34, 50) in windows and windows[-1] == (60, 65)


def test_time_block_split_has_no_overlap_and_a_gap():
    train, val = time_block_split(1000, block_frames=100, gap_frames=20, val_every=3)
    assert val == [(200, 300), (500, 600), (800, 900)]
    train_frames = {f for s, e in train for f in range(s, e)}
    for vs, ve in val:
        assert not train_frames & set(range(vs - 20, ve + 20))
    assert len(train_frames) == 1000 - 3 * 100 - 6 * 20


def test_session_split_is_disjoint_and_order_free():
    paths = [f"s{i}.h5" for i in range(8)]
    train, val = split_sessions(paths, 0.25, seed=3)
    assert len(val) == 2 and not set(train) & set(val) and sorted(train + val) == sorted(paths)
    assert split_sessions(paths[::-1], 0.25, seed=3) == (train, val)


STILL = dict(point_dropout=0.0, jitter_m=0.0, frame_drop=0.0, doppler_noise_mps=0.0, rotation_deg=0.0)


def _window_pair(session, body_model, **augment):
    """The session, its first 16-frame window as it is and augmented by ``augment`` (only), and that dataset."""
    data = load_session(str(session), body_model, COLUMNS, 32, targets="ground_truth")
    plain = WindowDataset([data], [[(0, len(data))]], 16, 16, Augmentation(**STILL)).item(0, np.random.default_rng(0))
    dataset = WindowDataset([data], [[(0, len(data))]], 16, 16, Augmentation(**{**STILL, **augment}))
    return data, plain, dataset.item(0, np.random.default_rng(0)), dataset


def _fk_joints(body_model, item):
    """[T, 29, 3] joints of a window's SMPL targets through the body model."""
    rot = torch.from_numpy(item["rotmats"])
    return body_model(rot[:, 0], rot[:, 1:], torch.from_numpy(item["betas"]),
                      torch.from_numpy(item["transl"])).joints29.numpy()


def test_rotation_augmentation_turns_points_and_labels_together(session, body_model):
    data, plain, turned, dataset = _window_pair(session, body_model, rotation_deg=90.0)
    assert data.contacts.shape == (len(data), 4) and data.contacts.any()
    assert dataset.rotate
    # The rotation is rigid about an axis through the radar: pairwise point
    # geometry, ranges and Doppler are unchanged; the joints move.
    mask = plain["point_mask"]
    assert np.array_equal(mask, turned["point_mask"])
    np.testing.assert_allclose(np.linalg.norm(turned["points"][..., :3], axis=-1)[mask],
                               np.linalg.norm(plain["points"][..., :3], axis=-1)[mask], atol=1e-5)
    np.testing.assert_allclose(turned["points"][..., 3:], plain["points"][..., 3:])
    assert np.abs(turned["joints"] - plain["joints"]).max() > 0.1
    # One rotation R maps both: solve it from the joints and apply it to the points.
    src, dst = plain["joints"].reshape(-1, 3), turned["joints"].reshape(-1, 3)
    u, _, vt = np.linalg.svd(src.T @ dst)
    R = (u @ vt).T
    np.testing.assert_allclose(src @ R.T, dst, atol=1e-4)
    np.testing.assert_allclose(plain["points"][..., :3][mask] @ R.T, turned["points"][..., :3][mask], atol=1e-4)
    # The SMPL parameters agree with the turned joints (transl moved about the rest pelvis).
    np.testing.assert_allclose(_fk_joints(body_model, turned), turned["joints"], atol=1e-4)


def test_mirror_augmentation_reflects_points_and_labels_together(session, body_model):
    data, plain, mirrored, dataset = _window_pair(session, body_model, mirror=1.0)
    assert dataset.mirror
    # Through a plane holding the radar: ranges and Doppler unchanged; world heights kept (the radar is tilted).
    mask = plain["point_mask"]
    np.testing.assert_allclose(np.linalg.norm(mirrored["points"][..., :3], axis=-1)[mask],
                               np.linalg.norm(plain["points"][..., :3], axis=-1)[mask], atol=1e-5)
    np.testing.assert_allclose(mirrored["points"][..., 3:], plain["points"][..., 3:])
    up = data.T_world_from_radar[2, :3]  # world z of a radar-frame vector
    flip = get_skeleton("hybrik29").flip_permutation()
    np.testing.assert_allclose(mirrored["joints"] @ up, plain["joints"][:, flip] @ up, atol=1e-5)
    np.testing.assert_allclose(mirrored["points"][..., :3][mask] @ up, plain["points"][..., :3][mask] @ up, atol=1e-5)
    # Left and right swap: the mirrored left ankle is where the right ankle's reflection is, not its own.
    lank, rank = 7, 8
    assert np.abs(mirrored["joints"][:, lank] - plain["joints"][:, lank]).max() > 0.05
    np.testing.assert_array_equal(mirrored["contacts"], plain["contacts"][:, [2, 3, 0, 1]])
    # The SMPL parameters give the mirrored joints up to the body's own asymmetry (mm).
    assert np.linalg.norm(_fk_joints(body_model, mirrored) - mirrored["joints"], axis=-1).mean() < 0.01
    assert np.allclose(np.linalg.det(mirrored["rotmats"]), 1.0, atol=1e-5)
    # One reflection maps the points; mirroring the labels twice is the identity.
    H = vertical_mirror(data.T_world_from_radar)
    np.testing.assert_allclose(plain["points"][..., :3][mask] @ H.T, mirrored["points"][..., :3][mask], atol=1e-5)
    back_rot, back_transl = mirror_smpl(mirrored["rotmats"], mirrored["transl"], data.rest_pelvis[:16], H)
    np.testing.assert_allclose(back_rot, plain["rotmats"], atol=1e-5)
    np.testing.assert_allclose(back_transl, plain["transl"], atol=1e-5)


def test_view_rotation_turns_body_and_points_about_the_pelvis(session, body_model):
    _, plain, turned, dataset = _window_pair(session, body_model, view_rotation_deg=90.0)
    assert dataset.view_rotate
    # One rigid motion maps joints and points; the window's mean pelvis stays put, so the body turns in place.
    src, dst = plain["joints"].reshape(-1, 3), turned["joints"].reshape(-1, 3)
    cs, cd = src.mean(0), dst.mean(0)
    u, _, vt = np.linalg.svd((src - cs).T @ (dst - cd))
    R = (u @ vt).T
    assert np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1, 1))) > 1.0
    np.testing.assert_allclose((src - cs) @ R.T + cd, dst, atol=1e-4)
    mask = plain["point_mask"]
    np.testing.assert_allclose((plain["points"][..., :3][mask] - cs) @ R.T + cd, turned["points"][..., :3][mask],
                               atol=1e-4)
    np.testing.assert_allclose(turned["joints"][:, 0].mean(0), plain["joints"][:, 0].mean(0), atol=1e-5)
    np.testing.assert_allclose(turned["points"][..., 3:], plain["points"][..., 3:])  # Doppler and SNR kept
    np.testing.assert_allclose(_fk_joints(body_model, turned), turned["joints"], atol=1e-4)


def test_rotation_disabled_for_world_frame_labels(session, body_model):
    data = load_session(str(session), body_model, COLUMNS, 32, targets="ground_truth")
    data.labels = transform_labels(data.labels, data.T_world_from_radar, "world", body_model)
    dataset = WindowDataset([data], [[(0, len(data))]], 16, 16, Augmentation(rotation_deg=90.0))
    assert not dataset.rotate
    a, b = dataset.item(0, np.random.default_rng(1)), dataset.item(0)
    np.testing.assert_array_equal(a["joints"], b["joints"])


def test_point_augmentations_drop_and_jitter(session, body_model):
    data = load_session(str(session), body_model, COLUMNS, 32, targets="ground_truth")
    aug = Augmentation(point_dropout=0.3, jitter_m=0.02, frame_drop=0.2, doppler_noise_mps=0.1, rotation_deg=0.0)
    dataset = WindowDataset([data], [[(0, len(data))]], 32, 32, aug)
    clean, noisy = dataset.item(0), dataset.item(0, np.random.default_rng(5))
    kept = noisy["point_mask"].sum() / clean["point_mask"].sum()
    assert 0.4 < kept < 0.8
    assert (~noisy["point_mask"].any(1) & clean["point_mask"].any(1)).sum() >= 1  # dropped frames
    both = noisy["point_mask"]
    diff = noisy["points"][both][:, :3] - clean["points"][both][:, :3]
    assert 0.01 < diff.std() < 0.03
    assert np.array_equal(noisy["frame_mask"], clean["frame_mask"])  # an empty frame is still a frame
    frames, targets = dataset.batch([0, 0], [np.random.default_rng(5), None])
    assert frames.points.shape == (2, 32, 32, 5) and targets.rotmats.shape == (2, 32, 24, 3, 3)


# -- keypoint-stream targets ------------------------------------------------------------------

KINECT = get_skeleton("kinect_v2")


def _turn(yaw_deg: float, position: tuple[float, float, float]) -> np.ndarray:
    """[4, 4] rigid transform: a turn about z, then a shift."""
    a = np.radians(yaw_deg)
    T = np.eye(4)
    T[:3, :3] = [[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]]
    T[:3, 3] = position
    return T


def _kinect_world(t: np.ndarray) -> np.ndarray:
    """[K, 25, 3] world joints moving at a constant velocity (linear in t, so resampling is exact)."""
    offsets = np.linspace(-0.5, 0.5, 3 * KINECT.num_joints).reshape(KINECT.num_joints, 3)
    return offsets[None] + np.array([0.0, 3.0, 1.0]) + t[:, None, None] * np.array([0.4, -0.2, 0.05])


@pytest.fixture(scope="module")
def keypoint_session(tmp_path_factory):
    """10 Hz radar (turned and raised) + a 30 Hz world-frame Kinect stream with a gap, an untracked
    joint and its joints stored in reverse order."""
    path = tmp_path_factory.mktemp("keypoint_targets") / "k.h5"
    rng = np.random.default_rng(0)
    radar_t = np.arange(40) / 10.0
    kinect_t = np.arange(0.05, 3.5, 1 / 30)
    kinect_t = kinect_t[(kinect_t < 1.5) | (kinect_t > 2.0)]  # the Kinect lost the person for half a second
    positions = _kinect_world(kinect_t)
    positions[10, KINECT.index("HandTipLeft")] = np.nan
    reverse = list(reversed(range(KINECT.num_joints)))
    with SessionWriter(path, created_by="test_student_data") as w:
        w.write_radar([rng.normal(0, 1, (5, 5)) for _ in radar_t], radar_t, columns=COLUMNS,
                      T_world_from_radar=_turn(20.0, (0.3, 0.0, 1.2)), config={"doppler_sign": "positive_away"})
        w.write_keypoints("kinect_v2", kinect_t, positions[:, reverse],
                          joint_names=[KINECT.joint_names[j] for j in reverse], skeleton="kinect_v2", frame="world")
    return path, radar_t, kinect_t


def test_keypoint_targets_on_radar_frames_in_the_radar_frame(keypoint_session, body_model):
    path, radar_t, kinect_t = keypoint_session
    data = load_session(str(path), body_model, COLUMNS, 8, targets="keypoints", keypoint_max_gap_s=0.1)
    kp = data.keypoints
    assert data.labels is None and data.contacts is None and data.label_frame == "radar"
    assert kp.skeleton == "kinect_v2" and kp.positions.shape == (40, 25, 3) and kp.source == "/keypoints/kinect_v2"
    # Labelled: inside the stream's span and not between the samples either side of the gap.
    before_gap, after_gap = kinect_t[kinect_t < 1.5][-1], kinect_t[kinect_t > 2.0][0]
    expected_valid = ((radar_t >= kinect_t[0]) & (radar_t <= kinect_t[-1])
                      & ~((radar_t > before_gap) & (radar_t < after_gap)))
    assert (~expected_valid).sum() == 1 + 6 + 5  # before the stream, in the gap, after it
    np.testing.assert_array_equal(kp.valid, expected_valid)
    assert np.isnan(kp.positions[~kp.valid]).all()
    radar_from_world = np.linalg.inv(data.T_world_from_radar)
    expected = _kinect_world(radar_t) @ radar_from_world[:3, :3].T + radar_from_world[:3, 3]
    tracked = np.isfinite(kp.positions).all(-1)  # [T, J]
    assert (~tracked[kp.valid]).sum() == 1  # the one radar frame next to the untracked hand tip
    np.testing.assert_allclose(kp.positions[tracked], expected[tracked], atol=1e-5)
    assert (kp.confidence[tracked] == 1.0).all()


def test_interpolation_keeps_exact_samples_and_local_nan():
    t = np.array([0.0, 1.0, 2.0, 5.0])
    x = np.array([[0.0], [np.nan], [2.0], [5.0]])
    out, valid = interpolate_samples(t, x, np.array([-1.0, 0.0, 0.5, 2.0, 3.0, 5.0]), max_gap_s=1.5)
    np.testing.assert_array_equal(valid, [False, True, True, True, False, True])
    np.testing.assert_array_equal(out[:, 0], [np.nan, 0.0, np.nan, 2.0, np.nan, 5.0])


def test_keypoint_targets_prefer_the_sessions_calibration(keypoint_session, body_model, tmp_path):
    path, radar_t, _ = keypoint_session
    calibrated = tmp_path / "calibrated.h5"
    calibrated.write_bytes(path.read_bytes())
    T_reference_from_radar = _turn(-35.0, (0.1, 0.2, 1.0))  # radar -> the Kinect stream's frame
    write_calibration(calibrated, MotionCalibration(T_reference_from_radar, 0.05, 0.0, 0.01, 0.01, 1.0, 40,
                                                    "/keypoints/kinect_v2", "world", T_reference_from_radar))
    kp = load_session(str(calibrated), body_model, COLUMNS, 8, targets="keypoints", keypoint_max_gap_s=0.1).keypoints
    radar_from_stream = np.linalg.inv(T_reference_from_radar)
    expected = _kinect_world(radar_t + 0.05) @ radar_from_stream[:3, :3].T + radar_from_stream[:3, 3]
    tracked = np.isfinite(kp.positions).all(-1)
    assert tracked.sum() > 20 * 25
    np.testing.assert_allclose(kp.positions[tracked], expected[tracked], atol=1e-5)


def test_rotation_augmentation_turns_keypoints_with_points(keypoint_session, body_model):
    path, _, _ = keypoint_session
    data = load_session(str(path), body_model, COLUMNS, 8, targets="keypoints", keypoint_max_gap_s=0.1)
    still = Augmentation(**STILL)
    turn = Augmentation(**{**STILL, "rotation_deg": 90.0})
    plain = WindowDataset([data], [[(0, 16)]], 16, 16, still).item(0, np.random.default_rng(0))
    dataset = WindowDataset([data], [[(0, 16)]], 16, 16, turn)
    turned = dataset.item(0, np.random.default_rng(0))
    assert dataset.rotate and dataset.keypoint_skeleton == "kinect_v2"
    tracked = np.isfinite(plain["keypoints"]).all(-1)
    src, dst = plain["keypoints"][tracked], turned["keypoints"][tracked]
    u, _, vt = np.linalg.svd(src.T @ dst)
    R = (u @ vt).T
    assert np.degrees(np.arccos((np.trace(R) - 1) / 2)) > 1.0
    np.testing.assert_allclose(src @ R.T, dst, atol=1e-4)
    mask = plain["point_mask"]
    np.testing.assert_allclose(plain["points"][..., :3][mask] @ R.T, turned["points"][..., :3][mask], atol=1e-4)
    frames, targets = dataset.batch([0, 0])
    assert targets.rotmats is None and targets.joints is None and targets.contacts is None
    assert targets.keypoints["kinect_v2"].shape == (2, 16, 25, 3)
    assert targets.frame_mask.sum() == 2 * int(data.keypoints.valid[:16].sum())
