"""PhysCap-style physics refinement of a kinematic SMPL motion in PyBullet.

:func:`refine_motion` runs, for one motion:

1. targets: the input, lightly smoothed in time (optional), joint limits
   applied (optional) (:mod:`~wavecap.physics.targets`);
2. contacts from the contact head's probabilities, or from foot height and
   speed; the floor from stance phases when it is not given
   (:mod:`~wavecap.physics.contacts`);
3. root targets made consistent with the contacts, so planted feet neither
   slide nor leave the floor (:mod:`~wavecap.physics.stance`);
4. feed-forward torques holding each frame's pose against gravity and the
   floor's support (:mod:`~wavecap.physics.feedforward`);
5. the simulation: per video frame ``substeps`` steps of stable PD on every
   joint, the bounded residual root wrench, gravity, friction,
   self-collision and the foot pins (:mod:`~wavecap.physics.simulate`);
6. read-back to SMPL parameters with an accurate quaternion log map
   (``wavecap.geometry``; PyBullet's ``getAxisAngleFromQuaternion`` loses
   small angles, ``pybullet_physics.md`` 4.2).

Diverging frames fall back to the kinematic input and are flagged, so the
output never holds NaN. Each call uses a fresh PyBullet client and issues
the same commands for the same input, so it is deterministic on one machine.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pybullet as pb
import torch

from wavecap.body import BodyModel, build_body_model
from wavecap.body.skeleton import NUM_SMPL_JOINTS
from wavecap.datasets.motion import Motion
from wavecap.errors import DataError
from wavecap.geometry import axis_angle_to_matrix, quaternion_to_axis_angle
from wavecap.physics.character import FOOT_POINT_NAMES, Character
from wavecap.physics.contacts import contacts_from_motion, contacts_from_probabilities, estimate_floor, smooth_points
from wavecap.physics.feedforward import holding_torques, link_couples, support_forces
from wavecap.physics.refine_config import Diagnostics, RefineConfig
from wavecap.physics.simulate import simulate
from wavecap.physics.stance import contact_anchors, stance_root_offsets
from wavecap.physics.targets import (
    clamp_joint_limits,
    points_on_links,
    reference_transforms,
    smooth_rotations,
    substep_targets,
)


def _as_motion(motion: Any) -> Motion:
    """A checked :class:`Motion` from a Motion-like object or a 5-tuple."""
    if isinstance(motion, Motion):
        return motion
    if isinstance(motion, tuple):
        if len(motion) != 5:
            raise DataError(f"expected (global_orient, body_pose, betas, transl, fps), got {len(motion)} items")
        global_orient, body_pose, betas, transl, fps = motion
    else:
        global_orient, body_pose, betas, transl, fps = (
            motion.global_orient, motion.body_pose, motion.betas, motion.transl, motion.fps)
    return Motion(fps=fps, global_orient=global_orient, body_pose=body_pose, betas=betas, transl=transl)


def _feedforward(character: Character, transforms: np.ndarray, soles: np.ndarray, contacts: np.ndarray,
                 cfg: RefineConfig) -> list | None:
    """Per-frame link couples [T][24][3] (N m, world) holding each target pose; None when disabled."""
    if not cfg.gravity_compensation:
        return None
    props = character.humanoid.mass_properties
    masses = np.array([m.mass for m in props])  # [24]
    coms = points_on_links(transforms, np.arange(NUM_SMPL_JOINTS), np.stack([m.com for m in props]))  # [T, 24, 3]
    # Blur contact switches over about a frame: a step in the support torques kicks the legs.
    weights = np.clip(smooth_points(contacts.astype(np.float64), 1.0), 0.0, 1.0)
    forces = support_forces(weights, character.total_mass, cfg.gravity, cfg.support_share)
    torques = holding_torques(transforms[:, :, :3, 3], coms, masses, cfg.gravity, soles,
                              character.foot_point_joints, forces)
    return link_couples(torques).tolist()


def refine_motion(
    motion: Motion | tuple,
    contacts: np.ndarray | None = None,
    config: RefineConfig | Mapping[str, Any] | None = None,
    floor_z: float | None = None,
    body_model: BodyModel | None = None,
) -> tuple[Motion, Diagnostics]:
    """Refine a kinematic SMPL motion with PD-controlled physics.

    Args:
        motion: a :class:`~wavecap.datasets.motion.Motion` (or an object with
            its fields), or a tuple ``(global_orient [T, 3], body_pose [T, 69],
            betas [10], transl [T, 3], fps)``; world frame, z up, metres,
            axis-angle; T >= 2.
        contacts: optional [T, 4] per-point contact probabilities (or bools)
            from the contact head, order (left_heel, left_toe, right_heel,
            right_toe); estimated from the motion when None.
        config: :class:`RefineConfig` or a mapping of its fields.
        floor_z: floor height (m, world); estimated from stance phases when None.
        body_model: the body model; the stand-in when None.

    Returns:
        The refined motion (same frames, fps and betas, world frame;
        ``contacts`` = the flags used) and per-frame :class:`Diagnostics`.

    Raises:
        DataError: malformed or non-finite input.
    """
    cfg = config if isinstance(config, RefineConfig) else RefineConfig.from_mapping(config)
    start_time = time.perf_counter()
    motion = _as_motion(motion)
    frames, fps, betas = len(motion), motion.fps, motion.betas
    if frames < 2:
        raise DataError("physics refinement needs at least 2 frames", field="global_orient")
    if contacts is not None and np.shape(contacts) != (frames, len(FOOT_POINT_NAMES)):
        raise DataError(f"contacts must be [{frames}, 4], got {np.shape(contacts)}", field="contacts")
    model = body_model if body_model is not None else build_body_model("stand-in")

    body_pose = clamp_joint_limits(motion.body_pose, cfg.joint_limits)
    aa = np.concatenate([motion.global_orient, body_pose], axis=1).reshape(frames, NUM_SMPL_JOINTS, 3)
    rot = smooth_rotations(axis_angle_to_matrix(torch.from_numpy(aa)), cfg.target_smooth_sigma)  # [T, 24, 3, 3]
    transl = smooth_points(motion.transl, cfg.target_smooth_sigma)  # [T, 3]

    client = pb.connect(pb.DIRECT)
    try:
        pb.setGravity(0.0, 0.0, -cfg.gravity, physicsClientId=client)
        pb.setPhysicsEngineParameter(fixedTimeStep=1.0 / (fps * cfg.substeps), numSubSteps=1,
                                     numSolverIterations=cfg.solver_iterations,
                                     deterministicOverlappingPairs=1, physicsClientId=client)
        character = Character(client, model, betas, density=cfg.density, lateral_friction=cfg.friction,
                              self_collision=cfg.self_collision)
        transforms = reference_transforms(model, rot, betas, transl)  # [T, 24, 4, 4]
        soles = points_on_links(transforms, character.foot_point_joints, character.foot_points_local)  # [T, 4, 3]
        floor_estimated = floor_z is None
        if floor_estimated:
            floor_z = estimate_floor(soles, fps, cfg.contact_speed, cfg.contact_smooth_sigma)
        floor_z = float(floor_z)
        if contacts is not None:
            flags, source = contacts_from_probabilities(contacts, cfg.contact_threshold), "probabilities"
        else:
            flags = contacts_from_motion(soles, fps, floor_z, cfg.contact_height, cfg.contact_speed,
                                         cfg.contact_smooth_sigma, cfg.contact_min_frames)
            source = "estimated"
        if cfg.stance_targets:
            offsets = stance_root_offsets(soles, flags, floor_z, cfg.contact_smooth_sigma,
                                          max_step=cfg.contact_speed / fps)  # [T, 3]
            transl = transl + offsets
            transforms[..., :3, 3] += offsets[:, None]
            soles = soles + offsets[:, None]
        floor = pb.createMultiBody(0.0, pb.createCollisionShape(pb.GEOM_PLANE, physicsClientId=client),
                                   basePosition=[0.0, 0.0, floor_z], physicsClientId=client)
        pb.changeDynamics(floor, -1, lateralFriction=1.0, physicsClientId=client)  # combined: the feet's friction
        pelvis = transl + character.rest_joints[0]  # [T, 3] SMPL rotates about the rest pelvis joint
        targets = substep_targets(rot, pelvis, fps, cfg.substeps)
        couples = _feedforward(character, transforms, soles, flags, cfg)
        anchors = contact_anchors(soles, flags)  # [T, 4, 3]
        root_quat, pelvis_out, joint_quat, diag = simulate(character, targets, couples, flags, anchors, floor_z, cfg)
    finally:
        pb.disconnect(client)

    quats = torch.from_numpy(np.concatenate([root_quat[:, None], joint_quat], axis=1))  # [T, 24, 4] wxyz
    aa_out = quaternion_to_axis_angle(quats).numpy()  # [T, 24, 3]
    refined = Motion(fps=fps, global_orient=aa_out[:, 0], body_pose=aa_out[:, 1:].reshape(frames, -1), betas=betas,
                     transl=pelvis_out - character.rest_joints[0], name=motion.name, contacts=flags)
    diagnostics = Diagnostics(contacts=flags, floor_z=floor_z, floor_estimated=floor_estimated,
                              contact_source=source, seconds=time.perf_counter() - start_time, **diag)
    return refined, diagnostics
