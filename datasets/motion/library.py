"""The procedural motion library: ``generate(name, seconds, ...) -> Motion``.

Each movement is planned as smooth phase functions of local joint rotations
(:mod:`~wavecap.datasets.motion.gait`, :mod:`~wavecap.datasets.motion.exercises`)
and then grounded with the body model (:mod:`~wavecap.datasets.motion.grounding`):
root height and travel come from the stance feet, and stance feet are locked
to the floor by leg IK, so feet neither float, sink nor slide.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from wavecap.body import BodyModel, build_body_model
from wavecap.datasets.motion import exercises, gait
from wavecap.datasets.motion.angles import rot_z
from wavecap.datasets.motion.curves import smootherstep
from wavecap.datasets.motion.feet import FootSkin
from wavecap.datasets.motion.grounding import Grounded, ground
from wavecap.datasets.motion.motion import NUM_BETAS, Motion
from wavecap.datasets.motion.plan import Plan
from wavecap.datasets.motion.style import Style
from wavecap.geometry import matrix_to_axis_angle, world_from_smpl

Planner = Callable[..., Plan]


@dataclass(frozen=True)
class Movement:
    """A library entry: its planner and the extra options it accepts (with defaults)."""

    planner: Planner
    options: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""


def _walk_in_place(t, style, speed, amplitude):
    return gait.march(t, style, speed, amplitude, np.zeros_like(t))


def _walk_path(t, style, speed, amplitude, curvature, loop_radius, settle_seconds=0.0, distance=None):
    # The heading turns with the distance walked, known after a straight pass.
    if distance is None:
        heading = np.zeros_like(t)
    elif loop_radius == 0.0:
        heading = curvature * distance
    else:
        # Whole circles of radius <= |loop_radius|, closed settle_seconds before the end: the walk comes back
        # to where it began, facing as it began, so a long walk never leaves the room or the sensors' view.
        # A following cross-fade starts settle_seconds before the end and continues the heading found there.
        closed = distance[np.searchsorted(t, t[-1] - settle_seconds, side="right") - 1]
        loops = max(1, math.ceil(closed / (2 * math.pi * abs(loop_radius))))
        heading = math.copysign(2 * math.pi * loops, loop_radius) * np.minimum(distance / max(closed, 1e-9), 1.0)
    return gait.walk(t, style, speed, amplitude, heading)


def _turn(t, style, speed, amplitude, turn_angle):
    # The heading eases in and out over the whole motion (C2, no jerk at the ends).
    heading = turn_angle * smootherstep(t / max(t[-1], 1e-9))
    return gait.march(t, style, speed, amplitude, heading, lift_deg=25.0)


MOVEMENTS: dict[str, Movement] = {
    "walk_in_place": Movement(_walk_in_place, description="marching on the spot"),
    "walk_path": Movement(_walk_path, {"curvature": 0.0, "loop_radius": 0.0, "settle_seconds": 0.0},
                          description="walking forward; curvature (1/m, > 0 turns left) bends the path into an arc; "
                                      "loop_radius (m, > 0 left, < 0 right) instead walks whole circles no wider "
                                      "than that, closed settle_seconds (s) before the end, then straight on"),
    "turn": Movement(_turn, {"turn_angle": math.pi},
                     description="stepping round on the spot by turn_angle (rad, > 0 counter-clockwise)"),
    "squat": Movement(exercises.squat, description="body-weight squats"),
    "lunge_left": Movement(exercises.lunge_left, description="forward lunges, left leg in front"),
    "lunge_right": Movement(exercises.lunge_right, description="forward lunges, right leg in front"),
    "side_lunge": Movement(exercises.side_lunge, description="side lunges, alternating left and right"),
    "arm_raise": Movement(exercises.arm_raise, description="both arms raised sideways overhead and lowered"),
    "jumping_jacks": Movement(exercises.jumping_jacks, description="jumping jacks with flight phases"),
    "bend": Movement(exercises.bend, description="bending the trunk forward at the hips and back up"),
    "idle_sway": Movement(exercises.idle_sway, description="standing, swaying gently and shifting weight"),
}


@lru_cache(maxsize=1)
def standin_model() -> BodyModel:
    """The stand-in body in float64 (built once per process; not shared with other stages)."""
    return build_body_model("stand-in").double()


def _ground_plan(plan: Plan, skin: FootSkin, fps: float, facing: float, start_xy: tuple[float, float]) -> Grounded:
    """Turn the plan's pelvis into the world (facing + heading) and ground it."""
    rot = plan.rot.copy()
    world = world_from_smpl(torch.float64).numpy()
    rot[:, 0] = rot_z(facing + math.pi / 2 + plan.heading) @ world @ plan.rot[:, 0]
    return ground(skin, rot, plan.stance, fps, start_xy, plan.lift)


def generate(
    name: str,
    seconds: float,
    fps: float = 30.0,
    speed: float = 1.0,
    amplitude: float = 1.0,
    betas: np.ndarray | None = None,
    seed: int = 0,
    facing: float = -math.pi / 2,
    start_xy: tuple[float, float] = (0.0, 3.0),
    model: BodyModel | None = None,
    **options: Any,
) -> Motion:
    """Generate one movement of the library.

    Args:
        name: one of :data:`MOVEMENTS`.
        seconds: duration; the motion has round(seconds * fps) frames (>= 2).
        fps: frame rate.
        speed: tempo multiplier (1 = natural tempo; 2 = twice as fast).
        amplitude: multiplier on joint excursions (1 = a full, natural
            range; 0.5 = half as deep / high / long).
        betas: [10] subject shape; zeros when None.
        seed: natural variation (phase, tempo jitter, arm carriage and swing,
            head and trunk wander); the same seed gives a bitwise-identical motion.
        facing: world yaw (rad) the subject faces at the start, counter-
            clockwise from +x; the default -pi/2 faces -y, i.e. towards a
            sensor at the origin looking along +y.
        start_xy: (x, y) metres, pelvis position on the floor plane at frame 0.
        model: body model used to ground the motion; the stand-in when None.
        **options: movement-specific options, see ``MOVEMENTS[name].options``
            (``curvature`` and ``loop_radius`` for walk_path, ``turn_angle`` for turn).

    Returns:
        The motion (world frame), with contacts and per-frame segment = name.

    Raises:
        KeyError: unknown movement name.
        TypeError: an option the movement does not take.
        ValueError: non-positive duration, rate or speed, or betas not [10].
    """
    if name not in MOVEMENTS:
        raise KeyError(f"unknown movement '{name}' (known: {', '.join(MOVEMENTS)})")
    unknown = set(options) - set(MOVEMENTS[name].options)
    if unknown:
        raise TypeError(f"movement '{name}' takes no option(s) {sorted(unknown)}")
    if not (seconds > 0 and fps > 0 and speed > 0 and amplitude >= 0):
        raise ValueError(f"need seconds, fps, speed > 0 and amplitude >= 0 "
                         f"(got {seconds}, {fps}, {speed}, {amplitude})")
    options = {**MOVEMENTS[name].options, **options}
    frames = max(2, int(round(seconds * fps)))
    t = np.arange(frames, dtype=np.float64) / fps
    betas = np.zeros(NUM_BETAS) if betas is None else np.asarray(betas, dtype=np.float64)
    if betas.shape != (NUM_BETAS,):
        raise ValueError(f"betas must have shape ({NUM_BETAS},), got {betas.shape}")
    model = standin_model() if model is None else model
    skin = FootSkin(model, betas)
    style = Style.sample(seed)

    movement = MOVEMENTS[name]
    plan = movement.planner(t, style, speed, amplitude, **options)
    if name == "walk_path" and (options["curvature"] != 0.0 or options["loop_radius"] != 0.0):
        # Walk straight once to measure the distance walked, then along the arc.
        straight = _ground_plan(plan, skin, fps, facing, start_xy)
        step = np.linalg.norm(np.diff(straight.transl[:, :2], axis=0), axis=1)
        distance = np.concatenate([[0.0], np.cumsum(step)])
        plan = movement.planner(t, style, speed, amplitude, distance=distance, **options)
    grounded = _ground_plan(plan, skin, fps, facing, start_xy)
    aa = matrix_to_axis_angle(torch.from_numpy(grounded.rot)).numpy()  # [T, 24, 3]
    return Motion(
        fps=fps,
        global_orient=aa[:, 0],
        body_pose=aa[:, 1:].reshape(frames, -1),
        betas=betas,
        transl=grounded.transl,
        name=name,
        contacts=grounded.contacts,
        segment=np.full(frames, name),
    )
