"""The PyBullet humanoid: SMPL FK match, tree, masses, shapes on the mesh."""

from __future__ import annotations

import numpy as np
import pybullet as pb
import pytest
import torch
from scipy.spatial import cKDTree

from wavecap.body import SMPL_JOINT_NAMES, SMPL_PARENTS
from wavecap.geometry import axis_angle_to_matrix, matrix_to_axis_angle, rotation_angle, world_from_smpl
from wavecap.physics.body_shapes import link_color
from wavecap.physics.humanoid import Humanoid, HumanoidConfig


def _fk(body, root, pose, betas, transl):
    with torch.no_grad():
        return body(torch.as_tensor(root)[None].float(), torch.as_tensor(pose).reshape(1, 69).float(),
                    torch.as_tensor(betas)[None].float(), torch.as_tensor(transl)[None].float())


@pytest.mark.parametrize("seed", [0, 1])
def test_link_frames_equal_smpl_fk(body, client, seed):
    rng = np.random.default_rng(seed)
    betas = rng.normal(size=10) * 0.8
    humanoid = Humanoid(client, body, betas)
    for k in range(4):
        root = rng.normal(size=3) * 1.5
        pose = rng.normal(size=(23, 3)) * 0.6
        transl = rng.normal(size=3)
        if k % 2:  # rotation-matrix input path
            root_in = axis_angle_to_matrix(torch.from_numpy(root)).numpy()
            pose_in = axis_angle_to_matrix(torch.from_numpy(pose)).numpy()
        else:
            root_in, pose_in = root, pose.reshape(69)
        humanoid.set_pose(root_in, pose_in, transl)
        got = humanoid.link_world_transforms()  # read back from PyBullet
        ref = _fk(body, root, pose, betas, transl).transforms[0].double().numpy()
        assert np.abs(got[:, :3, 3] - ref[:, :3, 3]).max() <= 1e-3
        relative = torch.from_numpy(np.swapaxes(got[:, :3, :3], 1, 2) @ ref[:, :3, :3])
        assert float(rotation_angle(relative).max()) <= 1e-4


def test_tree_matches_smpl(body, client):
    humanoid = Humanoid(client, body)
    uid = humanoid.body_uid
    assert pb.getNumJoints(uid, physicsClientId=client) == 23
    assert humanoid.joint_to_link == tuple(range(-1, 23))
    for joint in range(1, 24):
        info = pb.getJointInfo(uid, humanoid.joint_to_link[joint], physicsClientId=client)
        assert info[2] == pb.JOINT_SPHERICAL
        assert info[16] == humanoid.joint_to_link[SMPL_PARENTS[joint]]  # parent link index
        # Joint at the rest offset from its parent; PyBullet reports it from
        # the parent's centre of mass, not from the parent joint.
        parent = SMPL_PARENTS[joint]
        offset = humanoid.rest_joints[joint] - humanoid.rest_joints[parent] - humanoid.mass_properties[parent].com
        np.testing.assert_allclose(info[14], offset, atol=1e-6)


@pytest.mark.parametrize("stature", [-1.0, 0.0, 1.0])
def test_adult_mass_in_range(body, client, stature):
    betas = np.zeros(10)
    betas[0] = stature
    humanoid = Humanoid(client, body, betas)
    assert 55.0 <= humanoid.total_mass <= 85.0
    masses = [pb.getDynamicsInfo(humanoid.body_uid, link, physicsClientId=client)[0]
              for link in humanoid.joint_to_link]
    np.testing.assert_allclose(sum(masses), humanoid.total_mass, rtol=1e-6)
    assert min(masses) > 0.05  # every link is solid (hands ~0.2 kg)


def test_density_scales_mass(body, client):
    light = Humanoid(client, body, config=HumanoidConfig(density=500.0, visual=False))
    heavy = Humanoid(client, body, config=HumanoidConfig(density=1000.0, visual=False))
    assert light.total_mass == pytest.approx(0.5 * heavy.total_mass)


def test_sole_is_the_mesh_sole(body, client):
    humanoid = Humanoid(client, body)
    root = matrix_to_axis_angle(world_from_smpl(torch.float64)).numpy()
    vertices = _fk(body, root, np.zeros(69), np.zeros(10), np.zeros(3)).vertices[0].double().numpy()
    transl = np.array([0.0, 0.0, -vertices[:, 2].min()])  # mesh sole on z = 0
    humanoid.set_pose(root, np.zeros(69), transl)
    # Vertical rays from below the floor under both feet: the first hit is the sole.
    x, y = np.meshgrid(np.linspace(-0.25, 0.25, 26), np.linspace(-0.25, 0.25, 26))
    start = np.stack([x.ravel(), y.ravel(), np.full(x.size, -1.0)], axis=1)
    hits = [r[3][2] for r in pb.rayTestBatch(start.tolist(), (start + [0, 0, 2]).tolist(), physicsClientId=client)
            if r[0] == humanoid.body_uid]
    assert len(hits) > 20
    assert abs(min(hits)) < 2e-3


def test_shapes_follow_the_mesh(body, client):
    humanoid = Humanoid(client, body)
    root = matrix_to_axis_angle(world_from_smpl(torch.float64)).numpy()
    pose = np.random.default_rng(3).normal(size=(23, 3)) * 0.25
    out = _fk(body, root, pose, np.zeros(10), np.zeros(3))
    vertices = out.vertices[0].double().numpy()
    transl = np.array([0.0, 2.0, 1.0])
    humanoid.set_pose(root, pose, transl)
    vertices = vertices + transl

    # Rays from all around hit the primitives close to the mesh surface.
    rng = np.random.default_rng(0)
    direction = rng.normal(size=(1500, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    target = vertices.mean(axis=0) + rng.normal(size=(1500, 3)) * [0.2, 0.2, 0.5]
    hits = np.array([r[3] for r in pb.rayTestBatch((target + 3 * direction).tolist(), target.tolist(),
                                                   physicsClientId=client) if r[0] == humanoid.body_uid])
    faces = body.faces
    bary = rng.dirichlet([1, 1, 1], size=(len(faces), 4))
    surface = np.einsum("fkc,fcd->fkd", bary, vertices[faces]).reshape(-1, 3)  # dense surface samples
    distance, _ = cKDTree(np.vstack([surface, vertices])).query(hits)
    assert len(hits) > 200
    assert np.median(distance) < 0.015
    assert np.mean(distance < 0.05) > 0.97


def test_left_and_right_colours_differ():
    for joint, name in enumerate(SMPL_JOINT_NAMES):
        if name.startswith("left_"):
            other = SMPL_JOINT_NAMES.index("right_" + name[5:])
            assert np.abs(np.subtract(link_color(joint), link_color(other))).max() > 0.3
