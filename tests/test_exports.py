"""Exports: BVH round trip (BVH -> rotations -> FK equals the body model's joints),
AMASS .npz round trip, offline student -> ONNX parity with torch on a recorded capture."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wavecap.body import build_body_model
from wavecap.body.skeleton import SMPL_JOINT_NAMES
from wavecap.datasets.motion import Motion, generate, load_amass_npz, save_amass_npz
from wavecap.exports import bvh_joints_world, read_bvh, write_bvh
from wavecap.exports.bvh import R_BVH_FROM_WORLD

from student_fixtures import REPO, TINY_MODEL, simulate


@pytest.fixture(scope="module")
def body_model():
    return build_body_model("stand-in")


@pytest.fixture(scope="module")
def motion() -> Motion:
    m = generate("lunge_left", 2.0, fps=30.0, seed=4)
    rng = np.random.default_rng(0)
    # A non-trivial shape and extra twists, so every joint's offset and all three Euler angles matter.
    body_pose = m.body_pose + rng.normal(0.0, 0.3, m.body_pose.shape)
    return Motion(fps=m.fps, global_orient=m.global_orient, body_pose=body_pose,
                  betas=np.array([0.8, -0.5, 0.3, 0.2, 0, 0, 0, 0, 0, 0.0]), transl=m.transl, name="test")


def _smpl_joints(body_model, m: Motion) -> np.ndarray:
    with torch.no_grad():
        out = body_model(torch.as_tensor(m.global_orient, dtype=torch.float32),
                         torch.as_tensor(m.body_pose, dtype=torch.float32),
                         torch.as_tensor(np.tile(m.betas, (len(m), 1)), dtype=torch.float32),
                         torch.as_tensor(m.transl, dtype=torch.float32))
    return out.joints.double().numpy()  # [T, 24, 3] world


def test_bvh_round_trip_fk_matches_body_model(tmp_path, body_model, motion):
    path = tmp_path / "m.bvh"
    write_bvh(motion, body_model, path)
    bvh = read_bvh(path)
    assert bvh.values.shape[0] == len(motion)
    assert bvh.frame_time == pytest.approx(1 / 30.0, abs=1e-7)
    assert sorted(bvh.names) == sorted(SMPL_JOINT_NAMES)
    assert len(bvh.end_sites) == 5  # head, hands, feet end at HybrIK's leaf points
    order = [bvh.names.index(n) for n in SMPL_JOINT_NAMES]
    joints = bvh_joints_world(bvh)[:, order]  # [T, 24, 3] world, m
    expected = _smpl_joints(body_model, motion)
    assert np.abs(joints - expected).max() <= 1e-4


def test_bvh_axes_are_y_up(tmp_path, body_model, motion):
    write_bvh(motion, body_model, tmp_path / "m.bvh")
    bvh = read_bvh(tmp_path / "m.bvh")
    pos = bvh.joint_positions()  # BVH axes, cm
    head, foot = bvh.names.index("head"), bvh.names.index("left_foot")
    assert (pos[:, head, 1] - pos[:, foot, 1]).min() > 50.0  # head well above the foot along BVH +y, in cm
    assert np.allclose(R_BVH_FROM_WORLD @ [0, 0, 1], [0, 1, 0])


def test_bvh_rotations_reproduce_local_pose(tmp_path, body_model, motion):
    write_bvh(motion, body_model, tmp_path / "m.bvh")
    bvh = read_bvh(tmp_path / "m.bvh")
    rot = bvh.rotations()  # [T, J, 3, 3]
    from scipy.spatial.transform import Rotation

    knee = SMPL_JOINT_NAMES.index("left_knee")
    expected = Rotation.from_rotvec(motion.body_pose[:, 3 * (knee - 1):3 * knee]).as_matrix()
    assert np.abs(rot[:, bvh.names.index("left_knee")] - expected).max() < 1e-5


def test_amass_npz_round_trip(tmp_path, motion):
    save_amass_npz(motion, tmp_path / "m.npz", columns=72)
    back = load_amass_npz(tmp_path / "m.npz")
    assert back.fps == motion.fps
    assert np.allclose(back.body_pose, motion.body_pose, atol=1e-6)
    assert np.allclose(back.transl, motion.transl, atol=1e-6)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    return simulate(tmp_path_factory.mktemp("onnx") / "capture.h5", seed=21, seconds=3.0)


def test_onnx_parity_with_torch(tmp_path, recorded):
    pytest.importorskip("onnx", reason="the optional `export` extra (onnx) is not installed")
    pytest.importorskip("onnxruntime", reason="the optional `export` extra (onnxruntime) is not installed")
    from hydra import compose, initialize_config_dir

    from wavecap.datasets import open_session
    from wavecap.exports.student_onnx import OUTPUT_NAMES, export_student_onnx, run_onnx
    from wavecap.student.data import read_radar
    from wavecap.student.inference import predict
    from wavecap.student.model import build_student

    with initialize_config_dir(str(REPO / "configs"), version_base=None):
        cfg = compose("train_student", overrides=TINY_MODEL)
    torch.manual_seed(0)
    model = build_student(cfg.student).eval()
    with open_session(str(recorded)) as session:
        points, mask = read_radar(session, model.encoder.columns, model.encoder.max_points)
    assert mask.any()
    path = export_student_onnx(model, points, mask, tmp_path / "student.onnx")
    ours, theirs = predict(model, points, mask), run_onnx(path, points, mask)
    for name in OUTPUT_NAMES:
        assert theirs[name][0].shape == ours[name].shape
        assert np.abs(theirs[name][0] - ours[name]).max() < 1e-4, name
