"""A planned movement and the joint setters the movements write it with.

A :class:`Plan` is what a movement produces before grounding: local joint
rotations (the pelvis relative to the body's heading), the heading itself,
which feet should be on the floor, and any flight lift. Setters take joint
angles in radians as [T] arrays (or scalars) and write the rotation matrices;
signs follow :mod:`wavecap.datasets.motion.angles`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wavecap.datasets.motion.angles import J, identity_pose, mirror_pose, rot_x, rot_y, rot_z
from wavecap.datasets.motion.style import Style

Angle = np.ndarray | float


@dataclass
class Plan:
    """A movement before grounding.

    Attributes:
        rot: [T, 24, 3, 3] local rotations; ``rot[:, 0]`` is the pelvis
            relative to the heading frame, in SMPL canonical axes.
        heading: [T] yaw in radians (counter-clockwise seen from above)
            relative to the requested facing direction.
        stance: [T, 2] bool, left/right foot planned on the floor.
        lift: [T] metres added to the root height while both feet are off
            the floor (flight).
    """

    rot: np.ndarray
    heading: np.ndarray
    stance: np.ndarray
    lift: np.ndarray

    @classmethod
    def standing(cls, frames: int) -> Plan:
        """Both feet down, rest pose, heading 0."""
        return cls(identity_pose(frames), np.zeros(frames), np.ones((frames, 2), dtype=bool), np.zeros(frames))

    def mirrored(self, frames: np.ndarray | None = None) -> Plan:
        """The mirror-image plan (left <-> right), on all or only the given frames [T] bool."""
        pick = np.ones(len(self.heading), dtype=bool) if frames is None else frames
        rot, heading, stance = self.rot.copy(), self.heading.copy(), self.stance.copy()
        rot[pick] = mirror_pose(self.rot[pick])
        heading[pick] = -self.heading[pick]
        stance[pick] = self.stance[pick][:, ::-1]
        return Plan(rot, heading, stance, self.lift.copy())


def set_pelvis(plan: Plan, tilt: Angle = 0.0, obliquity: Angle = 0.0, yaw: Angle = 0.0) -> None:
    """Pelvis: forward tilt, obliquity (right side down for > 0), yaw (CCW)."""
    plan.rot[:, 0] = rot_y(yaw) @ rot_z(obliquity) @ rot_x(tilt)


def set_leg(plan: Plan, side: str, flexion: Angle = 0.0, knee: Angle = 0.0, dorsi: Angle = 0.0,
            abduction: Angle = 0.0, twist: Angle = 0.0, toe: Angle = 0.0) -> None:
    """One leg: hip flexion/abduction/twist, knee flexion, ankle dorsiflexion, toe extension.

    ``twist`` turns the whole leg about the vertical through the hip
    (counter-clockwise seen from above, on either side). The ankle also gets
    the opposite of the abduction about the forward axis, so an abducted leg
    keeps its sole parallel to the floor.
    """
    sign = 1.0 if side == "left" else -1.0
    hip, knee_j, ankle, foot = (J[f"{side}_{name}"] for name in ("hip", "knee", "ankle", "foot"))
    abduction = np.asarray(abduction)
    plan.rot[:, hip] = rot_y(twist) @ rot_z(sign * abduction) @ rot_x(-np.asarray(flexion))
    plan.rot[:, knee_j] = rot_x(knee)
    plan.rot[:, ankle] = rot_z(-sign * abduction) @ rot_x(-np.asarray(dorsi))
    plan.rot[:, foot] = rot_x(-np.asarray(toe))


def set_spine(plan: Plan, flexion: Angle = 0.0, bend: Angle = 0.0, twist: Angle = 0.0) -> None:
    """Trunk forward flexion, bend to the left, twist (CCW), spread over spine1..3."""
    part = rot_y(np.asarray(twist) / 3) @ rot_z(-np.asarray(bend) / 3) @ rot_x(np.asarray(flexion) / 3)
    for joint in ("spine1", "spine2", "spine3"):
        plan.rot[:, J[joint]] = part


def set_head(plan: Plan, yaw: Angle = 0.0, pitch: Angle = 0.0) -> None:
    """Head turn (CCW) and nod (down for > 0), split between neck and head."""
    part = rot_y(np.asarray(yaw) / 2) @ rot_x(np.asarray(pitch) / 2)
    plan.rot[:, J["neck"]] = part
    plan.rot[:, J["head"]] = part


def set_arm(plan: Plan, side: str, down: Angle, forward: Angle = 0.0, elbow: Angle = 0.0) -> None:
    """One arm: ``down`` below horizontal in the frontal plane, then swung ``forward``; elbow flexion."""
    sign = 1.0 if side == "left" else -1.0
    plan.rot[:, J[f"{side}_shoulder"]] = rot_x(-np.asarray(forward)) @ rot_z(-sign * np.asarray(down))
    plan.rot[:, J[f"{side}_elbow"]] = rot_y(-sign * np.asarray(elbow))


def relaxed_upper_body(plan: Plan, t: np.ndarray, style: Style, swing: tuple[Angle, Angle] = (0.0, 0.0),
                       trunk_twist: Angle = 0.0, trunk_bend: Angle = 0.0, trunk_flexion: Angle = 0.0,
                       head_yaw: Angle = 0.0, head_pitch: Angle = 0.0) -> None:
    """Trunk, head and hanging arms with the style's carriage and wander.

    Args:
        plan: plan to write (spine, neck, head, shoulders, elbows).
        t: [T] seconds.
        style: the performance's variation.
        swing: forward swing of the left and right arm (radians).
        trunk_twist, trunk_bend, trunk_flexion: added trunk motion.
        head_yaw, head_pitch: added head motion (e.g. to cancel trunk twist).
    """
    bend_noise, flex_noise = style.trunk(t)
    set_spine(plan, flexion=style.lean + flex_noise + trunk_flexion, bend=bend_noise + trunk_bend, twist=trunk_twist)
    yaw_noise, pitch_noise = style.head(t)
    set_head(plan, yaw=yaw_noise + head_yaw, pitch=pitch_noise + head_pitch)
    wander = style.arms(t)
    for i, side in enumerate(("left", "right")):
        forward = np.asarray(swing[i]) * style.arm_swing + wander[i]
        set_arm(plan, side, down=style.arm_down, forward=forward, elbow=style.elbow + 0.5 * np.maximum(forward, 0.0))
