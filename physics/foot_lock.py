"""Foot stabilisation: force-limited pins at the contact points.

PhysCap keeps contacting heel/toe points from sliding by bounding their
velocity in its QP. The equivalent here: at touchdown a point-to-point
constraint pins the contact point to its anchor (where the targets hold it
during this contact phase, on the floor), with a force bound; at lift-off the bound ramps to zero over a few frames before the
pin is removed, so the foot is released smoothly instead of being snapped
free. A pin whose point is further than ``max_slip`` from it (a wrong
contact flag, or a body restarted elsewhere) breaks at once and stays off
until that contact phase ends, rather than yanking the body across.
"""

from __future__ import annotations

import numpy as np
import pybullet as pb

from wavecap.physics.character import Character


class FootLock:
    """Pins for the four foot contact points.

    Args:
        character: the simulated body.
        floor_z: floor height (m); pins are placed on it.
        max_force: force bound of a fully engaged pin (N).
        release_frames: frames over which a released pin fades out (>= 1).
        max_slip: horizontal distance (m) from the pin at which it breaks.
        erp: error reduction per step of the pins (0..1).
    """

    def __init__(self, character: Character, floor_z: float, max_force: float, release_frames: int,
                 max_slip: float, erp: float) -> None:
        self.character = character
        self.floor_z = float(floor_z)
        self.max_force = float(max_force)
        self.release_frames = max(int(release_frames), 1)
        self.max_slip = float(max_slip)
        self.erp = float(erp)
        count = len(character.foot_point_joints)
        self._pins: list[int | None] = [None] * count
        self._anchors = np.zeros((count, 3))
        self._broken = np.zeros(count, dtype=bool)  # [P] broke during the current contact phase
        self.strength = np.zeros(count)  # [P] 0 (free) .. 1 (fully pinned)

    def _pin(self, k: int, anchor: np.ndarray) -> None:
        c = self.character
        link = int(c.foot_point_joints[k]) - 1
        self._pins[k] = pb.createConstraint(
            c.uid, link, -1, -1, pb.JOINT_POINT2POINT, [0.0, 0.0, 0.0],
            parentFramePosition=c.point_in_com_frame(k).tolist(), childFramePosition=anchor.tolist(),
            physicsClientId=c.client_id)
        pb.changeConstraint(self._pins[k], maxForce=self.max_force, erp=self.erp, physicsClientId=c.client_id)
        self._anchors[k] = anchor
        self.strength[k] = 1.0

    def _unpin(self, k: int) -> None:
        if self._pins[k] is not None:
            pb.removeConstraint(self._pins[k], physicsClientId=self.character.client_id)
        self._pins[k] = None
        self.strength[k] = 0.0

    def update(self, contact: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        """Engage, hold, fade or break the pins for the coming frame.

        Args:
            contact: [P] bool, which points are in contact in this frame.
            anchors: [P, 3] where touching points are pinned (m, world; the
                height is replaced by the floor's).

        Returns:
            [P] pin strength in [0, 1] after the update.
        """
        points = self.character.foot_points_world()  # [P, 3]
        cid = self.character.client_id
        for k, touching in enumerate(contact):
            pinned = self._pins[k] is not None
            self._broken[k] &= bool(touching)  # a new contact phase may pin again
            anchor = self._anchors[k] if pinned else anchors[k]
            if (pinned or touching) and np.linalg.norm(points[k, :2] - anchor[:2]) > self.max_slip:
                self._unpin(k)
                self._broken[k] = bool(touching)
                continue
            if self._broken[k]:
                continue
            if touching and not pinned:
                self._pin(k, np.array([anchors[k, 0], anchors[k, 1], self.floor_z]))
            elif touching and self.strength[k] < 1.0:
                self.strength[k] = 1.0  # touched down again while fading: hold on
                pb.changeConstraint(self._pins[k], maxForce=self.max_force, physicsClientId=cid)
            elif not touching and pinned:
                self.strength[k] -= 1.0 / self.release_frames
                if self.strength[k] <= 1e-9:
                    self._unpin(k)
                else:
                    pb.changeConstraint(self._pins[k], maxForce=self.max_force * self.strength[k],
                                        physicsClientId=cid)
        return self.strength.copy()

    def release_all(self) -> None:
        """Remove every pin at once (after a reset); the next contact phases pin afresh."""
        for k in range(len(self._pins)):
            self._unpin(k)
        self._broken[:] = False
