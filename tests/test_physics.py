"""Physics refinement: character, control, contacts, robustness, determinism, metrics."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pybullet as pb
import pytest
import torch

from wavecap.body import FOOT_VERTEX_IDS
from wavecap.datasets.motion import Motion, generate, save_amass_npz
from wavecap.datasets.session_example import write_example_session
from wavecap.geometry import axis_angle_to_quaternion, quaternion_to_axis_angle
from wavecap.physics import metrics
from wavecap.physics.character import Character
from wavecap.physics.contacts import contacts_from_motion, contacts_from_probabilities, estimate_floor
from wavecap.physics.feedforward import holding_torques, link_couples
from wavecap.physics.foot_lock import FootLock
from wavecap.physics.motion_io import load_motion
from wavecap.physics.primitives import Primitive, inertia_box, mass_properties
from wavecap.physics.refine import refine_motion
from wavecap.physics.stance import stance_root_offsets
from wavecap.physics.targets import clamp_joint_limits


@pytest.fixture(scope="module")
def standing():
    """3 s of standing with gentle sway (feet planted), 30 fps."""
    return generate("idle_sway", 3.0, seed=5)


def _feet(body, motion: Motion) -> np.ndarray:
    """[T, 4, 3] heel/toe mesh vertices of a motion."""
    _, vertices = metrics.posed_body(body, motion.global_orient, motion.body_pose, motion.betas, motion.transl)
    return vertices[:, list(FOOT_VERTEX_IDS.values())]


def _jittered(motion: Motion, seed: int, joint_deg: float, drift: float) -> Motion:
    """The motion with per-frame joint noise and a linear horizontal root drift (m over the motion)."""
    rng = np.random.default_rng(seed)
    frames = len(motion)
    pose = motion.body_pose + rng.normal(size=motion.body_pose.shape) * np.radians(joint_deg)
    transl = motion.transl.copy()
    transl[:, 0] += np.linspace(0.0, drift, frames)
    return Motion(fps=motion.fps, global_orient=motion.global_orient, body_pose=pose, betas=motion.betas,
                  transl=transl)


# --- character ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stature", [-1.5, 0.0, 1.5])
def test_character_mass_in_adult_range(body, client, stature):
    betas = np.zeros(10)
    betas[0] = stature
    character = Character(client, body, betas)
    assert 55.0 <= character.total_mass <= 85.0
    # The feet carry four sole points, heel behind ball, on the sole (below the ankle).
    assert character.foot_points_local.shape == (4, 3)
    assert np.all(character.foot_points_local[:, 1] < -0.05)
    assert np.all(character.foot_points_local[[1, 3], 2] > character.foot_points_local[[0, 2], 2] + 0.1)


def test_character_state_matches_smpl_fk(body, client):
    rng = np.random.default_rng(0)
    betas = rng.normal(size=10) * 0.5
    character = Character(client, body, betas)
    aa = rng.normal(size=(24, 3)) * 0.5
    transl = np.array([0.3, -1.0, 0.9])
    quats = axis_angle_to_quaternion(torch.from_numpy(aa)).numpy()
    character.reset(quats[0], transl + character.rest_joints[0], quats[1:])
    got = character.humanoid.link_world_transforms()
    with torch.no_grad():
        ref = body(torch.from_numpy(aa[None, 0]).float(), torch.from_numpy(aa[None, 1:]).float(),
                   torch.from_numpy(betas[None]).float(), torch.from_numpy(transl[None]).float()).transforms[0]
    assert np.abs(got[:, :3, 3] - ref[:, :3, 3].double().numpy()).max() < 1e-3
    assert np.abs(got[:, :3, :3] - ref[:, :3, :3].double().numpy()).max() < 1e-3
    # Read-back with the accurate log map recovers the axis-angles, small angles included.
    root_q, pelvis, joint_q, _ = character.read()
    back = quaternion_to_axis_angle(torch.from_numpy(np.concatenate([root_q[None], joint_q]))).numpy()
    np.testing.assert_allclose(back, aa, atol=1e-5)
    np.testing.assert_allclose(pelvis, transl + character.rest_joints[0], atol=1e-6)


def test_small_rotation_read_back_is_exact(body, client):
    character = Character(client, body, self_collision=False)
    aa = np.zeros((24, 3))
    aa[5] = [0.0, 1e-3, 0.0]  # where PyBullet's getAxisAngleFromQuaternion returns axis x, angle 2^-10
    quats = axis_angle_to_quaternion(torch.from_numpy(aa)).numpy()
    character.reset(quats[0], np.zeros(3), quats[1:])
    _, _, joint_q, _ = character.read()
    back = quaternion_to_axis_angle(torch.from_numpy(joint_q)).numpy()
    np.testing.assert_allclose(back[4], [0.0, 1e-3, 0.0], atol=1e-9)


def test_inertia_box_reproduces_inertia():
    capsule = Primitive("capsule", (0.06, 0.35), np.array([0.0, -0.2, 0.01]), np.eye(3))
    props = mass_properties([capsule], 1000.0)
    box = inertia_box(props)
    boxed = mass_properties([box], props.mass / box.volume)
    np.testing.assert_allclose(np.diag(boxed.inertia), np.diag(props.inertia), rtol=1e-9)
    np.testing.assert_allclose(boxed.com, props.com)


def test_self_collision_only_between_links_apart_at_rest(body, client):
    character = Character(client, body)
    neighbours = set(character.excluded_pairs)
    assert (0, 1) not in neighbours  # the thighs do not touch at rest, so they may collide
    uid = character.uid
    aa = np.zeros((23, 3))
    aa[0], aa[1] = [0.0, 0.0, -0.6], [0.0, 0.0, 0.6]  # thighs crossed
    character.reset(np.array([1.0, 0, 0, 0]), np.array([0.0, 0.0, 2.0]),
                    axis_angle_to_quaternion(torch.from_numpy(aa)).numpy())
    pb.stepSimulation(physicsClientId=client)
    pairs = {(c[3], c[4]) for c in pb.getContactPoints(uid, uid, physicsClientId=client)}
    assert (0, 1) in pairs or (1, 0) in pairs
    assert not pairs & neighbours


# --- feed-forward, contacts, stance --------------------------------------------------------------


def test_holding_torques_are_internal_and_static():
    rng = np.random.default_rng(1)
    joints = rng.normal(size=(3, 24, 3))
    coms = joints + rng.normal(size=(3, 24, 3)) * 0.05
    masses = rng.uniform(0.5, 5.0, size=24)
    torques = holding_torques(joints, coms, masses, 9.81)
    # Joint torques are action-reaction pairs: the couples on all links sum to zero.
    np.testing.assert_allclose(link_couples(torques).sum(axis=1), 0.0, atol=1e-9)
    # A lone leaf (the head, joint 15) holds exactly its own weight's moment.
    expected = -np.cross(coms[:, 15] - joints[:, 15], masses[15] * np.array([0.0, 0.0, -9.81]))
    np.testing.assert_allclose(torques[:, 15], expected)


def test_floor_and_contacts_from_a_shifted_motion(body, standing):
    character = Character(pb.connect(pb.DIRECT), body, standing.betas, self_collision=False)
    from wavecap.physics.targets import points_on_links, reference_transforms

    rot = torch.from_numpy(standing.rotations())
    shifted = standing.transl - [0.0, 0.0, 0.04]
    soles = points_on_links(reference_transforms(body, rot, standing.betas, shifted), character.foot_point_joints,
                            character.foot_points_local)
    pb.disconnect(character.client_id)
    assert estimate_floor(soles, standing.fps) == pytest.approx(-0.04, abs=0.01)
    flags = contacts_from_motion(soles, standing.fps, floor_z=-0.04)
    assert flags.mean() > 0.9  # standing: feet down nearly all the time
    probs = np.tile([[0.2, 0.7, 0.5, 0.49]], (5, 1))
    assert contacts_from_probabilities(probs).tolist() == [[False, True, True, False]] * 5


def test_stance_offsets_cancel_slip_and_floor_offset():
    frames = 40
    points = np.zeros((frames, 4, 3))
    points[:, :, 0] = np.linspace(0.0, 0.08, frames)[:, None]  # planted feet drifting 8 cm
    points[:, :, 2] = -0.03  # 3 cm below the floor
    offsets = stance_root_offsets(points, np.ones((frames, 4), bool), floor_z=0.0, smooth_sigma=0.0,
                                  max_step=0.01)
    corrected = points + offsets[:, None]
    assert np.abs(corrected[:, :, 0] - corrected[0, :, 0]).max() < 1e-9
    np.testing.assert_allclose(corrected[:, :, 2], 0.0, atol=1e-9)


def test_foot_pins_engage_fade_and_break(body, client):
    character = Character(client, body, self_collision=False)
    character.reset(np.array([1.0, 0, 0, 0]), np.zeros(3), np.tile([1.0, 0, 0, 0], (23, 1)))
    here = character.foot_points_world()  # [4, 3]
    lock = FootLock(character, floor_z=0.0, max_force=500.0, release_frames=2, max_slip=0.2, erp=0.2)
    far = here + [0.5, 0.0, 0.0]
    touching = np.array([True, True, False, False])
    np.testing.assert_array_equal(lock.update(touching, here), [1, 1, 0, 0])
    np.testing.assert_array_equal(lock.update(np.zeros(4, bool), here), [0.5, 0.5, 0, 0])  # fading out
    np.testing.assert_array_equal(lock.update(np.zeros(4, bool), here), [0, 0, 0, 0])
    # An anchor out of reach breaks the pin for the whole contact phase ...
    np.testing.assert_array_equal(lock.update(touching, far), [0, 0, 0, 0])
    np.testing.assert_array_equal(lock.update(touching, here), [0, 0, 0, 0])
    # ... and the next phase pins again.
    lock.update(np.zeros(4, bool), here)
    np.testing.assert_array_equal(lock.update(touching, here), [1, 1, 0, 0])


# --- refinement --------------------------------------------------------------------------------


def test_standing_stays_standing(body, standing):
    refined, diag = refine_motion(standing, floor_z=0.0, body_model=body)
    assert not diag.fallback.any()
    joints, _ = metrics.posed_body(body, refined.global_orient, refined.body_pose, refined.betas, refined.transl)
    target, _ = metrics.posed_body(body, standing.global_orient, standing.body_pose, standing.betas, standing.transl)
    pelvis_drop = np.abs(joints[:, 0, 2] - target[:, 0, 2])
    assert pelvis_drop.max() < 0.03
    assert metrics.mpjpe(joints, target) < 15.0


def test_planted_feet_do_not_slide(body, standing):
    noisy = _jittered(standing, seed=2, joint_deg=1.0, drift=0.05)
    refined, diag = refine_motion(noisy, floor_z=0.0, body_model=body)
    held = diag.contacts.all(axis=0)
    assert held.all()  # every foot point is in contact throughout
    # Frame 0 is the input's own first frame; the pins engage at frame 1 and
    # pull the points to their anchors within a frame or two, then hold them.
    feet = _feet(body, refined)[3:, :, :2]  # [T-3, 4, 2] heel and big-toe vertices
    assert np.linalg.norm(feet - feet[:1], axis=-1).max() < 0.005  # < 5 mm over the rest of the phase
    moved_in = np.linalg.norm(_feet(body, noisy)[-1, :, :2] - _feet(body, noisy)[0, :, :2], axis=-1)
    assert moved_in.min() > 0.03  # the input did drag them


def test_adversarial_input_is_nan_free_and_falls_back(body, standing):
    motion = standing.slice(0, 60)
    transl = motion.transl.copy()
    transl[30:] += [4.0, -3.0, 2.0]  # the root teleports
    pose = motion.body_pose.copy()
    pose[20:24, 9:12] = [np.pi - 1e-3, 0.0, 0.0]  # a knee flipped half a turn for 4 frames
    pose[40, :] = np.random.default_rng(3).uniform(-3.0, 3.0, size=69)  # one frame of garbage
    bad = Motion(fps=motion.fps, global_orient=motion.global_orient, body_pose=pose, betas=motion.betas,
                 transl=transl)
    refined, diag = refine_motion(bad, floor_z=0.0, body_model=body)
    for values in (refined.global_orient, refined.body_pose, refined.transl):
        assert np.isfinite(values).all()
    assert diag.fallback[30]  # the teleport cannot be tracked: the kinematic frame is returned
    assert np.isfinite(diag.residual_force).all() and np.isfinite(diag.root_error).all()
    # After the fallback the body restarts at the new place and tracks it again.
    assert np.linalg.norm(refined.transl[-1] - transl[-1]) < 0.1


def test_refinement_is_deterministic(body, standing):
    noisy = _jittered(standing.slice(0, 45), seed=4, joint_deg=1.0, drift=0.02)
    first, diag_a = refine_motion(noisy, body_model=body)
    second, diag_b = refine_motion(noisy, body_model=body)
    assert np.array_equal(first.body_pose, second.body_pose)
    assert np.array_equal(first.transl, second.transl)
    assert np.array_equal(diag_a.residual_force, diag_b.residual_force)


def test_contact_probabilities_are_used(body, standing):
    motion = standing.slice(0, 30)
    probabilities = np.full((30, 4), 0.9)
    probabilities[:, 2:] = 0.1  # the contact head says the right foot is up
    _, diag = refine_motion(motion, contacts=probabilities, floor_z=0.0, body_model=body)
    assert diag.contact_source == "probabilities"
    assert diag.contacts[:, :2].all() and not diag.contacts[:, 2:].any()


def test_load_motion_from_npz_and_session(tmp_path, standing):
    path = tmp_path / "walk.npz"
    save_amass_npz(standing, path, columns=72)
    motion, contacts = load_motion(path)
    np.testing.assert_allclose(motion.body_pose, standing.body_pose)
    assert contacts is None and motion.fps == standing.fps
    session = tmp_path / "s.h5"
    write_example_session(session)
    motion, contacts = load_motion(session)
    assert len(motion) == 12 and contacts.shape == (12, 4) and motion.fps > 0


def test_joint_limits_clamp_only_the_named_joints():
    pose = np.full((2, 69), 2.0)
    clamped = clamp_joint_limits(pose, {"left_knee": [[-0.1, -0.2, -0.2], [2.5, 0.2, 0.2]]})
    np.testing.assert_array_equal(clamped[:, 9:12], [[2.0, 0.2, 0.2]] * 2)  # SMPL joint 4 = columns 9..11
    np.testing.assert_array_equal(np.delete(clamped, [9, 10, 11], axis=1), 2.0)
    assert clamp_joint_limits(pose, None) is pose


def test_refine_script_writes_motion_and_diagnostics(tmp_path, standing):
    source = tmp_path / "in.npz"
    save_amass_npz(standing.slice(0, 20), source, columns=72)
    out = tmp_path / "out.npz"
    script = Path(__file__).resolve().parents[1] / "scripts" / "refine_physics.py"
    subprocess.run([sys.executable, str(script), f"input={source}", f"out={out}", "floor_z=0.0",
                    f"hydra.run.dir={tmp_path / 'hydra'}"], check=True, capture_output=True)
    motion, _ = load_motion(out)
    assert len(motion) == 20 and np.isfinite(motion.body_pose).all()
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["summary"]["frames"] == 20 and len(report["fallback"]) == 20


# --- metrics on hand-made trajectories ----------------------------------------------------------


def test_foot_skating_of_a_sliding_foot():
    frames = 31
    points = np.zeros((frames, 4, 3))
    points[:, 0, 0] = np.arange(frames) * 0.01  # point 0 slides 1 cm per frame
    contacts = np.ones((frames, 4), bool)
    contacts[:, 1:] = False
    assert metrics.foot_skating(points, contacts) == pytest.approx(10.0)
    # Gated by a ground truth that stands still: the same 10 mm/frame, averaged with 3 still points.
    assert metrics.foot_skating(points, gt_points=np.zeros_like(points)) == pytest.approx(2.5)
    # Vertical motion is not skating unless asked for (WHAM's 3-D variant).
    points[:, 1, 2] = np.arange(frames) * 0.01
    contacts[:, 1] = True
    assert metrics.foot_skating(points, contacts) == pytest.approx(5.0)
    assert metrics.foot_skating(points, contacts, horizontal=False) == pytest.approx(10.0)


def test_penetration_and_float_of_hand_made_heights():
    lowest = np.array([-0.02, -0.004, 0.0, 0.003, 0.05])  # m, per frame
    points = np.zeros((5, 2, 3))
    points[:, 0, 2] = lowest
    points[:, 1, 2] = 1.0
    assert metrics.penetration(points) == pytest.approx(20.0 / 5)  # only the 2 cm frame is beyond 5 mm
    assert metrics.penetration(points, tolerance=0.0) == pytest.approx(24.0 / 5)
    assert metrics.floating(points) == pytest.approx(50.0 / 5)
    assert metrics.penetration(points, floor_z=-0.1) == 0.0


def test_jitter_accel_and_mpjpe_of_known_trajectories():
    fps = 30.0
    t = np.arange(20) / fps
    joints = np.zeros((20, 2, 3))
    joints[:, :, 0] = (2.0 * t)[:, None]  # constant velocity: no jitter, no acceleration
    assert metrics.jitter(joints, fps) == pytest.approx(0.0, abs=1e-9)
    cubic = joints.copy()
    cubic[:, 1, 1] = t**3  # third derivative 6 m/s^3 -> 0.6 in units of 10 m/s^3, on one of 2 joints
    assert metrics.jitter(cubic, fps) == pytest.approx(0.3, rel=1e-6)
    quad = joints.copy()
    quad[:, 1, 2] = 0.5 * 4.0 * t**2  # 4 m/s^2 on joint 1 only; joint 0 is the root
    assert metrics.accel_error(quad, joints, fps) == pytest.approx(2.0, rel=1e-6)
    assert metrics.mpjpe(joints + [0.0, 0.03, 0.04], joints) == pytest.approx(50.0)
    assert metrics.mpjpe(joints + [0.0, 0.03, 0.04], joints, align_root=True) == pytest.approx(0.0)
