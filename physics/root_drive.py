"""The bounded residual root wrench: a force-limited fixed constraint on the pelvis.

PhysCap drives the root with a "residual force" next to the ground reaction
forces. In PyBullet the stable form of that is a ``JOINT_FIXED`` constraint
between the pelvis and a world frame that is moved to the input root every
step, with ``maxForce`` as the bound: within the bound the pelvis follows the
input, beyond it physics (gravity, the floor, the feet) wins. An explicit
pelvis PD wrench is unstable because the pelvis alone has little inertia
(``pybullet_physics.md`` 4.2).
"""

from __future__ import annotations

import numpy as np
import pybullet as pb

from wavecap.physics.character import Character


class RootDrive:
    """Pulls the pelvis joint frame towards a target pose with a bounded force.

    Args:
        character: the simulated body.
        max_force: bound on the constraint force (N) and torque (N m); PyBullet
            applies one bound to all six rows.
        erp: error reduction per step (0..1): lower is softer.
    """

    def __init__(self, character: Character, max_force: float, erp: float) -> None:
        self.character = character
        self.max_force = float(max_force)
        self.erp = float(erp)
        cid = character.client_id
        pelvis = pb.getBasePositionAndOrientation(character.uid, physicsClientId=cid)
        # The pivot is the pelvis joint, expressed in the base (COM) frame.
        self.uid = pb.createConstraint(
            character.uid, -1, -1, -1, pb.JOINT_FIXED, [0.0, 0.0, 0.0],
            parentFramePosition=(-character.base_com).tolist(), childFramePosition=list(pelvis[0]),
            physicsClientId=cid)
        pb.changeConstraint(self.uid, maxForce=self.max_force, erp=self.erp, physicsClientId=cid)

    def track(self, pelvis: np.ndarray, root_xyzw: np.ndarray) -> None:
        """Move the target to pelvis joint position [3] (m, world) and rotation (x, y, z, w)."""
        pb.changeConstraint(self.uid, jointChildPivot=pelvis, jointChildFrameOrientation=root_xyzw,
                            maxForce=self.max_force, physicsClientId=self.character.client_id)

    def force(self) -> float:
        """Magnitude of the linear force the constraint applied in the last step (N)."""
        state = pb.getConstraintState(self.uid, physicsClientId=self.character.client_id)
        return float(np.linalg.norm(state[:3]))
