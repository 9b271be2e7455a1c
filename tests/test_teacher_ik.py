"""HybrIK analytic IK: exactness on FK data, degenerate input, twist round trips.

Which rotations the joints determine: the root by its three children
{spine1, hips} (not collinear), and every other joint i by its bone to the
HybrIK child c(i) (swing) plus the twist about that bone. With the
ground-truth twist all 24 rotations are therefore determined -- including
the leaf parents (feet, head, hands), whose "bone" ends at a skinned leaf
vertex -- *provided* FK places that vertex rigidly with its parent joint.
The stand-in body skins every leaf vertex 100% to its parent with no pose
correctives, so all 24 are recovered exactly here. With real SMPL the leaf
vertices blend weights and pose correctives, so the swing of joints 10, 11,
15, 22 and 23 (and the position of leaves 24..28) is only approximate; the
other 19 rotations stay exact.
"""

from __future__ import annotations

import pytest
import torch

from wavecap.body import HYBRIK_PARENTS, build_body_model
from wavecap.geometry.rotations import axis_angle_to_matrix, geodesic_distance, random_rotation_matrix
from wavecap.teacher.ik import (
    HYBRIK_CHILDREN,
    LEVELS,
    inverse_kinematics,
    solve_ik,
    swing,
    twist_angles,
)

VARIANTS = [("adaptive", "svd"), ("adaptive", "spine"), ("naive", "svd"), ("naive", "spine")]


@pytest.fixture(scope="module")
def body64():
    return build_body_model("stand-in").double()


def _random_poses(batch: int, seed: int, dtype=torch.float64, spread: float = 0.6):
    g = torch.Generator().manual_seed(seed)
    rot = axis_angle_to_matrix(torch.randn(batch, 24, 3, generator=g, dtype=dtype) * spread)
    rot[:, 0] = random_rotation_matrix(batch, generator=g, dtype=dtype)
    betas = torch.randn(batch, 10, generator=g, dtype=dtype)
    return rot, betas


def _fk_rel(body, rot, betas):
    joints = body(rot[:, 0], rot[:, 1:], betas, return_vertices=False).joints29
    return joints - joints[:, :1]


def test_children_table_matches_hybrik():
    documented = [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 27, 28, 15, 16, 17, 24, 18, 19, 20, 21, 22, 23, 25, 26]
    assert list(HYBRIK_CHILDREN[:24]) == documented
    assert all(c == -1 for c in HYBRIK_CHILDREN[24:])
    for joint, child in enumerate(HYBRIK_CHILDREN[:24]):
        assert HYBRIK_PARENTS[child] == joint  # the child really hangs off the joint
    # Levels cover joints 1..23 once, each joint one level below its parent.
    covered = [j for start, end in LEVELS for j in range(start, end)]
    assert covered == list(range(1, 24))
    level_of = {j: k for k, (start, end) in enumerate(LEVELS) for j in range(start, end)}
    for j in range(1, 24):
        parent = HYBRIK_PARENTS[j]
        assert level_of[j] == (0 if parent == 0 else level_of[parent] + 1)


@pytest.mark.parametrize("variant,root", VARIANTS)
def test_ik_inverts_fk_exactly(body64, variant, root):
    rot, betas = _random_poses(96, seed=0)
    joints = _fk_rel(body64, rot, betas)
    phi = twist_angles(rot, betas, body64)
    result = inverse_kinematics(joints, phi, betas, body64, variant, root)
    assert result.rotmats.dtype == torch.float64
    assert not result.flags.any()
    assert geodesic_distance(result.rotmats, rot).max() <= 1e-5  # all 24 joints
    rebuilt = _fk_rel(body64, result.rotmats, betas)
    assert (rebuilt - joints).abs().max() <= 1e-6


def test_ik_float32_is_close(body64):
    body32 = build_body_model("stand-in")
    rot, betas = _random_poses(64, seed=1, dtype=torch.float32)
    joints = _fk_rel(body32, rot, betas)
    result = inverse_kinematics(joints, twist_angles(rot, betas, body32), betas, body32)
    assert result.rotmats.dtype == torch.float32
    assert (_fk_rel(body32, result.rotmats, betas) - joints).abs().max() <= 2e-5


def test_twist_angles_invert_ik(body64):
    """IK with arbitrary twists, then twist extraction, returns those twists."""
    rot, betas = _random_poses(32, seed=2)
    joints = _fk_rel(body64, rot, betas)
    angle = torch.rand(32, 23, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 6 - 3
    phi = torch.stack([angle.cos(), angle.sin()], dim=-1)
    result = inverse_kinematics(joints, phi, betas, body64)
    back = twist_angles(result.rotmats, betas, body64)
    assert (back - phi).abs().max() <= 1e-9
    # A joint's chosen child lies on the twist axis, so it ends where the
    # input put it whatever the twist. Only the collars hang off a joint
    # (spine3) that is not orienting them, so they and the arms move.
    rebuilt = _fk_rel(body64, result.rotmats, betas)
    arms = [13, 14, 16, 17, 18, 19, 20, 21, 22, 23, 25, 26]
    rest = [j for j in range(29) if j not in arms]
    assert (rebuilt[:, rest] - joints[:, rest]).abs().max() <= 1e-9
    assert (rebuilt[:, arms] - joints[:, arms]).norm(dim=-1).amax(dim=1).min() > 1e-3


def test_root_absorbs_the_frame(body64):
    """Joints given in a rotated frame only change the root rotation."""
    rot, betas = _random_poses(16, seed=4)
    joints = _fk_rel(body64, rot, betas)
    phi = twist_angles(rot, betas, body64)
    frame = random_rotation_matrix(16, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    base = inverse_kinematics(joints, phi, betas, body64).rotmats
    turned = inverse_kinematics(joints @ frame.transpose(1, 2), phi, betas, body64).rotmats
    assert geodesic_distance(turned[:, 0], frame @ base[:, 0]).max() <= 1e-9
    assert geodesic_distance(turned[:, 1:], base[:, 1:]).max() <= 1e-9


def test_adaptive_beats_naive_on_noisy_joints(body64):
    rot, betas = _random_poses(128, seed=6, spread=0.5)
    joints = _fk_rel(body64, rot, betas)
    phi = twist_angles(rot, betas, body64)
    noise = torch.randn(joints.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64) * 0.01
    noisy = joints + noise
    errors = {}
    for variant in ("adaptive", "naive"):
        result = inverse_kinematics(noisy, phi, betas, body64, variant)
        errors[variant] = (_fk_rel(body64, result.rotmats, betas) - joints).norm(dim=-1).mean()
    assert errors["adaptive"] < 0.8 * errors["naive"]


@pytest.mark.parametrize("variant,root", VARIANTS)
def test_degenerate_input_is_finite_and_flagged(body64, variant, root):
    rot, betas = _random_poses(7, seed=8)
    joints = _fk_rel(body64, rot, betas).clone()
    phi = twist_angles(rot, betas, body64).clone()
    joints[0, 5] = float("nan")  # NaN joint
    joints[1] = 0.0  # every bone zero-length
    joints[2, 4] = joints[2, 1]  # zero-length thigh
    joints[3, [1, 2, 3]] = torch.tensor([[0.1, 0.0, 0.0], [-0.1, 0.0, 0.0], [0.2, 0.0, 0.0]], dtype=torch.float64)
    phi[4, 7] = 0.0  # twist with no angle
    # Shin pointing exactly against its rest direction in the hip's frame:
    # the knee's swing is a half turn about an undetermined axis.
    hip_frame = body64(rot[5:6, 0], rot[5:6, 1:], betas[5:6], return_vertices=False).transforms[0, 1, :3, :3]
    rest = body64.rest_joints(betas[5:6])[0]
    joints[5, 7] = joints[5, 4] - hip_frame @ (rest[7] - rest[4])
    result = inverse_kinematics(joints, phi, betas, body64, variant, root)
    assert torch.isfinite(result.rotmats).all()
    assert result.flags[:6].all()
    assert not result.flags[6]
    eye = torch.eye(3, dtype=torch.float64)
    # No bone has a direction: the root is the identity and every joint only
    # twists about its rest bone (swing = identity).
    assert (result.rotmats[1, 0] - eye).abs().max() <= 1e-12
    rest = body64.rest_joints(betas[1:2])[0]
    t = rest[list(HYBRIK_CHILDREN[1:24])] - rest[1:24]  # [23, 3]
    assert ((result.rotmats[1, 1:] @ t[..., None])[..., 0] - t).abs().max() <= 1e-12
    # Still rotations everywhere.
    gram = result.rotmats @ result.rotmats.transpose(-1, -2)
    assert (gram - eye).abs().max() <= 1e-9


def test_swing_half_turn_maps_the_bone():
    rest = torch.tensor([[0.0, 1.0, 0.0], [1.0, 2.0, 3.0]], dtype=torch.float64)
    rot, bad = swing(rest, -rest * 2)
    assert bad.all()
    assert (rot @ rest[..., None])[..., 0].sub(-rest).abs().max() <= 1e-12
    assert (torch.linalg.det(rot) - 1).abs().max() <= 1e-12


def test_gradients_reach_twists_and_joints(body64):
    rot, betas = _random_poses(8, seed=9)
    joints = _fk_rel(body64, rot, betas).requires_grad_()
    phi = twist_angles(rot, betas, body64).requires_grad_()
    for variant in ("naive", "adaptive"):
        result = solve_ik(joints, phi, body64.rest_joints(betas), variant)
        loss = (result.rotmats - torch.eye(3, dtype=torch.float64)).square().sum()
        g_joints, g_phi = torch.autograd.grad(loss, (joints, phi))
        assert torch.isfinite(g_joints).all() and torch.isfinite(g_phi).all()
        assert g_phi.abs().sum() > 0 and g_joints.abs().sum() > 0
