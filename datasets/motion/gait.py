"""Stepping movements: walking along a path, marching in place, turning in place.

Walking uses sagittal joint-angle curves of normal gait (hip, knee and foot
pitch against the gait cycle from heel strike, stance 60 %), with
pelvis rotation, obliquity and tilt, counter-rotating thorax and arm swing.
Marching and turning lift each foot in a sin^2 bump during swing with
straight stance legs.

Feet do not spin on the floor: each foot's yaw is held during its stance
(at the heading of mid-stance) and changes only in swing; the hip twist
(rotation about the vertical) takes up the difference to the pelvis.
"""

from __future__ import annotations

import numpy as np

from wavecap.datasets.motion.curves import bump, periodic_curve, periodic_monotone_curve, window
from wavecap.datasets.motion.intervals import bridge, runs
from wavecap.datasets.motion.plan import Plan, relaxed_upper_body, set_leg, set_pelvis
from wavecap.datasets.motion.style import Style

SIDES = ("left", "right")
WALK_CYCLE_S = 1.05  # stride period at speed 1 (cadence ~114 steps/min)
MARCH_CYCLE_S = 1.1
WALK_DUTY = 0.6  # fraction of the cycle a foot is on the floor
MARCH_DUTY = 0.62

# Gait joint angles in degrees against the cycle (0 = heel strike). The key
# values start from textbook sagittal gait curves; the stance-phase keys were
# then tuned numerically (Nelder-Mead on the grounded result) so the pelvis
# moves at a near-constant speed (within about +-10 % over the stride) and the
# two legs agree in double support (no knee snapping straight at toe-off).
# The ankle follows from the foot: its pitch (toes up > 0) is designed
# instead, flat from loading response to heel rise so the planted foot does
# not rock.
_HIP = periodic_curve([(0.0, 25.0), (0.1, 23.1), (0.3, 3.8), (0.5, -12.9), (0.6, -6.0), (0.75, 18.0), (0.87, 27.0)])
_KNEE = periodic_curve([(0.0, 3.0), (0.12, 11.1), (0.3, 9.9), (0.42, 5.0), (0.5, 9.9), (0.6, 31.1),
                        (0.72, 60.0), (0.85, 30.0), (0.95, 4.0)])
_FOOT_PITCH = periodic_monotone_curve([(0.0, 20.0), (0.1, 0.0), (0.4, 0.0), (0.5, -11.9), (0.6, -49.5),
                                       (0.68, -55.0), (0.8, -20.0), (0.9, 14.0), (0.96, 20.0)])


def _foot_yaw_twist(heading: np.ndarray, pelvis_yaw: np.ndarray, stance: np.ndarray) -> np.ndarray:
    """[T] hip twist that holds a foot's yaw during stance at the heading of mid-stance."""
    yaw = heading.copy()
    for first, last in runs(stance):
        yaw[first: last + 1] = heading[(first + last) // 2]
    yaw = bridge(yaw[:, None], stance)[:, 0]
    return yaw - heading - pelvis_yaw


def walk(t: np.ndarray, style: Style, speed: float, amplitude: float, heading: np.ndarray) -> Plan:
    """Walking forward along the heading (the path follows from grounding).

    Args:
        t: [T] seconds.
        style: seeded variation.
        speed: tempo multiplier (1 = ~1.05 s strides, ~1.2 m/s on an adult).
        amplitude: joint-excursion multiplier (stride length scales with it).
        heading: [T] yaw (rad) the body faces, relative to the facing.

    Returns:
        The plan: stance is the first 60 % of each foot's cycle.
    """
    amp = amplitude * style.amplitude
    phase = style.phase(t, speed / WALK_CYCLE_S)
    plan = Plan.standing(len(t))
    plan.heading = heading
    cycle = {"left": phase % 1.0, "right": (phase + 0.5) % 1.0}
    plan.stance = np.stack([cycle[side] < WALK_DUTY for side in SIDES], axis=1)
    left = cycle["left"]
    pelvis_yaw = np.deg2rad(-4.0 * amp) * np.cos(2 * np.pi * left)
    obliquity = np.deg2rad(3.0 * amp) * np.sin(2 * np.pi * left)
    tilt = np.deg2rad(1.0 * amp) * np.sin(4 * np.pi * left)
    set_pelvis(plan, tilt=tilt, obliquity=obliquity, yaw=pelvis_yaw)
    hips = {}
    for i, side in enumerate(SIDES):
        c = cycle[side]
        hip, knee, pitch_up = (np.deg2rad(curve(c)) * amp for curve in (_HIP, _KNEE, _FOOT_PITCH))
        dorsi = pitch_up - hip + tilt + knee
        # Toes stay flat on the floor while the heel rises (push-off), then relax in swing.
        toe = np.clip(-pitch_up, 0.0, np.deg2rad(45.0)) * (1.0 - window(c, 0.62, 0.7))
        twist = _foot_yaw_twist(heading, pelvis_yaw, plan.stance[:, i])
        # The hips undo the pelvic obliquity so the legs stay upright in the frontal plane.
        set_leg(plan, side, flexion=hip, knee=knee, dorsi=dorsi, abduction=-obliquity * (1 if i == 0 else -1),
                twist=twist, toe=toe)
        hips[side] = hip
    mean_hip = np.deg2rad(8.0) * amp
    swing = (-0.8 * (hips["left"] - mean_hip), -0.8 * (hips["right"] - mean_hip))
    thorax = -1.5 * pelvis_yaw
    relaxed_upper_body(plan, t, style, swing=swing, trunk_twist=thorax, trunk_bend=-obliquity,
                       head_yaw=-(pelvis_yaw + thorax))
    return plan


def march(t: np.ndarray, style: Style, speed: float, amplitude: float, heading: np.ndarray,
          lift_deg: float = 35.0) -> Plan:
    """Stepping in place: each thigh rises ``lift_deg`` * amplitude in swing.

    With a changing ``heading`` this is turning on the spot: feet keep their
    yaw while planted, so the body turns a step at a time.
    """
    amp = amplitude * style.amplitude
    phase = style.phase(t, speed / MARCH_CYCLE_S)
    plan = Plan.standing(len(t))
    plan.heading = heading
    cycle = {"left": phase % 1.0, "right": (phase + 0.5) % 1.0}
    plan.stance = np.stack([cycle[side] < MARCH_DUTY for side in SIDES], axis=1)
    left = cycle["left"]
    pelvis_yaw = np.deg2rad(-2.0 * amp) * np.cos(2 * np.pi * left)
    obliquity = np.deg2rad(2.0 * amp) * np.sin(2 * np.pi * (left - 0.05))
    set_pelvis(plan, tilt=0.0, obliquity=obliquity, yaw=pelvis_yaw)
    hips = {}
    for i, side in enumerate(SIDES):
        raise_ = bump(window(cycle[side], MARCH_DUTY, 1.0))  # [T] 0 in stance, 1 at mid-swing
        hip = np.deg2rad(lift_deg * amp) * raise_
        knee = np.deg2rad(3.0) + np.deg2rad(1.75 * lift_deg * amp) * raise_
        dorsi = knee - hip - np.deg2rad(10.0) * raise_  # foot level in stance, toes slightly down in swing
        twist = _foot_yaw_twist(heading, pelvis_yaw, plan.stance[:, i])
        set_leg(plan, side, flexion=hip, knee=knee, dorsi=dorsi, abduction=-obliquity * (1 if i == 0 else -1),
                twist=twist)
        hips[side] = hip
    # Each arm swings forward with the opposite thigh.
    relaxed_upper_body(plan, t, style, swing=(0.45 * hips["right"], 0.45 * hips["left"]),
                       trunk_twist=-pelvis_yaw, trunk_bend=-obliquity)
    return plan
