"""The tracking simulation: stable PD, feed-forward torques, root drive and foot pins, per substep.

Stable PD here is PyBullet's ``STABLE_PD_CONTROL`` plugin. It predicts each
step with its own model of the body, built on the first call and cached, in
which the pelvis floats freely. The real pelvis is held by the root drive and
the feet, so with the true pelvis mass the plugin under-drives the joints
near the root (the upper body trailed its targets by 30-50 mm while walking);
with an effectively fixed pelvis (x1000) it over-drives them and the trunk
diverged whenever the pelvis did move. The plugin's model is therefore built
with the pelvis ``spd_base_mass_scale`` (x10) times heavier, after which the
real mass is restored; the collision shapes the plugin reads are the links'
inertia boxes, so the rest of its model is exact
(:mod:`wavecap.physics.character`).

A frame whose joint speeds or pelvis error exceed the configured limits (or
whose state is not finite) is a divergence: the kinematic input frame is
returned for it, the pins are dropped and the body restarts from that frame.
"""

from __future__ import annotations

import numpy as np
import pybullet as pb
from tqdm import tqdm

from wavecap.physics.character import FOOT_POINT_NAMES, NUM_JOINTS, Character
from wavecap.physics.foot_lock import FootLock
from wavecap.physics.gains import joint_gains
from wavecap.physics.refine_config import RefineConfig
from wavecap.physics.root_drive import RootDrive
from wavecap.physics.targets import Targets


def _joint_error_deg(sim_quat: np.ndarray, ref_quat: np.ndarray) -> float:
    """Mean angle (deg) between [J, 4] unit quaternions (either sign)."""
    dot = np.clip(np.abs((sim_quat * ref_quat).sum(-1)), 0.0, 1.0)
    return float(np.degrees(2.0 * np.arccos(dot)).mean())


def simulate(
    character: Character,
    targets: Targets,
    couples: list | None,
    contacts: np.ndarray,
    anchors: np.ndarray,
    floor_z: float,
    cfg: RefineConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Track the targets with the simulated character.

    Args:
        character: the body, in a client with gravity and a floor.
        targets: per-substep targets (:func:`~wavecap.physics.targets.substep_targets`).
        couples: per frame, [24][3] feed-forward couples on the links (N m,
            world), or None.
        contacts: [T, 4] bool contact flags.
        anchors: [T, 4, 3] where the pins hold the contact points (m, world).
        floor_z: floor height (m).
        cfg: settings.

    Returns:
        root_quat [T, 4] and joint_quat [T, 23, 4] (w, x, y, z), pelvis
        [T, 3] (m, world), and per-frame diagnostics ``pin_strength``,
        ``residual_force``, ``root_error``, ``joint_error_deg``, ``fallback``.
    """
    cid, uid = character.client_id, character.uid
    frames, substeps = len(targets.frame_pelvis), cfg.substeps
    kp, kd, max_torque = (v.tolist() for v in joint_gains(cfg.gains))
    forces = [[m, m, m] for m in max_torque]
    indices = list(range(NUM_JOINTS))
    zero_velocity = np.zeros((NUM_JOINTS, 3))

    # Bullet's default joint motors would fight the PD torques.
    for j in indices:
        pb.setJointMotorControlMultiDof(uid, j, pb.POSITION_CONTROL, targetPosition=[0, 0, 0, 1], positionGain=0,
                                        velocityGain=1, force=[0, 0, 0], physicsClientId=cid)

    def reset_to(frame: int) -> None:
        """Kinematic state of target ``frame``, lifted so no sole point is below the floor."""
        q = targets.frame_quat[frame]
        character.reset(q[0], targets.frame_pelvis[frame], q[1:])
        lift = floor_z - character.foot_points_world()[:, 2].min()
        if lift > 0:
            character.reset(q[0], targets.frame_pelvis[frame] + [0.0, 0.0, lift], q[1:])

    reset_to(0)
    base_mass = pb.getDynamicsInfo(uid, -1, physicsClientId=cid)[0]
    pb.changeDynamics(uid, -1, mass=base_mass * cfg.spd_base_mass_scale, physicsClientId=cid)
    # A zero-gain command makes the plugin build (and cache) its model now.
    pb.setJointMotorControlMultiDofArray(uid, indices, pb.STABLE_PD_CONTROL, targetPositions=targets.joint_xyzw[0],
                                        positionGains=[0.0] * NUM_JOINTS, velocityGains=[0.0] * NUM_JOINTS,
                                        forces=[[0.0, 0.0, 0.0]] * NUM_JOINTS, physicsClientId=cid)
    pb.changeDynamics(uid, -1, mass=base_mass, physicsClientId=cid)

    root = RootDrive(character, cfg.root_max_force, cfg.root_erp)
    pins = FootLock(character, floor_z, cfg.pin_max_force, cfg.pin_release_frames, cfg.pin_max_slip, cfg.pin_erp)
    # The fixed constraint closes a fraction erp of its error per step, so it
    # trails a moving target by (1 - erp) / erp steps: aim that far ahead.
    lead = int(round((1.0 - cfg.root_erp) / max(cfg.root_erp, 1e-3)))
    last = len(targets.pelvis) - 1

    root_quat = np.zeros((frames, 4))
    pelvis = np.zeros((frames, 3))
    joint_quat = np.zeros((frames, NUM_JOINTS, 4))
    diag = {name: np.zeros(frames) for name in ("residual_force", "root_error", "joint_error_deg")}
    diag["pin_strength"] = np.zeros((frames, len(FOOT_POINT_NAMES)))
    diag["fallback"] = np.zeros(frames, dtype=bool)

    def record(frame: int) -> bool:
        """Store the simulated state of ``frame``; False when it diverged."""
        rq, pv, jq, speed = character.read()
        finite = np.isfinite(rq).all() and np.isfinite(pv).all() and np.isfinite(jq).all()
        error = float(np.linalg.norm(pv - targets.frame_pelvis[frame])) if finite else np.inf
        joint_error = _joint_error_deg(jq, targets.frame_quat[frame, 1:]) if finite else np.inf
        if not (error <= cfg.max_root_error and joint_error <= cfg.max_joint_error_deg
                and speed.max() <= cfg.max_joint_speed):
            return False
        root_quat[frame], pelvis[frame], joint_quat[frame] = rq, pv, jq
        diag["root_error"][frame], diag["joint_error_deg"][frame] = error, joint_error
        return True

    record(0)
    for frame in tqdm(range(1, frames), desc="physics", disable=not cfg.progress, mininterval=1.0):
        diag["pin_strength"][frame] = pins.update(contacts[frame], anchors[frame])
        for sub in range((frame - 1) * substeps + 1, frame * substeps + 1):
            ahead = min(sub + lead, last)
            root.track(targets.pelvis[ahead], targets.root_xyzw[ahead])
            pb.setJointMotorControlMultiDofArray(
                uid, indices, pb.STABLE_PD_CONTROL, targetPositions=targets.joint_xyzw[sub],
                targetVelocities=targets.joint_velocity[sub] if cfg.velocity_targets else zero_velocity,
                positionGains=kp, velocityGains=kd, forces=forces, physicsClientId=cid)
            if couples is not None:
                for link, couple in enumerate(couples[frame], start=-1):
                    pb.applyExternalTorque(uid, link, couple, pb.WORLD_FRAME, physicsClientId=cid)
            pb.stepSimulation(physicsClientId=cid)
        diag["residual_force"][frame] = root.force()
        if not record(frame):
            # Divergence: hand back the kinematic frame and restart from it.
            diag["fallback"][frame] = True
            root_quat[frame], joint_quat[frame] = targets.frame_quat[frame, 0], targets.frame_quat[frame, 1:]
            pelvis[frame] = targets.frame_pelvis[frame]
            pins.release_all()
            reset_to(frame)
    return root_quat, pelvis, joint_quat, diag
