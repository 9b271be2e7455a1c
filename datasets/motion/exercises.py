"""Exercises and standing movements, written as key poses over one repetition.

Each repetition is a phase u in [0, 1) (the style's jittered tempo), and
joint angles ease between key poses (:func:`~wavecap.datasets.motion.curves.key_track`)
or follow smooth cycles. Angles are given in degrees at amplitude 1 and
scaled by ``amplitude``; the stance schedule says which feet are planted.
"Flat" ankles use dorsiflexion = knee + pelvis tilt - hip flexion, which
keeps the sole parallel to the floor for sagittal poses.
"""

from __future__ import annotations

import numpy as np

from wavecap.datasets.motion.curves import bump, cosine_cycle, key_track, smoothstep, window
from wavecap.datasets.motion.plan import Plan, relaxed_upper_body, set_arm, set_leg, set_pelvis
from wavecap.datasets.motion.style import Style

GRAVITY_M_S2 = 9.81
_rad = np.deg2rad

# Repetition schedule shared by the lunges: stand, step out, go down, hold,
# come up, step back, stand.
_LUNGE_U = (0.0, 0.06, 0.26, 0.46, 0.54, 0.74, 0.94, 1.0)


def _reps(t: np.ndarray, style: Style, speed: float, period_s: float) -> tuple[np.ndarray, np.ndarray]:
    """[T] repetition index and [T] phase u in [0, 1); every motion starts at a rep's start
    and ends on a whole rep (:func:`_whole_cycles`)."""
    phase = _whole_cycles(style.phase(t, speed / period_s, offset=0.0))
    return np.floor(phase).astype(np.int64), phase % 1.0


def _whole_cycles(phase: np.ndarray) -> np.ndarray:
    """[T] phase (cycles) held at the end of the last whole cycle it reaches, if it reaches one.

    A cycle the movement's time cannot finish is not started: the subject holds the start pose.
    Cut mid-cycle, a lunge ended with the feet apart, and the next movement, whose feet stay
    planted through the join, was done in that split stance (a bend with the knees at 30-45 deg).
    """
    whole = np.floor(phase[-1]) if len(phase) else 0.0
    return np.minimum(phase, whole) if whole >= 1 else phase


def _keys(u: np.ndarray, values: tuple[float, ...], amp: float) -> np.ndarray:
    """Key track over the lunge schedule, degrees * amp -> radians."""
    return _rad(amp * key_track(u, list(zip(_LUNGE_U, values))))


def _stepping_stance(u: np.ndarray) -> np.ndarray:
    """[T] bool: the stepping foot is down before stepping out, while lunging, and after stepping back."""
    return (u < _LUNGE_U[1]) | ((u >= _LUNGE_U[2]) & (u <= _LUNGE_U[5])) | (u > _LUNGE_U[6])


def _step_bumps(u: np.ndarray) -> np.ndarray:
    """[T] 0..1 swing-foot clearance while stepping out and back."""
    return bump(window(u, _LUNGE_U[1], _LUNGE_U[2])) + bump(window(u, _LUNGE_U[5], _LUNGE_U[6]))


def squat(t: np.ndarray, style: Style, speed: float, amplitude: float) -> Plan:
    """Body-weight squats (~3.2 s per rep); at amplitude 1 the knees bend ~115 deg, the pelvis drops ~45 cm."""
    amp = amplitude * style.amplitude
    _, u = _reps(t, style, speed, 3.2)
    depth = key_track(u, [(0.0, 0.0), (0.1, 0.0), (0.45, 1.0), (0.55, 1.0), (0.9, 0.0), (1.0, 0.0)])
    plan = Plan.standing(len(t))
    knee, hip, tilt = (_rad(deg * amp) * depth for deg in (115.0, 100.0, 20.0))
    knee = knee + _rad(3.0)
    set_pelvis(plan, tilt=tilt)
    for side in ("left", "right"):
        set_leg(plan, side, flexion=hip, knee=knee, dorsi=knee + tilt - hip, abduction=_rad(6.0) * depth)
    reach = _rad(80.0 * amp) * depth  # arms forward for balance
    relaxed_upper_body(plan, t, style, swing=(reach, reach), trunk_flexion=_rad(25.0 * amp) * depth,
                       head_pitch=-_rad(35.0 * amp) * depth)
    return plan


def lunge_left(t: np.ndarray, style: Style, speed: float, amplitude: float) -> Plan:
    """Forward lunges, left leg in front (~4 s per rep); the pelvis drops ~35 cm at amplitude 1."""
    amp = amplitude * style.amplitude
    _, u = _reps(t, style, speed, 4.0)
    plan = Plan.standing(len(t))
    plan.stance[:, 0] = _stepping_stance(u)
    clearance = _step_bumps(u)
    tilt = _keys(u, (0, 0, 0, 4, 4, 0, 0, 0), amp)
    set_pelvis(plan, tilt=tilt)
    front_hip = _keys(u, (0, 0, 35, 80, 80, 35, 0, 0), amp) + _rad(10.0 * amp) * clearance
    front_knee = _keys(u, (3, 3, 8, 88, 88, 8, 3, 3), amp) + _rad(35.0 * amp) * clearance
    set_leg(plan, "left", flexion=front_hip, knee=front_knee, dorsi=front_knee + tilt - front_hip)
    back_hip = _keys(u, (0, 0, -12, -8, -8, -12, 0, 0), amp)
    back_knee = _keys(u, (3, 3, 5, 75, 75, 5, 3, 3), amp)
    # The back heel rises: the foot pitches toes-down and the toes bend to stay flat.
    toes_down = _keys(u, (0, 0, 20, 55, 55, 20, 0, 0), amp)
    set_leg(plan, "right", flexion=back_hip, knee=back_knee, dorsi=back_knee + tilt - back_hip - toes_down,
            toe=toes_down)
    relaxed_upper_body(plan, t, style, trunk_flexion=-tilt)
    return plan


def lunge_right(t: np.ndarray, style: Style, speed: float, amplitude: float) -> Plan:
    """Forward lunges, right leg in front (mirror image of :func:`lunge_left`)."""
    return lunge_left(t, style, speed, amplitude).mirrored()


def side_lunge(t: np.ndarray, style: Style, speed: float, amplitude: float) -> Plan:
    """Side lunges (~4 s per rep), alternating: left on even reps, right on odd."""
    amp = amplitude * style.amplitude
    rep, u = _reps(t, style, speed, 4.0)
    plan = Plan.standing(len(t))
    plan.stance[:, 0] = _stepping_stance(u)
    clearance = _step_bumps(u)
    tilt = _keys(u, (0, 0, 0, 30, 30, 0, 0, 0), amp)
    set_pelvis(plan, tilt=tilt)
    hip = _keys(u, (0, 0, 5, 75, 75, 5, 0, 0), amp) + _rad(10.0 * amp) * clearance
    knee = _keys(u, (3, 3, 5, 95, 95, 5, 3, 3), amp) + _rad(25.0 * amp) * clearance
    set_leg(plan, "left", flexion=hip, knee=knee, dorsi=knee + tilt - hip,
            abduction=_keys(u, (0, 0, 35, 35, 35, 35, 0, 0), amp))
    straight = _rad(3.0)
    set_leg(plan, "right", flexion=tilt, knee=straight, dorsi=straight,
            abduction=_keys(u, (0, 0, 0, 30, 30, 0, 0, 0), amp))
    reach = _keys(u, (0, 0, 0, 45, 45, 0, 0, 0), amp)
    relaxed_upper_body(plan, t, style, swing=(reach, reach), trunk_flexion=_keys(u, (0, 0, 0, 10, 10, 0, 0, 0), amp),
                       head_pitch=-tilt)
    return plan.mirrored(rep % 2 == 1)


def arm_raise(t: np.ndarray, style: Style, speed: float, amplitude: float) -> Plan:
    """Both arms raised sideways to ~80 deg above horizontal and lowered (~3.5 s per rep)."""
    amp = amplitude * style.amplitude
    _, u = _reps(t, style, speed, 3.5)
    raised = amp * key_track(u, [(0.0, 0.0), (0.08, 0.0), (0.45, 1.0), (0.55, 1.0), (0.92, 0.0), (1.0, 0.0)])
    plan = Plan.standing(len(t))
    for side in ("left", "right"):
        set_leg(plan, side, knee=_rad(3.0), dorsi=_rad(3.0))
    relaxed_upper_body(plan, t, style, trunk_flexion=-_rad(4.0) * raised, head_pitch=-_rad(6.0) * raised)
    down = style.arm_down - raised * (style.arm_down + _rad(80.0))
    for side in ("left", "right"):
        set_arm(plan, side, down=down, elbow=_rad(5.0) + style.elbow * (1.0 - np.clip(raised, 0.0, 1.0)))
    return plan


def jumping_jacks(t: np.ndarray, style: Style, speed: float, amplitude: float) -> Plan:
    """Jumping jacks (~1.2 s per out-and-in cycle, two hops), each hop with a flight phase.

    A hop is 60 % stance (crouch and push) and 40 % flight; the legs open or
    close and the root follows a ballistic arc (g = 9.81 m/s^2) while both
    feet are off the floor: ~7 cm at speed 1.
    """
    amp = amplitude * style.amplitude
    cycle_s, stance_fraction = 1.2, 0.6
    phase = _whole_cycles(style.phase(t, speed / cycle_s, offset=0.0))
    hop = (2.0 * phase) % 1.0
    opening = np.floor(2.0 * phase).astype(np.int64) % 2 == 0
    in_stance = hop < stance_fraction
    plan = Plan.standing(len(t))
    plan.stance[:] = in_stance[:, None]
    flight = window(hop, stance_fraction, 1.0)
    duration = (1.0 - stance_fraction) * cycle_s / 2.0 / speed
    airborne = flight * duration
    plan.lift = np.where(in_stance, 0.0, 0.5 * GRAVITY_M_S2 * airborne * (duration - airborne))
    crouch = bump(window(hop, 0.0, stance_fraction))
    knee = _rad(3.0) + _rad(25.0 * amp) * crouch
    hip = _rad(12.0 * amp) * crouch
    spread = np.where(opening, smoothstep(flight), 1.0 - smoothstep(flight))
    spread = np.where(in_stance, np.where(opening, 0.0, 1.0), spread)
    for side in ("left", "right"):
        set_leg(plan, side, flexion=hip, knee=knee, dorsi=knee - hip - _rad(20.0) * bump(flight),
                abduction=_rad(14.0 * amp) * spread)
    relaxed_upper_body(plan, t, style)
    raised = amp * cosine_cycle(phase - 0.15)  # arms highest while the legs are apart
    for side in ("left", "right"):
        set_arm(plan, side, down=style.arm_down - raised * (style.arm_down + _rad(70.0)), elbow=style.elbow)
    return plan


def bend(t: np.ndarray, style: Style, speed: float, amplitude: float) -> Plan:
    """Bending forward at the hips, trunk ~90 deg at amplitude 1, and back up (~4.5 s)."""
    amp = amplitude * style.amplitude
    _, u = _reps(t, style, speed, 4.5)
    depth = key_track(u, [(0.0, 0.0), (0.08, 0.0), (0.42, 1.0), (0.58, 1.0), (0.92, 0.0), (1.0, 0.0)])
    plan = Plan.standing(len(t))
    tilt = _rad(50.0 * amp) * depth
    spine = _rad(40.0 * amp) * depth
    sway = _rad(6.0 * amp) * depth  # hips move back over the heels to keep balance
    knee = _rad(3.0) + _rad(7.0 * amp) * depth
    set_pelvis(plan, tilt=tilt)
    for side in ("left", "right"):
        set_leg(plan, side, flexion=tilt + sway, knee=knee, dorsi=knee - sway)
    hang = 0.9 * (tilt + spine)  # arms hang under gravity
    relaxed_upper_body(plan, t, style, swing=(hang, hang), trunk_flexion=spine, head_pitch=-_rad(20.0 * amp) * depth)
    return plan


def idle_sway(t: np.ndarray, style: Style, speed: float, amplitude: float) -> Plan:
    """Quiet standing: slow side-to-side weight shift, fore-aft sway, breathing."""
    amp = amplitude * style.amplitude
    phase = style.phase(t, speed / 5.0)
    lateral = _rad(3.0 * amp) * np.sin(2.0 * np.pi * phase)
    fore_aft = _rad(1.5 * amp) * np.sin(2.0 * np.pi * 0.63 * phase + 1.0)
    breath = _rad(1.0 * amp) * np.sin(2.0 * np.pi * t * speed / 4.0)
    plan = Plan.standing(len(t))
    knee = _rad(3.0)
    for side, sign in (("left", 1.0), ("right", -1.0)):
        set_leg(plan, side, flexion=fore_aft, knee=knee, dorsi=knee - fore_aft, abduction=sign * lateral)
    relaxed_upper_body(plan, t, style, trunk_bend=0.8 * lateral, trunk_flexion=breath)
    return plan
