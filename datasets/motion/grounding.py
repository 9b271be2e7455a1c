"""Put a planned motion on the floor: root height and travel from the stance feet.

A movement is planned as local joint rotations plus a stance schedule (which
foot should be on the floor in each frame). Grounding turns that into world
motion in four steps:

1. **Foot orientation.** In stance a foot keeps the pitch of the plan (so it
   can roll over heel and toes) but loses any roll, and its yaw is frozen at
   touchdown, so a planted foot never spins on the floor.
2. **Root height.** The root is placed so the stance feet rest on the floor
   (their lowest sole vertex at z = 0), averaged with support weights that
   hand the body over from foot to foot smoothly after touchdown and before
   lift-off; in flight (no foot in stance) the lowest foot is put on the
   floor and the planned ``lift`` is added.
3. **Root travel.** Each frame the root moves by minus the (support-
   weighted) horizontal displacement of the stance feet's current contact
   vertex (their lowest sole vertex), so the body walks over its stance feet
   instead of sliding them; in flight it keeps the mean velocity of the last
   ground contact.
4. **Foot lock.** Whatever the plan's two legs disagree about (double
   support) is removed by leg IK: each stance foot is put at its no-slip,
   on-the-floor position; the correction is blended smoothly through swing.
   Where a leg is too short for that (planted, or swinging down towards its
   locked position), the root is lowered smoothly and the IK solved again;
   where a knee would come within ``KNEE_CLEARANCE_M`` of the floor (a deep
   lunge), the root is raised instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d, maximum_filter1d

from wavecap.datasets.motion.angles import J, rot_x, rot_z
from wavecap.datasets.motion.curves import smoothstep
from wavecap.datasets.motion.feet import FootSkin, FootState
from wavecap.datasets.motion.intervals import bridge, runs
from wavecap.datasets.motion.leg_ik import solve_leg
from wavecap.geometry import matrix_to_quaternion, quaternion_to_matrix, slerp, world_from_smpl

SIDES = ("left", "right")
ANKLES = {"left": J["left_ankle"], "right": J["right_ankle"]}
# A heel/toe point of a stance foot counts as touching while it is within this
# of its flat-foot height above the sole (rolling over heel or toes lifts the other).
CONTACT_TOLERANCE_M = 0.01
# Time over which a foot takes over (or hands back) carrying the root.
SUPPORT_RAMP_S = 0.13
# A leg may miss its IK target by this much before the root is lowered.
REACH_TOLERANCE_M = 1e-4
# Lowest a knee joint may come (its surface is ~4-5 cm below it when kneeling).
KNEE_CLEARANCE_M = 0.07
MAX_ADJUSTMENTS = 4


@dataclass
class Grounded:
    """A grounded motion.

    Attributes:
        rot: [T, 24, 3, 3] local rotations, root in the world frame.
        transl: [T, 3] smplx translation, metres.
        contacts: [T, 4] bool, (left_heel, left_toe, right_heel, right_toe).
        ik_miss: [T, 2] metres by which the left/right ankle missed its locked
            position (0 unless a target was out of the leg's reach).
    """

    rot: np.ndarray
    transl: np.ndarray
    contacts: np.ndarray
    ik_miss: np.ndarray


def _slerp_quaternions(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """[N, 4] SLERP from quaternion ``a`` [4] to ``b`` [4] at weights ``w`` [N]."""
    qa = torch.from_numpy(np.array(np.broadcast_to(a, w.shape + a.shape)))
    qb = torch.from_numpy(np.array(np.broadcast_to(b, w.shape + b.shape)))
    return slerp(qa, qb, torch.from_numpy(w)).numpy()


def _flat_foot_targets(foot_rot: np.ndarray, stance: np.ndarray) -> np.ndarray:
    """World rotation deltas Q [T, 3, 3] that level a foot in stance.

    ``Q @ foot_rot`` keeps the foot's pitch, has no roll, and during each
    stance run keeps the yaw the foot had at touchdown. Outside stance Q is
    interpolated (SLERP) between the neighbouring runs.
    """
    r_wfs = world_from_smpl(torch.float64).numpy()
    delta = foot_rot @ r_wfs.T  # rotation from the upright rest foot, world axes
    forward = -delta[..., :, 1]  # the rest foot points along world -y
    pitch = -np.arcsin(np.clip(forward[:, 2], -1.0, 1.0))
    yaw = np.arctan2(forward[:, 0], -forward[:, 1])
    frozen = yaw.copy()
    for first, last in runs(stance):
        frozen[first: last + 1] = yaw[first]
    target = rot_z(frozen) @ rot_x(pitch) @ r_wfs  # [T, 3, 3] level foot, same pitch
    q = matrix_to_quaternion(torch.from_numpy(target @ np.swapaxes(foot_rot, -1, -2))).numpy()  # [T, 4]
    q = bridge(q, stance, _slerp_quaternions)
    return quaternion_to_matrix(torch.from_numpy(q)).numpy()


def _lowest(soles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[T] index and [T] height of the lowest vertex in ``soles`` [T, K, 3]."""
    index = soles[..., 2].argmin(axis=1)
    return index, np.take_along_axis(soles[..., 2], index[:, None], axis=1)[:, 0]


def _contact_slip(soles: np.ndarray) -> np.ndarray:
    """[T, 2] horizontal motion from frame t-1 to t of the lowest vertex at t (row 0 = 0)."""
    index, _ = _lowest(soles)
    now = np.take_along_axis(soles[1:, :, :2], index[1:, None, None], axis=1)[:, 0]
    before = np.take_along_axis(soles[:-1, :, :2], index[1:, None, None], axis=1)[:, 0]
    return np.concatenate([np.zeros((1, 2)), now - before])


def _support_weights(stance: np.ndarray, ramp_frames: float) -> np.ndarray:
    """[T, 2] how much each foot carries the root, summing to 1 where any foot is down.

    A foot's weight eases in over ``ramp_frames`` after touchdown and out
    before lift-off (not at the ends of the motion), so the root never jumps
    when the set of stance feet changes.
    """
    frames = stance.shape[0]
    raw = np.zeros(stance.shape)
    t = np.arange(frames)
    for foot in range(stance.shape[1]):
        for first, last in runs(stance[:, foot]):
            run = t[first: last + 1]
            ease_in = 1.0 if first == 0 else smoothstep((run - first + 1) / ramp_frames)
            ease_out = 1.0 if last == frames - 1 else smoothstep((last - run + 1) / ramp_frames)
            raw[first: last + 1, foot] = ease_in * ease_out
    total = raw.sum(axis=1, keepdims=True)
    return np.divide(raw, total, out=np.zeros_like(raw), where=total > 0)


def _root_path(soles: dict[str, np.ndarray], stance: np.ndarray, lift: np.ndarray, ramp_frames: float) -> np.ndarray:
    """[T, 3] root displacement (metres, relative to frame 0 horizontally) from the stance feet."""
    frames = stance.shape[0]
    heights = np.stack([_lowest(soles[side])[1] for side in SIDES], axis=1)  # [T, 2]
    weights = _support_weights(stance, ramp_frames)  # [T, 2]
    in_flight = ~stance.any(axis=1)
    base = np.where(in_flight, -heights.min(axis=1), -(weights * heights).sum(axis=1))
    slips = np.stack([_contact_slip(soles[side]) for side in SIDES], axis=1)  # [T, 2, 2]
    # Only feet down at t-1 and t say how the root moved from t-1 to t.
    carried = weights * (stance & np.concatenate([stance[:1], stance[:-1]]))
    total = carried.sum(axis=1)
    step = np.zeros((frames, 2))
    # In flight the root keeps the mean velocity of the last ground contact, so
    # hopping in place (crouch back, push forward) takes off with no drift.
    ground_steps: list[np.ndarray] = []
    for t in range(1, frames):
        if total[t] > 0:
            step[t] = -(carried[t, :, None] * slips[t]).sum(axis=0) / total[t]
            ground_steps = ground_steps if total[t - 1] > 0 else []
            ground_steps.append(step[t])
        elif ground_steps:
            step[t] = np.mean(ground_steps, axis=0)
    return np.concatenate([np.cumsum(step, axis=0), (base + lift)[:, None]], axis=1)


def _foot_offsets(world_soles: np.ndarray, stance: np.ndarray) -> np.ndarray:
    """[T, 3] translation that puts a stance foot on the floor without slipping.

    Within each stance run the foot's contact vertex keeps its horizontal
    position from frame to frame (starting where the foot touched down) and
    its lowest vertex is at z = 0; between runs the offset is blended, and
    raised where it would push the swinging foot below the floor.
    """
    _, lowest = _lowest(world_soles)
    slip = _contact_slip(world_soles)
    offset = np.zeros((stance.shape[0], 3))
    for first, last in runs(stance):
        offset[first + 1: last + 1, :2] = -np.cumsum(slip[first + 1: last + 1], axis=0)
        offset[first: last + 1, 2] = -lowest[first: last + 1]
    offset = bridge(offset, stance)
    # A swinging foot may skim the floor but never goes through it.
    offset[~stance, 2] = np.maximum(offset[~stance, 2], -lowest[~stance])
    return offset


def _lock_feet(skin: FootSkin, local: torch.Tensor, plan: FootState, soles: dict[str, np.ndarray],
               level: dict[str, np.ndarray], foot_rot: dict[str, np.ndarray], stance: np.ndarray,
               transl: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    """Leg IK putting each stance foot at its no-slip floor position.

    Returns the new local rotations [T, 24, 3, 3] and [T, 2] metres by which
    each ankle missed its target.
    """
    miss = np.zeros(stance.shape)
    world_joints = plan.joints + torch.from_numpy(transl).to(skin.dtype)[:, None]
    for i, side in enumerate(SIDES):
        offset = _foot_offsets(soles[side] + transl[:, None], stance[:, i])
        target = world_joints[:, ANKLES[side]] + torch.from_numpy(offset).to(skin.dtype)
        foot = torch.from_numpy(level[side] @ foot_rot[side]).to(skin.dtype)
        local, missed = solve_leg(local, plan.rotations, world_joints, side, target, foot)
        miss[:, i] = missed.double().numpy()
    return local, miss


def ground(
    skin: FootSkin,
    rot: np.ndarray,
    stance: np.ndarray,
    fps: float,
    start_xy: tuple[float, float],
    lift: np.ndarray | None = None,
) -> Grounded:
    """Ground a planned motion (see the module docstring for the method).

    Args:
        skin: foot skinning of the subject (body model + betas).
        rot: [T, 24, 3, 3] planned local rotations; the root rotation is
            already in the world frame (heading and facing included).
        stance: [T, 2] bool, left/right foot planned on the floor.
        fps: frame rate (sets the time scale of the support hand-over).
        start_xy: (x, y) metres, pelvis position on the floor plane at frame 0.
        lift: [T] metres added to the root height in flight frames.

    Returns:
        The grounded motion.
    """
    frames = rot.shape[0]
    stance = np.asarray(stance, dtype=bool)
    lift = np.zeros(frames) if lift is None else np.asarray(lift, dtype=np.float64)
    rot_t = torch.from_numpy(rot).to(skin.dtype)
    plan = skin(rot_t)
    joints = plan.joints.double().numpy()
    foot_rot = {side: plan.rotations[:, ANKLES[side]].double().numpy() for side in SIDES}
    level = {side: _flat_foot_targets(foot_rot[side], stance[:, i]) for i, side in enumerate(SIDES)}
    soles = {}
    for side in SIDES:
        ankle = joints[:, ANKLES[side], None]  # [T, 1, 3]
        raw = plan.soles[side].double().numpy()
        soles[side] = ankle + np.einsum("txy,tky->tkx", level[side], raw - ankle)

    ramp = max(1.0, SUPPORT_RAMP_S * fps)
    path = _root_path(soles, stance, lift, ramp)
    pelvis_rest = skin.rest_joints[0].double().numpy()
    transl = path + np.array([start_xy[0] - pelvis_rest[0], start_xy[1] - pelvis_rest[1], 0.0])
    # Where a leg cannot reach its target (planted, or on its way down to
    # it), lower the root smoothly; where a knee would touch the floor (deep
    # lunges), raise it; then solve again.
    window = 2 * int(np.ceil(ramp)) + 1
    for attempt in range(MAX_ADJUSTMENTS + 1):
        local, miss = _lock_feet(skin, rot_t, plan, soles, level, foot_rot, stance, transl)
        final = skin(local, torch.from_numpy(transl).to(skin.dtype))
        short = miss.max(axis=1)  # [T]
        knees = final.joints[:, [J["left_knee"], J["right_knee"]], 2].double().numpy().min(axis=1)
        low = np.maximum(KNEE_CLEARANCE_M - knees, 0.0)  # [T]
        if (short.max() < REACH_TOLERANCE_M and low.max() < REACH_TOLERANCE_M) or attempt == MAX_ADJUSTMENTS:
            break
        change = maximum_filter1d(low, size=window) - maximum_filter1d(short, size=window)
        transl[:, 2] += 1.5 * gaussian_filter1d(change, sigma=ramp / 2)

    heights = final.points[..., 2].double().numpy()  # [T, 4]
    near = heights < skin.point_rest_height + CONTACT_TOLERANCE_M
    contacts = near & np.repeat(stance, 2, axis=1)
    return Grounded(rot=local.double().numpy(), transl=transl, contacts=contacts, ik_miss=miss)
