"""A PyBullet articulated humanoid built from an SMPL body's shape.

Topology follows SMPL exactly: the base is the pelvis and SMPL joint ``j``
(1..23) is PyBullet link ``j - 1`` behind a spherical joint at the rest-joint
position for the subject's betas. Links are created with
``URDF_MAINTAIN_LINK_ORDER`` because ``createMultiBody`` otherwise re-orders
them depth-first. Every link frame has the SMPL rest orientation (identity
relative to its parent at rest), so a spherical joint's quaternion is the SMPL
local joint rotation and the link frames reproduce SMPL forward kinematics.

Mass is the body's volume times a density, per link, with each link's
inertial frame at its centre of mass and inertia computed here (PyBullet's
compound-shape inertia is a bounding-box guess). The inertial frames keep
the link axes: Bullet applies a spherical joint's quaternion in the child's
*inertial* frame, so rotated principal axes would make joint quaternions
differ from SMPL's local rotations. Products of inertia are therefore dropped;
the shapes are nearly aligned with the link axes at rest, so they are small.
PyBullet's base pose API moves the base *inertial* frame, not the pelvis joint
frame, so :meth:`Humanoid.set_pose` and :meth:`Humanoid.link_world_transforms`
add and remove the pelvis centre-of-mass offset.

Posing is kinematic (reset calls, no simulation step); controllers that drive
the same body dynamically are built on top of this class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pybullet as pb
import torch

from wavecap.body import BodyModel
from wavecap.body.skeleton import NUM_SMPL_JOINTS, SMPL_JOINT_NAMES, SMPL_PARENTS
from wavecap.geometry.rotations import axis_angle_to_quaternion, matrix_to_quaternion, quaternion_wxyz_to_xyzw
from wavecap.physics.body_shapes import fit_link_shapes, link_color
from wavecap.physics.primitives import MassProperties, Primitive, inertia_box, mass_properties

_GEOM = {"sphere": pb.GEOM_SPHERE, "capsule": pb.GEOM_CAPSULE, "cylinder": pb.GEOM_CYLINDER, "box": pb.GEOM_BOX}


@dataclass
class HumanoidConfig:
    """How the humanoid is built.

    Attributes:
        density: kg/m^3 of every link (the human body is close to water).
        lateral_friction: Coulomb friction coefficient of every link.
        restitution: bounciness of every link (0 = none).
        self_collision: let links collide with each other.
        collide_with_parents: when self-colliding, also test a link against
            its ancestors; off by default because neighbouring primitives
            overlap at the joints and would push each other apart.
        visual: create coloured visual shapes (needed for rendering).
        collision: collision geometry: ``"fitted"`` uses the mesh-fitted
            primitives; ``"inertia_boxes"`` one box per link with the link's
            mass and inertia (:func:`~wavecap.physics.primitives.inertia_box`),
            needed for PyBullet's stable PD (visuals stay fitted; mass and
            inertia come from the fitted primitives either way).
    """

    density: float = 1000.0
    lateral_friction: float = 0.9
    restitution: float = 0.0
    self_collision: bool = True
    collide_with_parents: bool = False
    visual: bool = True
    collision: str = "fitted"


def _quat_xyzw(R: np.ndarray) -> list[float]:
    """PyBullet (x, y, z, w) quaternion of a [3, 3] rotation."""
    q = quaternion_wxyz_to_xyzw(matrix_to_quaternion(torch.as_tensor(R, dtype=torch.float64)))
    return q.tolist()


def _quaternions(pose: np.ndarray | torch.Tensor, joints: int) -> torch.Tensor:
    """[joints, 4] float64 (w, x, y, z) from axis-angle [joints*3] / [joints, 3] or matrices [joints, 3, 3]."""
    pose = torch.as_tensor(np.asarray(pose, dtype=np.float64))
    if pose.shape[-2:] == (3, 3) and pose.numel() == 9 * joints:
        return matrix_to_quaternion(pose.reshape(joints, 3, 3))
    if pose.numel() != 3 * joints:
        raise ValueError(f"expected {joints} axis-angles or rotation matrices, got shape {tuple(pose.shape)}")
    return axis_angle_to_quaternion(pose.reshape(joints, 3))


class Humanoid:
    """SMPL-shaped articulated body in a PyBullet client.

    Args:
        client_id: PyBullet physics client.
        body_model: the body model whose shape and skeleton are copied.
        betas: [K] shape coefficients of the subject (zeros when None).
        config: construction options (density, friction, collisions, visuals).

    Attributes:
        body_uid: PyBullet body id.
        joint_to_link: PyBullet link index of each SMPL joint (-1 = base).
        rest_joints: [24, 3] rest joints for the betas, SMPL canonical (m).
        shapes: per SMPL joint, the primitives of its link (link frame).
        collision_shapes: per SMPL joint, the link's collision primitives
            (``shapes`` or their inertia boxes, see ``HumanoidConfig.collision``).
        mass_properties: per SMPL joint, the link's mass properties.
    """

    def __init__(
        self,
        client_id: int,
        body_model: BodyModel,
        betas: np.ndarray | torch.Tensor | None = None,
        config: HumanoidConfig | None = None,
    ) -> None:
        self.client_id = client_id
        self.config = config or HumanoidConfig()
        betas_t = torch.zeros(1, body_model.num_betas) if betas is None else torch.as_tensor(
            np.asarray(betas, dtype=np.float32)).reshape(1, -1)
        with torch.no_grad():
            rest = body_model(torch.zeros(1, 3), torch.zeros(1, 69), betas_t)
            rest_joints = body_model.rest_joints(betas_t)[0, :NUM_SMPL_JOINTS]
        self.rest_joints = rest_joints.double().numpy()  # [24, 3]
        rest_vertices = rest.vertices[0].double().numpy()  # [V, 3]
        weights = body_model.smpl.lbs_weights.double().numpy()  # [V, 24]
        self.shapes = fit_link_shapes(rest_vertices, self.rest_joints, weights)
        self.mass_properties = [mass_properties(p, self.config.density) for p in self.shapes]
        if self.config.collision == "fitted":
            self.collision_shapes = self.shapes
        elif self.config.collision == "inertia_boxes":
            self.collision_shapes = [[inertia_box(m)] for m in self.mass_properties]
        else:
            raise ValueError(f"unknown collision geometry {self.config.collision!r} (fitted, inertia_boxes)")
        self.joint_to_link = tuple(j - 1 for j in range(NUM_SMPL_JOINTS))
        self.body_uid = self._create()
        self._configure_dynamics()
        # Pelvis centre of mass in the pelvis frame: PyBullet's base pose is there.
        self._base_com = self.mass_properties[0].com

    @property
    def total_mass(self) -> float:
        """Sum of the link masses (kg)."""
        return float(sum(m.mass for m in self.mass_properties))

    def _shape_arrays(self, primitives: list[Primitive]) -> dict[str, list]:
        """Arguments shared by createCollisionShapeArray / createVisualShapeArray."""
        radii, half_extents, lengths = [], [], []
        for p in primitives:
            radii.append(p.size[0])
            half_extents.append(list(p.size) if p.kind == "box" else [0.0, 0.0, 0.0])
            lengths.append(p.size[1] if p.kind in ("capsule", "cylinder") else 0.0)
        return {
            "shapeTypes": [_GEOM[p.kind] for p in primitives],
            "radii": radii,
            "halfExtents": half_extents,
            "lengths": lengths,
        }

    def _create(self) -> int:
        cid = self.client_id
        collision, visual = [], []
        for joint, primitives in enumerate(self.shapes):
            colliders = self.collision_shapes[joint]
            collision.append(pb.createCollisionShapeArray(
                **self._shape_arrays(colliders), collisionFramePositions=[p.position.tolist() for p in colliders],
                collisionFrameOrientations=[_quat_xyzw(p.rotation) for p in colliders], physicsClientId=cid))
            if self.config.visual:
                arrays = self._shape_arrays(primitives)
                positions = [p.position.tolist() for p in primitives]
                orientations = [_quat_xyzw(p.rotation) for p in primitives]
                visual.append(pb.createVisualShapeArray(
                    **arrays, visualFramePositions=positions, visualFrameOrientations=orientations,
                    rgbaColors=[list(link_color(joint))] * len(primitives), physicsClientId=cid))
            else:
                visual.append(-1)
        J = self.rest_joints
        links = range(1, NUM_SMPL_JOINTS)
        base: MassProperties = self.mass_properties[0]
        flags = pb.URDF_MAINTAIN_LINK_ORDER
        if self.config.self_collision:
            flags |= pb.URDF_USE_SELF_COLLISION
            if not self.config.collide_with_parents:
                flags |= pb.URDF_USE_SELF_COLLISION_EXCLUDE_ALL_PARENTS
        return pb.createMultiBody(
            baseMass=base.mass,
            baseCollisionShapeIndex=collision[0],
            baseVisualShapeIndex=visual[0],
            basePosition=[0.0, 0.0, 0.0],
            baseOrientation=[0.0, 0.0, 0.0, 1.0],
            baseInertialFramePosition=base.com.tolist(),
            baseInertialFrameOrientation=[0.0, 0.0, 0.0, 1.0],
            linkMasses=[self.mass_properties[j].mass for j in links],
            linkCollisionShapeIndices=[collision[j] for j in links],
            linkVisualShapeIndices=[visual[j] for j in links],
            linkPositions=[(J[j] - J[SMPL_PARENTS[j]]).tolist() for j in links],
            linkOrientations=[[0.0, 0.0, 0.0, 1.0]] * len(links),
            linkInertialFramePositions=[self.mass_properties[j].com.tolist() for j in links],
            linkInertialFrameOrientations=[[0.0, 0.0, 0.0, 1.0]] * len(links),
            linkParentIndices=[self.joint_to_link[SMPL_PARENTS[j]] + 1 for j in links],
            linkJointTypes=[pb.JOINT_SPHERICAL] * len(links),
            linkJointAxis=[[0.0, 0.0, 1.0]] * len(links),
            flags=flags,
            physicsClientId=self.client_id,
        )

    def _configure_dynamics(self) -> None:
        for joint, props in enumerate(self.mass_properties):
            pb.changeDynamics(
                self.body_uid, self.joint_to_link[joint],
                localInertiaDiagonal=np.diag(props.inertia).tolist(),
                lateralFriction=self.config.lateral_friction,
                restitution=self.config.restitution,
                physicsClientId=self.client_id,
            )

    def set_pose(
        self,
        global_orient: np.ndarray | torch.Tensor,
        body_pose: np.ndarray | torch.Tensor,
        transl: np.ndarray | torch.Tensor,
    ) -> None:
        """Pose the body kinematically (no simulation step).

        Afterwards every link frame equals the body model's global joint
        transform for the same parameters and this humanoid's betas.

        Args:
            global_orient: world-frame root rotation, axis-angle [3] or [3, 3].
            body_pose: 23 local joint rotations, axis-angle [69] / [23, 3] or
                matrices [23, 3, 3].
            transl: [3] SMPL translation, world (m).
        """
        quaternions = torch.cat([_quaternions(global_orient, 1), _quaternions(body_pose, NUM_SMPL_JOINTS - 1)])
        self.set_pose_quaternions(quaternions.numpy(), transl)

    def set_pose_quaternions(self, quaternions: np.ndarray, transl: np.ndarray | torch.Tensor) -> None:
        """:meth:`set_pose` from unit quaternions, without any torch work.

        For callers that convert whole sequences at once (one batched
        conversion instead of one per frame).

        Args:
            quaternions: [24, 4] (w, x, y, z) world root rotation, then the
                23 local joint rotations.
            transl: [3] SMPL translation, world (m).
        """
        xyzw = np.asarray(quaternions, dtype=np.float64)[:, [1, 2, 3, 0]]  # PyBullet order
        root = np.reshape(pb.getMatrixFromQuaternion(xyzw[0]), (3, 3))
        # SMPL rotates the body about the rest pelvis joint, then translates.
        pelvis = np.asarray(transl, dtype=np.float64).reshape(3) + self.rest_joints[0]
        cid = self.client_id
        pb.resetBasePositionAndOrientation(
            self.body_uid, (pelvis + root @ self._base_com).tolist(), xyzw[0].tolist(), physicsClientId=cid)
        pb.resetJointStatesMultiDof(
            self.body_uid, list(range(NUM_SMPL_JOINTS - 1)), xyzw[1:].tolist(), physicsClientId=cid)

    def link_world_transforms(self) -> np.ndarray:
        """Link (joint) frames as PyBullet has them, in SMPL joint order.

        Returns:
            [24, 4, 4] float64 T_world_from_link; link ``j`` is SMPL joint
            ``j``, its origin the joint position (m, world).
        """
        cid = self.client_id
        out = np.tile(np.eye(4), (NUM_SMPL_JOINTS, 1, 1))
        pos, orn = pb.getBasePositionAndOrientation(self.body_uid, physicsClientId=cid)
        out[0, :3, :3] = np.asarray(pb.getMatrixFromQuaternion(orn)).reshape(3, 3)
        out[0, :3, 3] = np.asarray(pos) - out[0, :3, :3] @ self._base_com
        states = pb.getLinkStates(
            self.body_uid, list(range(NUM_SMPL_JOINTS - 1)), computeForwardKinematics=1, physicsClientId=cid)
        for joint, state in enumerate(states, start=1):
            out[joint, :3, :3] = np.asarray(pb.getMatrixFromQuaternion(state[5])).reshape(3, 3)
            out[joint, :3, 3] = state[4]
        return out

    @property
    def link_names(self) -> tuple[str, ...]:
        """SMPL joint name of each link, in SMPL order."""
        return SMPL_JOINT_NAMES
