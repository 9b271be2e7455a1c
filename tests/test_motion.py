"""Motion library: container, procedural movements, grounding, sequencing, AMASS I/O."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from wavecap.datasets.motion import (
    MOVEMENTS,
    Motion,
    foot_contacts,
    foot_points,
    generate,
    load_amass_npz,
    program_from_config,
    save_amass_npz,
    sequence,
)
from wavecap.datasets.motion.feet import FootSkin
from wavecap.datasets.motion.leg_ik import solve_leg
from wavecap.datasets.motion.library import standin_model
from wavecap.datasets.motion.sequence import heading_of
from wavecap.errors import DataError
from wavecap.geometry import axis_angle_to_matrix, geodesic_distance

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
FPS = 30.0
HEAD_TOP = 24  # HybrIK leaf joint (template vertex 411)


@pytest.fixture(scope="module")
def model():
    return standin_model()


@pytest.fixture(scope="module")
def motions():
    """Every library movement, 4 s at 30 fps, default settings (generated once)."""
    return {name: generate(name, 4.0, fps=FPS, seed=1) for name in MOVEMENTS}


def _feet(motion: Motion, model):
    """Posed feet of every frame: FootState (soles per foot, heel/toe points)."""
    skin = FootSkin(model, motion.betas)
    return skin(torch.from_numpy(motion.rotations()), torch.from_numpy(motion.transl))


def _stance_heights(motion: Motion, model) -> np.ndarray:
    """Lowest sole vertex (m) of every foot in contact, over all frames."""
    state = _feet(motion, model)
    lowest = np.stack([state.soles[side][..., 2].min(1).values.numpy() for side in ("left", "right")], axis=1)
    planted = motion.contacts.reshape(len(motion), 2, 2).any(axis=2)
    return lowest[planted]


def _skating_mm(motion: Motion, model) -> np.ndarray:
    """Horizontal displacement (mm/frame) of heel/toe points in contact in both frames."""
    points = _feet(motion, model).points.numpy()
    both = motion.contacts[1:] & motion.contacts[:-1]
    step = np.linalg.norm(points[1:, :, :2] - points[:-1, :, :2], axis=-1) * 1000.0
    return step[both]


def _pelvis(motion: Motion, model) -> np.ndarray:
    return model(**motion.to_torch(torch.float64), return_vertices=False).joints[:, 0].numpy()


# ---------------------------------------------------------------- library


def test_library_has_the_required_movements():
    required = {"walk_in_place", "walk_path", "turn", "squat", "lunge_left", "lunge_right", "side_lunge",
                "arm_raise", "jumping_jacks", "bend", "idle_sway"}
    assert required <= set(MOVEMENTS)


@pytest.mark.parametrize("name", sorted(MOVEMENTS))
def test_movement_is_finite_grounded_and_above_the_floor(name, motions, model):
    motion = motions[name]
    frames = int(round(4.0 * FPS))
    assert len(motion) == frames and motion.fps == FPS
    assert motion.global_orient.shape == (frames, 3) and motion.body_pose.shape == (frames, 69)
    assert motion.transl.shape == (frames, 3) and motion.betas.shape == (10,)
    assert motion.contacts.shape == (frames, 4) and motion.contacts.dtype == bool
    assert list(motion.segment) == [name] * frames
    for array in (motion.global_orient, motion.body_pose, motion.transl):
        assert np.all(np.isfinite(array))
    # Planted feet rest on the floor (lowest sole vertex within +-1 cm).
    heights = _stance_heights(motion, model)
    assert heights.size > 0
    assert np.abs(heights).max() < 0.01
    # Nothing goes through the floor (every 5th frame, all vertices).
    inputs = {key: value[::5] if key != "betas" else value for key, value in motion.to_torch(torch.float64).items()}
    assert model(**inputs, return_vertices=True).vertices[..., 2].min().item() > -0.01
    # Starts where asked: pelvis above (0, 3), facing -y.
    pelvis = _pelvis(motion, model)
    assert np.allclose(pelvis[0, :2], (0.0, 3.0), atol=1e-9)
    facing = heading_of(motion.rotations()[0, 0])
    assert abs(math.remainder(facing + math.pi / 2, 2 * math.pi)) < math.radians(10)


@pytest.mark.parametrize("name", ["walk_path", "walk_in_place", "turn"])
def test_stepping_feet_do_not_slide(name, motions, model):
    slide = _skating_mm(motions[name], model)
    assert slide.size > 50
    assert slide.mean() <= 2.0  # mm/frame at 30 fps
    assert np.abs(_stance_heights(motions[name], model)).max() < 0.01


def test_same_seed_is_bitwise_identical_other_seed_differs():
    a = generate("walk_path", 2.0, seed=7)
    b = generate("walk_path", 2.0, seed=7)
    c = generate("walk_path", 2.0, seed=8)
    for field in ("global_orient", "body_pose", "transl", "contacts"):
        assert np.array_equal(getattr(a, field), getattr(b, field))
    assert not np.allclose(a.body_pose, c.body_pose, atol=1e-3)


@pytest.mark.parametrize(("name", "drop_m"), [("lunge_left", 0.15), ("lunge_right", 0.15), ("squat", 0.25)])
def test_exercises_lower_the_pelvis(name, drop_m, motions, model):
    height = _pelvis(motions[name], model)[:, 2]
    assert height[0] - height.min() > drop_m


def test_lunge_puts_the_named_leg_in_front(motions, model):
    for name, front in (("lunge_left", 7), ("lunge_right", 8)):
        motion = motions[name]
        joints = model(**motion.to_torch(torch.float64), return_vertices=False).joints.numpy()
        deepest = joints[:, 0, 2].argmin()
        back = 15 - front  # the other ankle
        # Facing -y: the front ankle has the smaller y.
        assert joints[deepest, front, 1] < joints[deepest, back, 1] - 0.3


def test_jumping_jacks_leave_the_floor(motions, model):
    motion = motions["jumping_jacks"]
    state = _feet(motion, model)
    lowest = torch.minimum(state.soles["left"][..., 2].min(1).values, state.soles["right"][..., 2].min(1).values)
    flight = lowest.numpy() > 0.03
    assert flight.sum() >= 4
    assert not motion.contacts[flight].any()


def test_walk_path_travels_and_curves(motions, model):
    straight = _pelvis(motions["walk_path"], model)
    assert np.linalg.norm(straight[-1, :2] - straight[0, :2]) > 1.0 * 4.0 / 5.0  # > 1 m in 5 s
    assert straight[-1, 1] < straight[0, 1]  # forward is -y
    walk = generate("walk_path", 5.0, curvature=0.4)
    pelvis = _pelvis(walk, model)
    assert np.linalg.norm(pelvis[-1, :2] - pelvis[0, :2]) > 1.0
    distance = np.linalg.norm(np.diff(pelvis[:, :2], axis=0), axis=1).sum()
    turned = math.remainder(heading_of(walk.rotations()[-1, 0]) - heading_of(walk.rotations()[0, 0]), 2 * math.pi)
    assert turned == pytest.approx(0.4 * distance, rel=0.2)
    assert pelvis[-1, 0] > pelvis[0, 0] + 0.3  # a left turn from facing -y heads towards +x


def test_walk_path_loops_end_where_they_began(model):
    walk = generate("walk_path", 6.0, loop_radius=-0.7)
    pelvis = _pelvis(walk, model)
    assert np.linalg.norm(pelvis[-1, :2] - pelvis[0, :2]) < 0.25  # whole circles close
    centre = pelvis[:, :2].mean(axis=0)
    assert np.linalg.norm(pelvis[:, :2] - centre, axis=1).max() < 0.7 + 0.15  # no wider than asked
    distance = np.linalg.norm(np.diff(pelvis[:, :2], axis=0), axis=1).sum()
    assert distance > 2 * math.pi * 0.7 * 0.8  # it walks the circle, not on the spot
    assert pelvis[len(pelvis) // 4, 0] < pelvis[0, 0] - 0.2  # a right loop from facing -y heads towards -x


def test_a_looping_walk_in_a_program_hands_on_its_starting_heading(model):
    # The next movement's cross-fade starts blend_seconds before the walk ends and continues the heading found
    # there, so the loops close by then: the movements after the walk face where the subject faced before it.
    from wavecap.datasets.motion.program import random_program

    program = random_program(["squat", "walk_path", "squat"], 5.5, seed=3, blend_seconds=0.5,
                             options={"walk_path": {"loop_radius": -0.8}}, model=model)
    headings = np.array([heading_of(r) for r in program.rotations()[:, 0]])  # [T] rad
    before, after = headings[program.segment == "squat"][[0, -1]]
    assert math.remainder(after - before, 2 * math.pi) == pytest.approx(0.0, abs=math.radians(5))
    walking = headings[program.segment == "walk_path"]
    assert np.abs(np.angle(np.exp(1j * (walking - before)))).max() > math.radians(150)  # it did turn round


@pytest.mark.parametrize("first", ["lunge_right", "side_lunge", "jumping_jacks"])
def test_a_movement_ends_on_a_whole_rep_so_the_next_starts_with_the_feet_together(model, first):
    # 6 s of lunges at 4 s per rep: a second rep would still have a foot out when the bend takes over, and
    # the bend's planted feet would keep that split stance.
    from wavecap.datasets.motion.program import random_program

    program = random_program([first, "bend"], 6.0, speed_range=(1.0, 1.0), seed=1, blend_seconds=0.5, model=model)
    joints = model(**program.to_torch(torch.float64), return_vertices=False).joints.numpy()  # [T, J, 3]
    bend = joints[program.segment == "bend"]
    stance = np.linalg.norm(bend[:, 7, :2] - bend[:, 8, :2], axis=1)  # ankle to ankle, horizontal (m)
    assert stance.max() < 0.3
    knees = np.degrees(geodesic_distance(torch.from_numpy(program.rotations()[program.segment == "bend"][:, [4, 5]]),
                                         torch.eye(3, dtype=torch.float64)).numpy())
    assert knees.max() < 15.0  # the bend's own 3-10 deg, not a lunge's


def test_turn_turns_by_the_requested_angle(model):
    motion = generate("turn", 4.0, turn_angle=math.pi / 2)
    turned = heading_of(motion.rotations()[-1, 0]) - heading_of(motion.rotations()[0, 0])
    assert math.remainder(turned - math.pi / 2, 2 * math.pi) == pytest.approx(0.0, abs=math.radians(8))
    pelvis = _pelvis(motion, model)
    assert np.linalg.norm(pelvis[:, :2] - pelvis[0, :2], axis=1).max() < 0.15  # on the spot


def test_unknown_movement_or_option_is_refused():
    with pytest.raises(KeyError):
        generate("moonwalk", 1.0)
    with pytest.raises(TypeError):
        generate("squat", 1.0, curvature=0.3)


def test_taller_subject_stands_taller_with_feet_on_the_floor(model):
    tall, short = np.zeros(10), np.zeros(10)
    tall[0], short[0] = 2.0, -2.0  # stand-in beta 0 = stature
    rest_top = model.rest_joints(torch.tensor(np.stack([tall, short]))).numpy()[:, HEAD_TOP, 1]
    tops = []
    for betas in (tall, short):
        motion = generate("walk_in_place", 2.0, betas=betas)
        assert np.abs(_stance_heights(motion, model)).max() < 0.01
        joints = model(**motion.to_torch(torch.float64), return_vertices=False).joints29.numpy()
        tops.append(joints[:, HEAD_TOP, 2].mean())
    assert (tops[0] - tops[1]) * (rest_top[0] - rest_top[1]) > 0
    assert abs(tops[0] - tops[1]) > 0.05


# ---------------------------------------------------------------- container


def test_motion_validates_its_fields():
    ok = dict(fps=30.0, global_orient=np.zeros((4, 3)), body_pose=np.zeros((4, 69)), betas=np.zeros(10),
              transl=np.zeros((4, 3)))
    Motion(**ok)
    with pytest.raises(DataError) as err:
        Motion(**{**ok, "body_pose": np.zeros((4, 66))})
    assert err.value.field == "body_pose"
    bad = np.zeros((4, 3))
    bad[2, 1] = np.nan
    with pytest.raises(DataError) as err:
        Motion(**{**ok, "transl": bad})
    assert (err.value.field, err.value.frame) == ("transl", 2)
    with pytest.raises(DataError):
        Motion(**{**ok, "fps": 0.0})


def test_slice_and_times(motions):
    motion = motions["squat"]
    part = motion.slice(10, 40)
    assert len(part) == 30
    assert np.array_equal(part.body_pose, motion.body_pose[10:40])
    assert np.array_equal(part.contacts, motion.contacts[10:40])
    assert np.allclose(motion.times()[[0, 30]], [0.0, 1.0])


def test_resample_round_trip_and_slerp(motions):
    motion = motions["jumping_jacks"]
    fine = motion.resample(np.arange(2 * len(motion) - 1) / 60.0)
    assert fine.fps == 60.0 and len(fine) == 2 * len(motion) - 1
    back = fine.resample(np.arange(len(motion)) / 30.0)
    angle = geodesic_distance(torch.from_numpy(back.rotations()), torch.from_numpy(motion.rotations()))
    assert angle.max().item() < 1e-9
    assert np.allclose(back.transl, motion.transl, atol=1e-12)
    assert np.array_equal(back.contacts, motion.contacts)
    # A half-way sample is the SLERP midpoint of its neighbours: equidistant from both.
    rot = torch.from_numpy(motion.rotations())
    mid = torch.from_numpy(fine.rotations()[1::2])
    d0, d1 = geodesic_distance(mid, rot[:-1]), geodesic_distance(mid, rot[1:])
    assert torch.allclose(d0, d1, atol=1e-9)
    assert torch.allclose(d0 + d1, geodesic_distance(rot[:-1], rot[1:]), atol=1e-9)


def test_to_torch_poses_the_body(motions, model):
    inputs = motions["bend"].to_torch()
    assert inputs["betas"].shape == (1, 10) and inputs["body_pose"].dtype == torch.float32
    out = model(**motions["bend"].to_torch(torch.float64), return_vertices=False)
    assert out.joints.shape == (len(motions["bend"]), 24, 3)


# ---------------------------------------------------------------- feet, contacts, IK


def test_foot_points_match_full_skinning(motions, model):
    motion = motions["lunge_left"].slice(0, 40)
    points = foot_points(motion, model)
    vertices = model(**motion.to_torch(torch.float64), return_vertices=True).vertices.numpy()
    assert np.abs(points - vertices[:, [3387, 3216, 6787, 6617]]).max() < 1e-6


def test_foot_contacts_thresholds():
    frames = 30
    points = np.zeros((frames, 4, 3))
    points[:, 0, 2] = 0.01  # still, 1 cm up: contact
    points[:, 1, 2] = 0.05  # still, 5 cm up: too high
    points[:, 2, 0] = np.arange(frames) * 0.5 / 30.0  # on the floor at 0.5 m/s: too fast
    points[:, 3, 0] = np.arange(frames) * 0.1 / 30.0  # on the floor at 0.1 m/s: slow enough
    contacts = foot_contacts(points, fps=30.0)
    assert contacts[:, 0].all() and not contacts[:, 1].any()
    assert not contacts[:, 2].any() and contacts[:, 3].all()
    # The same speed is judged the same at another frame rate.
    assert foot_contacts(points[:, 2:3] * 0.5, fps=60.0)[:, 0].all() == foot_contacts(points[:, 2:3], fps=30.0).all()


def test_generated_contacts_agree_with_threshold_contacts(motions, model):
    motion = motions["walk_path"]
    detected = foot_contacts(foot_points(motion, model), motion.fps)
    assert (detected == motion.contacts).mean() > 0.9


def test_leg_ik_reaches_reachable_targets(model):
    generator = torch.Generator().manual_seed(0)
    frames = 16
    rot = axis_angle_to_matrix(torch.randn(frames, 24, 3, generator=generator, dtype=torch.float64) * 0.2)
    rot[:, 4] = axis_angle_to_matrix(torch.tensor([0.6, 0.0, 0.0], dtype=torch.float64)).expand(frames, 3, 3)
    out = model(rot[:, 0], rot[:, 1:], return_vertices=False)
    # Targets a leg can reach: the ankle of the same pose with another hip and knee bend.
    other = rot.clone()
    other[:, 1] = axis_angle_to_matrix(torch.randn(frames, 3, generator=generator, dtype=torch.float64) * 0.4)
    knee = torch.zeros(frames, 3, dtype=torch.float64)
    knee[:, 0] = torch.rand(frames, generator=generator, dtype=torch.float64) * 1.5
    other[:, 4] = axis_angle_to_matrix(knee)
    target = model(other[:, 0], other[:, 1:], return_vertices=False).joints[:, 7]
    foot = axis_angle_to_matrix(torch.randn(frames, 3, generator=generator, dtype=torch.float64))
    new, miss = solve_leg(rot, out.transforms[..., :3, :3], out.joints, "left", target, foot)
    posed = model(new[:, 0], new[:, 1:], return_vertices=False)
    assert miss.max().item() < 1e-9
    assert (posed.joints[:, 7] - target).norm(dim=-1).max().item() < 1e-9
    assert (posed.transforms[:, 7, :3, :3] - foot).abs().max().item() < 1e-9
    untouched = [j for j in range(24) if j not in (1, 4, 7, 10)]
    assert torch.allclose(posed.joints[:, untouched], out.joints[:, untouched], atol=1e-12)


# ---------------------------------------------------------------- sequence


def test_sequence_joins_smoothly_and_keeps_feet_planted(motions, model):
    parts = [motions["walk_path"], motions["squat"], motions["jumping_jacks"], motions["turn"]]
    joined = sequence(parts, blend_seconds=0.5)
    overlap = int(round(0.5 * FPS))
    assert len(joined) == sum(len(m) for m in parts) - 3 * overlap
    assert joined.name == "walk_path+squat+jumping_jacks+turn"
    assert [s for i, s in enumerate(joined.segment) if i == 0 or s != joined.segment[i - 1]] == [
        "walk_path", "squat", "jumping_jacks", "turn"]
    pelvis = _pelvis(joined, model)
    step = np.linalg.norm(np.diff(pelvis, axis=0), axis=1)
    assert step.max() < 0.1  # m/frame: no jump at the joins
    accel = np.linalg.norm(np.diff(pelvis, 2, axis=0), axis=1) * FPS**2
    assert accel.max() < 60.0  # m/s^2 (jumping-jack take-offs and landings are the peaks)
    heading = heading_of(joined.rotations()[:, 0])
    assert np.abs(np.vectorize(math.remainder)(np.diff(heading), 2 * math.pi)).max() < math.radians(10)
    assert _skating_mm(joined, model).mean() <= 2.0
    assert np.abs(_stance_heights(joined, model)).max() < 0.01
    # The incoming motion continues from the outgoing one: the squat is done near where the walk ended.
    walk_end = _pelvis(motions["walk_path"], model)[-1, :2]
    squat_frames = pelvis[joined.segment == "squat", :2]
    assert np.linalg.norm(squat_frames - walk_end, axis=1).min() < 0.5


def test_sequence_without_contacts_blends_only(motions, tmp_path):
    save_amass_npz(motions["arm_raise"], tmp_path / "raise.npz")
    imported = load_amass_npz(tmp_path / "raise.npz", target_fps=15.0)  # no contacts, other rate
    joined = sequence([motions["bend"], imported], blend_seconds=0.2)
    assert joined.contacts is None and joined.fps == FPS
    assert len(joined) == len(motions["bend"]) + len(motions["arm_raise"]) - 1 - int(round(0.2 * FPS))
    assert np.allclose(joined.body_pose[: len(motions["bend"]) - 6], motions["bend"].body_pose[:-6], atol=1e-9)


def test_sequence_refuses_mixed_subjects():
    a = generate("idle_sway", 1.0)
    b = generate("idle_sway", 1.0, betas=np.full(10, 0.5))
    with pytest.raises(DataError) as err:
        sequence([a, b])
    assert err.value.field == "betas"


# ---------------------------------------------------------------- AMASS


@pytest.mark.parametrize("columns", [156, 72])
def test_amass_round_trip(columns, tmp_path, motions):
    motion = motions["side_lunge"]
    path = tmp_path / "subject_01.npz"
    save_amass_npz(motion, path, columns=columns)
    loaded = load_amass_npz(path)
    assert loaded.name == "subject_01" and loaded.fps == motion.fps and loaded.contacts is None
    assert np.array_equal(loaded.global_orient, motion.global_orient)
    assert np.array_equal(loaded.body_pose, motion.body_pose)  # library hands (joints 22/23) are identity
    assert np.array_equal(loaded.transl, motion.transl) and np.array_equal(loaded.betas, motion.betas)
    with np.load(path) as data:
        assert data["poses"].shape == (len(motion), columns) and data["betas"].shape == (16,)


def test_amass_smplx_layout_and_resampling(tmp_path):
    rng = np.random.default_rng(0)
    frames = 12
    poses = rng.normal(scale=0.3, size=(frames, 165))
    path = tmp_path / "smplx.npz"
    np.savez(path, poses=poses, trans=rng.normal(size=(frames, 3)), betas=rng.normal(size=16),
             mocap_frame_rate=np.float64(120.0), gender="female")
    motion = load_amass_npz(path)
    assert motion.fps == 120.0
    assert np.array_equal(motion.body_pose[:, :63], poses[:, 3:66])
    assert np.array_equal(motion.body_pose[:, 63:], np.zeros((frames, 6)))
    slower = load_amass_npz(path, target_fps=30.0)
    assert slower.fps == 30.0 and len(slower) == 3
    assert np.allclose(slower.transl, motion.transl[[0, 4, 8]])


@pytest.mark.parametrize(
    ("entries", "field"),
    [
        ({"trans": np.zeros((5, 3)), "betas": np.zeros(16), "mocap_framerate": 60.0}, "poses"),
        ({"poses": np.zeros((5, 156)), "betas": np.zeros(16), "mocap_framerate": 60.0}, "trans"),
        ({"poses": np.zeros((5, 156)), "trans": np.zeros((5, 3)), "mocap_framerate": 60.0}, "betas"),
        ({"poses": np.zeros((5, 156)), "trans": np.zeros((5, 3)), "betas": np.zeros(16)}, "mocap_framerate"),
        ({"poses": np.zeros((5, 50)), "trans": np.zeros((5, 3)), "betas": np.zeros(16), "mocap_framerate": 60.0},
         "poses"),
        ({"poses": np.zeros((5, 156)), "trans": np.zeros((4, 3)), "betas": np.zeros(16), "mocap_framerate": 60.0},
         "trans"),
        ({"poses": np.zeros((5, 156)), "trans": np.zeros((5, 3)), "betas": np.zeros(8), "mocap_framerate": 60.0},
         "betas"),
        ({"poses": np.zeros((5, 156)), "trans": np.zeros((5, 3)), "betas": np.zeros(16), "mocap_framerate": -1.0},
         "mocap_framerate"),
    ],
)
def test_amass_bad_files_name_file_and_field(entries, field, tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, **entries)
    with pytest.raises(DataError) as err:
        load_amass_npz(path)
    assert err.value.field == field and err.value.file == str(path)


def test_amass_nan_names_the_frame(tmp_path):
    poses = np.zeros((6, 156))
    poses[3, 10] = np.nan
    path = tmp_path / "nan.npz"
    np.savez(path, poses=poses, trans=np.zeros((6, 3)), betas=np.zeros(16), mocap_framerate=60.0)
    with pytest.raises(DataError) as err:
        load_amass_npz(path)
    assert (err.value.field, err.value.frame) == ("poses", 3)
    with pytest.raises(DataError):
        load_amass_npz(tmp_path / "missing.npz")


# ---------------------------------------------------------------- config


def test_motion_config_builds_a_program():
    with initialize_config_dir(config_dir=str(CONFIGS / "datasets"), version_base=None):
        cfg = compose(config_name="motion", overrides=["movements=[idle_sway,arm_raise]", "seconds=1.5"])
    assert set(cfg.movements) <= set(MOVEMENTS)
    motion = program_from_config(cfg)
    assert len(motion) == 2 * int(round(1.5 * cfg.fps)) - int(round(cfg.blend_seconds * cfg.fps))
    assert set(motion.segment) == {"idle_sway", "arm_raise"}
    again = program_from_config(cfg)
    assert np.array_equal(again.body_pose, motion.body_pose)
