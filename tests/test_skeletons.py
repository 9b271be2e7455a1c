"""Named skeletons: trees, left/right pairs, and their maps to and from SMPL."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wavecap.body import build_body_model
from wavecap.body.skeleton import FLIP_PAIRS_29, HYBRIK_JOINT_NAMES, SMPL_JOINT_NAMES
from wavecap.geometry import random_rotation_matrix, world_from_smpl
from wavecap.skeletons import (
    KINDS,
    get_skeleton,
    map_from_smpl,
    map_to_smpl,
    root_from_skeleton,
    skeleton_from_smpl,
    skeleton_names,
    smpl_from_skeleton,
    to_smpl_matrix,
)

NAMES = skeleton_names()
# Worst SMPL -> skeleton -> SMPL round-trip error allowed for a row of each kind (m):
# a round trip stacks two approximations, each within the kind's stated range.
ROUND_TRIP_BOUND = {"same": 1e-5, "approx": 0.10, "rough": 0.20}


@pytest.fixture(scope="module")
def posed_joints() -> np.ndarray:
    """[B, 29, 3] stand-in joints in the world (z up), standing, in mild random poses (0.15 rad per axis)."""
    generator = torch.Generator().manual_seed(0)
    model = build_body_model("stand-in")
    batch = 16
    pose = torch.randn(batch, 23, 3, generator=generator) * 0.15
    orient = torch.zeros(batch, 3)
    with torch.no_grad():
        out = model(orient, pose, torch.zeros(batch, 10), torch.zeros(batch, 3), return_vertices=False)
        joints = out.joints29 @ world_from_smpl().T  # canonical y-up -> world z-up
    return joints.double().numpy()


@pytest.mark.parametrize("name", NAMES)
def test_skeleton_is_a_tree_with_mirrored_pairs(name: str) -> None:
    s = get_skeleton(name)
    assert s.parents.count(-1) == 1 and s.parents[s.root] == -1
    for joint in range(s.num_joints):  # every joint reaches the root without a cycle
        seen, j = set(), joint
        while j != -1:
            assert j not in seen
            seen.add(j)
            j = s.parents[j]
    assert len(s.bones) == s.num_joints - 1
    perm = s.flip_permutation()
    assert np.array_equal(perm[perm], np.arange(s.num_joints))
    for left, right in s.flip_pairs:
        assert s.joint_names[left].replace("left", "right").replace("Left", "Right") == s.joint_names[right]


def test_pair_counts_and_official_orders() -> None:
    assert {len(get_skeleton(n).flip_pairs) for n in ("h36m17",)} == {6}
    assert len(get_skeleton("coco17").flip_pairs) == 8
    assert len(get_skeleton("kinect_v2").flip_pairs) == 10
    assert set(get_skeleton("hybrik29").flip_pairs) == set(FLIP_PAIRS_29)
    kinect = get_skeleton("kinect_v2")
    assert kinect.num_joints == 25
    expected = {"SpineBase": 0, "SpineMid": 1, "Neck": 2, "Head": 3, "ShoulderLeft": 4, "HandRight": 11,
                "HipLeft": 12, "FootRight": 19, "SpineShoulder": 20, "HandTipLeft": 21, "ThumbRight": 24}
    assert all(kinect.index(j) == i for j, i in expected.items())
    assert get_skeleton("h36m17").joint_names[:4] == ("pelvis", "right_hip", "right_knee", "right_ankle")
    assert get_skeleton("coco17").joint_names[0] == "nose"
    with pytest.raises(ValueError, match="known"):
        get_skeleton("vicon")


@pytest.mark.parametrize("name", NAMES)
def test_maps_are_affine_and_documented(name: str) -> None:
    skeleton = get_skeleton(name)
    from_rows = map_from_smpl(name)
    assert tuple(r.target for r in from_rows) == skeleton.joint_names
    to_rows = map_to_smpl(name)
    assert set(r.target for r in to_rows) <= set(SMPL_JOINT_NAMES)
    for rows, sources in ((from_rows, HYBRIK_JOINT_NAMES), (to_rows, skeleton.joint_names)):
        for row in rows:
            assert row.kind in KINDS
            assert abs(sum(w for _, w in row.sources) - 1.0) < 1e-9, row
            assert all(source in sources for source, _ in row.sources), row
            assert row.kind == "same" or row.note, f"{row.target}: an approximation must say how"


@pytest.mark.parametrize("name", NAMES)
def test_maps_commute_with_rigid_motion(name: str, posed_joints: np.ndarray) -> None:
    rotation = random_rotation_matrix(1, generator=torch.Generator().manual_seed(3))[0].double().numpy()
    shift = np.array([0.4, -2.0, 0.7])
    moved = posed_joints @ rotation.T + shift
    kp = skeleton_from_smpl(posed_joints, name)
    np.testing.assert_allclose(skeleton_from_smpl(moved, name), kp @ rotation.T + shift, atol=1e-9)
    back, _ = smpl_from_skeleton(kp, name)
    moved_back, _ = smpl_from_skeleton(kp @ rotation.T + shift, name)
    np.testing.assert_allclose(moved_back, back @ rotation.T + shift, atol=1e-9)
    torch_kp = skeleton_from_smpl(torch.from_numpy(posed_joints), name)
    np.testing.assert_allclose(torch_kp.numpy(), kp, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_round_trip_through_a_skeleton_stays_within_the_stated_kind(name: str, posed_joints: np.ndarray) -> None:
    back, mask = smpl_from_skeleton(skeleton_from_smpl(posed_joints, name), name)
    error = np.linalg.norm(back - posed_joints[:, :24], axis=-1).max(axis=0)  # [24] worst over poses
    kinds = {row.target: row.kind for row in map_to_smpl(name)}
    assert mask.all()
    for j, joint in enumerate(SMPL_JOINT_NAMES):
        assert error[j] <= ROUND_TRIP_BOUND[kinds[joint]], (joint, kinds[joint], error[j])


def test_mapped_skeletons_are_anatomically_ordered(posed_joints: np.ndarray) -> None:
    kinect = skeleton_from_smpl(posed_joints, "kinect_v2")
    s = get_skeleton("kinect_v2")
    chain = ["SpineBase", "SpineMid", "SpineShoulder", "Neck", "Head"]
    heights = kinect[:, [s.index(j) for j in chain], 2]
    assert (np.diff(heights, axis=1) > 0.02).all()  # each joint of the spine chain above the last
    base_to_pelvis = kinect[:, s.index("SpineBase")] - posed_joints[:, 0]
    assert (base_to_pelvis[:, 2] < -0.02).all() and (base_to_pelvis[:, 2] > -0.08).all()  # pelvis lowered ~4.5 cm
    coco = skeleton_from_smpl(posed_joints, "coco17")
    c = get_skeleton("coco17")
    assert (coco[:, c.index("nose"), 2] > coco[:, c.index("left_shoulder"), 2] + 0.03).all()
    h36m = skeleton_from_smpl(posed_joints, "h36m17")
    h = get_skeleton("h36m17")
    assert (h36m[:, h.index("head"), 2] > h36m[:, h.index("thorax"), 2] + 0.1).all()
    spine = h36m[:, h.index("spine")]
    np.testing.assert_allclose(spine, 0.5 * (posed_joints[:, 3] + posed_joints[:, 6]), atol=1e-12)


def test_identity_maps_leaf_needs_and_nan_propagation(posed_joints: np.ndarray) -> None:
    np.testing.assert_array_equal(skeleton_from_smpl(posed_joints, "hybrik29"), posed_joints)
    np.testing.assert_array_equal(skeleton_from_smpl(posed_joints[:, :24], "smpl24"), posed_joints[:, :24])
    with pytest.raises(ValueError, match="29 SMPL joints"):
        skeleton_from_smpl(posed_joints[:, :24], "kinect_v2")  # needs the head top and fingertips
    kinect = skeleton_from_smpl(posed_joints, "kinect_v2")
    kinect[:, get_skeleton("kinect_v2").index("HandTipLeft")] = np.nan  # untracked
    smpl, _ = smpl_from_skeleton(kinect, "kinect_v2")
    weights, _ = to_smpl_matrix("kinect_v2")
    uses_tip = weights[:, get_skeleton("kinect_v2").index("HandTipLeft")] != 0
    assert np.isnan(smpl[:, uses_tip]).all() and np.isfinite(smpl[:, ~uses_tip]).all()
    root = root_from_skeleton(skeleton_from_smpl(posed_joints, "kinect_v2"), "kinect_v2")
    np.testing.assert_allclose(root, posed_joints[:, 0], atol=0.02)
