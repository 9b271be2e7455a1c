"""Feed-forward joint torques: hold the input pose against gravity and the floor's support.

Stable PD alone tracks poorly under load: PyBullet's plugin predicts the
floating body's motion as if it were falling freely, so it does not
compensate gravity, and a squat held in the air drifts 10-18 deg off target
whatever the gains (measured on this character). Tracking controllers add the
torques that statics demands (PhysCap computes them from the full dynamics in
its QP); here they are computed from the input pose itself, per frame:

* gravity: joint ``j`` carries the weight of its subtree, torque
  ``-(c_sub - p_j) x (m_sub g)``;
* support: while feet are in contact the floor carries the body's weight;
  the force ``m g`` is split over the contact points and every joint between
  the pelvis and a contact point transmits it, torque ``-(p_k - p_j) x F_k``.

A joint torque acts on the child link and, reversed, on the parent, so each
link receives one net couple (applied with ``applyExternalTorque``). With
these, the PD terms only have to correct errors, and the root drive only
carries what the feet cannot (flight, imbalance). World frame throughout,
metres, newtons, newton-metres.
"""

from __future__ import annotations

import numpy as np

from wavecap.body.skeleton import SMPL_PARENTS


def subtree_mass_and_com(masses: np.ndarray, coms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mass and centre of mass of the subtree below every joint.

    Args:
        masses: [24] link masses (kg), SMPL joint order.
        coms: [T, 24, 3] link centres of mass (m, world).

    Returns:
        subtree masses [24] and subtree centres of mass [T, 24, 3].
    """
    mass = np.asarray(masses, dtype=np.float64).copy()  # [24]
    moment = coms * mass[:, None]  # [T, 24, 3] first moments
    # SMPL parents precede their children, so one reverse sweep accumulates subtrees.
    for joint in range(len(SMPL_PARENTS) - 1, 0, -1):
        parent = SMPL_PARENTS[joint]
        mass[parent] += mass[joint]
        moment[:, parent] += moment[:, joint]
    return mass, moment / mass[:, None]


def support_forces(contacts: np.ndarray, total_mass: float, gravity: float, share: float) -> np.ndarray:
    """Vertical floor forces at the contact points.

    Args:
        contacts: [T, P] contact weights (bool or 0..1).
        total_mass: body mass (kg).
        gravity: m/s^2.
        share: fraction of the weight the floor carries while in contact.

    Returns:
        [T, P, 3] forces (N), the weight split in proportion to ``contacts``.
    """
    weights = np.asarray(contacts, dtype=np.float64)  # [T, P]
    total = weights.sum(axis=1, keepdims=True)
    split = np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)
    forces = np.zeros(weights.shape + (3,))
    forces[..., 2] = split * total_mass * gravity * share
    return forces


def holding_torques(
    joints: np.ndarray,
    coms: np.ndarray,
    masses: np.ndarray,
    gravity: float,
    points: np.ndarray | None = None,
    point_joints: np.ndarray | None = None,
    forces: np.ndarray | None = None,
) -> np.ndarray:
    """Static joint torques that hold a pose against gravity and contact forces.

    Args:
        joints: [T, 24, 3] joint positions (m, world).
        coms: [T, 24, 3] link centres of mass (m, world).
        masses: [24] link masses (kg).
        gravity: m/s^2 along world -z.
        points: [T, P, 3] contact points (m, world), optional.
        point_joints: [P] SMPL joint (link) each point belongs to.
        forces: [T, P, 3] external forces at the points (N).

    Returns:
        [T, 24, 3] torque each joint applies to its child link (N m, world);
        row 0 (the root, driven separately) is zero.
    """
    sub_mass, sub_com = subtree_mass_and_com(masses, coms)
    weight = np.zeros(3)
    weight[2] = -gravity
    torques = -np.cross(sub_com - joints, sub_mass[:, None] * weight)  # [T, 24, 3]
    if points is not None:
        for k, link in enumerate(np.asarray(point_joints)):
            joint = int(link)
            while joint > 0:  # every joint between the pelvis and the point transmits its force
                torques[:, joint] -= np.cross(points[:, k] - joints[:, joint], forces[:, k])
                joint = SMPL_PARENTS[joint]
    torques[:, 0] = 0.0
    return torques


def link_couples(torques: np.ndarray) -> np.ndarray:
    """Net couple on every link from joint torques.

    Args:
        torques: [T, 24, 3] torque of each joint on its child link.

    Returns:
        [T, 24, 3] per link: its own joint's torque minus its children's.
    """
    couples = np.asarray(torques, dtype=np.float64).copy()
    for joint in range(1, len(SMPL_PARENTS)):
        couples[:, SMPL_PARENTS[joint]] -= torques[:, joint]
    return couples
