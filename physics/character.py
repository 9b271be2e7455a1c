"""The humanoid set up for dynamics: stable-PD-consistent shapes, foot points, self-collision filter.

:class:`Character` wraps :class:`~wavecap.physics.humanoid.Humanoid` (24 links,
spherical joints, SMPL FK in the rest pose, masses from density) and adds what
simulation needs:

* Collision shapes are the links' inertia boxes
  (``HumanoidConfig.collision = "inertia_boxes"``): PyBullet's stable PD
  builds its model from the first collision shape of each link, and with the
  mesh-fitted, offset capsules it fails to hold even a still pose
  (``pybullet_physics.md`` 4.2, reproduced here: 75 deg mean error). The foot
  links are single boxes either way, so the sole is still exact.
* Four foot contact points on the sole: under the SMPL heel vertex and under
  the toe joint (the ball of the foot), both fixed in the ankle link.
* Self-collision between links that do not touch in the rest pose: PyBullet
  already skips ancestor pairs; neighbours that overlap at rest (siblings at
  the pelvis and the upper spine, the trunk boxes) are filtered out too, or
  they would push each other apart forever.
* Full-state reads and resets (pose and velocities) in SMPL terms.
"""

from __future__ import annotations

import numpy as np
import pybullet as pb
import torch

from wavecap.body import FOOT_VERTEX_IDS, BodyModel
from wavecap.body.skeleton import NUM_SMPL_JOINTS, SMPL_JOINT_NAMES
from wavecap.geometry.rotations import quaternion_to_matrix
from wavecap.physics.humanoid import Humanoid, HumanoidConfig

# Order of the contact points everywhere in wavecap.physics (as in wavecap.datasets.motion).
FOOT_POINT_NAMES: tuple[str, ...] = ("left_heel", "left_toe", "right_heel", "right_toe")
NUM_JOINTS = NUM_SMPL_JOINTS - 1  # actuated spherical joints


class Character:
    """An SMPL-shaped articulated body ready for PD-controlled simulation.

    Args:
        client_id: PyBullet physics client (gravity and floor are the caller's).
        body_model: body model whose shape and skeleton are copied.
        betas: [10] shape coefficients (zeros when None).
        density: kg/m^3 of every link.
        lateral_friction: Coulomb friction of every link.
        self_collision: let links that are apart in the rest pose collide.
        rest_clearance: link pairs closer than this in the rest pose never
            collide with each other (m).

    Attributes:
        humanoid: the underlying :class:`Humanoid` (link ``j - 1`` = SMPL joint ``j``).
        uid: PyBullet body id.
        rest_joints: [24, 3] rest joints, SMPL canonical frame (m).
        foot_point_joints: [4] SMPL joint carrying each foot point.
        foot_points_local: [4, 3] foot points in their joint (link) frames (m).
        excluded_pairs: link pairs (PyBullet indices) whose collision is off.
    """

    def __init__(
        self,
        client_id: int,
        body_model: BodyModel,
        betas: np.ndarray | torch.Tensor | None = None,
        density: float = 1000.0,
        lateral_friction: float = 0.9,
        self_collision: bool = True,
        rest_clearance: float = 0.01,
    ) -> None:
        self.client_id = client_id
        config = HumanoidConfig(density=density, lateral_friction=lateral_friction, self_collision=self_collision,
                                visual=False, collision="inertia_boxes")
        self.humanoid = Humanoid(client_id, body_model, betas, config)
        self.uid = self.humanoid.body_uid
        self.rest_joints = self.humanoid.rest_joints
        self.base_com = self.humanoid.mass_properties[0].com  # [3] pelvis COM in the pelvis frame
        self.foot_point_joints, self.foot_points_local = self._foot_points(body_model, betas)
        self._indices = list(range(NUM_JOINTS))
        self.excluded_pairs = self._filter_self_collision(rest_clearance) if self_collision else []

    @property
    def total_mass(self) -> float:
        """kg."""
        return self.humanoid.total_mass

    def _foot_points(self, body_model: BodyModel, betas) -> tuple[np.ndarray, np.ndarray]:
        """Heel and ball-of-foot points on the sole, in the ankle links' frames.

        Both points sit on the ankle link (the foot): the toe link is light,
        and pinning it makes it buzz against the pin and the floor. The heel
        point is under the SMPL heel vertex, the ball point under the toe
        joint, where the foot rolls in push-off.
        """
        betas_t = torch.zeros(1, body_model.num_betas) if betas is None else torch.as_tensor(
            np.asarray(betas, dtype=np.float32)).reshape(1, -1)
        with torch.no_grad():
            vertices = body_model(torch.zeros(1, 3), torch.zeros(1, 69), betas_t).vertices[0].double().numpy()
        joints, local = [], []
        for name in FOOT_POINT_NAMES:
            side, part = name.split("_")
            ankle = SMPL_JOINT_NAMES.index(f"{side}_ankle")
            box = self.humanoid.collision_shapes[ankle][0]
            if part == "heel":
                point = vertices[FOOT_VERTEX_IDS[name]] - self.rest_joints[ankle]
            else:
                point = self.rest_joints[SMPL_JOINT_NAMES.index(f"{side}_foot")] - self.rest_joints[ankle]
            point[1] = box.position[1] - box.size[1]  # down onto the sole (link y is up at rest)
            joints.append(ankle)
            local.append(point)
        return np.array(joints), np.stack(local)

    def _filter_self_collision(self, clearance: float) -> list[tuple[int, int]]:
        cid = self.client_id
        self.humanoid.set_pose(np.zeros(3), np.zeros(69), np.zeros(3))
        links = [-1, *self._indices]
        excluded = []
        for i, a in enumerate(links):
            for b in links[i + 1:]:
                if pb.getClosestPoints(self.uid, self.uid, clearance, linkIndexA=a, linkIndexB=b, physicsClientId=cid):
                    pb.setCollisionFilterPair(self.uid, self.uid, a, b, 0, physicsClientId=cid)
                    excluded.append((a, b))
        return excluded

    def reset(
        self,
        root_quat: np.ndarray,
        pelvis: np.ndarray,
        joint_quats: np.ndarray,
        root_velocity: tuple[np.ndarray, np.ndarray] | None = None,
        joint_velocities: np.ndarray | None = None,
    ) -> None:
        """Set the full state (pose and velocities, zero when None).

        Args:
            root_quat: [4] (w, x, y, z) world rotation of the pelvis frame.
            pelvis: [3] pelvis joint position, world (m).
            joint_quats: [23, 4] (w, x, y, z) local joint rotations.
            root_velocity: ([3] pelvis-joint linear velocity m/s, [3] angular
                velocity rad/s), world frame.
            joint_velocities: [23, 3] joint angular velocities in the child
                frame (rad/s), PyBullet's spherical-joint convention.
        """
        cid = self.client_id
        rotation = quaternion_to_matrix(torch.as_tensor(root_quat, dtype=torch.float64)).numpy()
        com = np.asarray(pelvis, dtype=np.float64) + rotation @ self.base_com
        xyzw = [float(root_quat[1]), float(root_quat[2]), float(root_quat[3]), float(root_quat[0])]
        pb.resetBasePositionAndOrientation(self.uid, com.tolist(), xyzw, physicsClientId=cid)
        if root_velocity is None:
            linear, angular = np.zeros(3), np.zeros(3)
        else:
            linear, angular = (np.asarray(v, dtype=np.float64) for v in root_velocity)
            linear = linear + np.cross(angular, rotation @ self.base_com)  # the base velocity is the COM's
        pb.resetBaseVelocity(self.uid, linear.tolist(), angular.tolist(), physicsClientId=cid)
        joint_quats = np.asarray(joint_quats, dtype=np.float64)
        velocities = np.zeros((NUM_JOINTS, 3)) if joint_velocities is None else np.asarray(joint_velocities)
        pb.resetJointStatesMultiDof(self.uid, self._indices, joint_quats[:, [1, 2, 3, 0]].tolist(),
                                    velocities.tolist(), physicsClientId=cid)

    def read(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The current state in SMPL terms.

        Returns:
            root_quat [4] (w, x, y, z) world; pelvis [3] joint position (m,
            world); joint_quats [23, 4] (w, x, y, z) local; joint_speed [23]
            angular speed of each joint (rad/s).
        """
        cid = self.client_id
        com, orn = pb.getBasePositionAndOrientation(self.uid, physicsClientId=cid)
        root_quat = np.array([orn[3], orn[0], orn[1], orn[2]])
        rotation = np.asarray(pb.getMatrixFromQuaternion(orn)).reshape(3, 3)
        pelvis = np.asarray(com) - rotation @ self.base_com
        states = pb.getJointStatesMultiDof(self.uid, self._indices, physicsClientId=cid)
        joint_quats = np.array([s[0] for s in states])[:, [3, 0, 1, 2]]  # [23, 4] wxyz
        joint_speed = np.linalg.norm(np.array([s[1] for s in states]), axis=1)  # [23]
        return root_quat, pelvis, joint_quats, joint_speed

    def foot_points_world(self) -> np.ndarray:
        """[4, 3] world positions of the foot contact points (m)."""
        links = [int(j) - 1 for j in self.foot_point_joints]
        states = pb.getLinkStates(self.uid, links, computeForwardKinematics=1, physicsClientId=self.client_id)
        out = np.empty((len(links), 3))
        for k, state in enumerate(states):
            rotation = np.asarray(pb.getMatrixFromQuaternion(state[5])).reshape(3, 3)
            out[k] = np.asarray(state[4]) + rotation @ self.foot_points_local[k]
        return out

    def point_in_com_frame(self, k: int) -> np.ndarray:
        """[3] foot point ``k`` relative to its link's centre of mass (constraints pivot there)."""
        joint = int(self.foot_point_joints[k])
        return self.foot_points_local[k] - self.humanoid.mass_properties[joint].com

