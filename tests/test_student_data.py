"""Student data: GT-as-labels frame conversion, windows, leak-free splits, consistent rotation augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from student_fixtures import simulate
from wavecap.body import build_body_model
from wavecap.datasets import open_session
from wavecap.student.data import (
    Augmentation,
    WindowDataset,
    load_session,
    split_sessions,
    time_block_split,
    window_ranges,
)
from wavecap.student.labels import ground_truth_as_labels, smpl_joints29, transform_labels

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


def test_rotation_augmentation_turns_points_and_labels_together(session, body_model):
    data = load_session(str(session), body_model, COLUMNS, 32, targets="ground_truth")
    assert data.contacts.shape == (len(data), 4) and data.contacts.any()
    off = Augmentation(point_dropout=0.0, jitter_m=0.0, frame_drop=0.0, doppler_noise_mps=0.0, rotation_deg=0.0)
    turn = Augmentation(point_dropout=0.0, jitter_m=0.0, frame_drop=0.0, doppler_noise_mps=0.0, rotation_deg=90.0)
    plain = WindowDataset([data], [[(0, len(data))]], 16, 16, off).item(0, np.random.default_rng(0))
    dataset = WindowDataset([data], [[(0, len(data))]], 16, 16, turn)
    turned = dataset.item(0, np.random.default_rng(0))
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
    rot = torch.from_numpy(turned["rotmats"])
    fk = body_model(rot[:, 0], rot[:, 1:], torch.from_numpy(turned["betas"]),
                    torch.from_numpy(turned["transl"])).joints29.numpy()
    np.testing.assert_allclose(fk, turned["joints"], atol=1e-4)


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
