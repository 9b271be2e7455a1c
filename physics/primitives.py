"""Solid primitives (sphere, capsule, cylinder, box): volume and inertia.

A link of the humanoid is a union of a few primitives placed in the link's
frame. PyBullet derives inertia from collision shapes only roughly (compound
shapes fall back to their bounding box), so the humanoid computes mass,
centre of mass and inertia itself from these formulas. Units are
metres, kilograms and kg m^2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("sphere", "capsule", "cylinder", "box")


@dataclass(frozen=True)
class Primitive:
    """One solid shape in a link frame.

    Attributes:
        kind: ``"sphere"``, ``"capsule"``, ``"cylinder"`` or ``"box"``.
        size: sphere ``(radius,)``; capsule/cylinder ``(radius, length)`` with
            ``length`` the straight part along the local z axis (a capsule
            adds a hemisphere of ``radius`` at each end); box
            ``(half_x, half_y, half_z)``. Metres.
        position: [3] centre in the link frame (m).
        rotation: [3, 3] R_link_from_shape; a capsule's/cylinder's axis is the
            shape's z axis, as in PyBullet.
        solid_share: fraction of the volume that belongs to this primitive
            alone; < 1 when it overlaps another primitive of the same link and
            the overlap is counted there, so mass is not counted twice.
    """

    kind: str
    size: tuple[float, ...]
    position: np.ndarray
    rotation: np.ndarray
    solid_share: float = 1.0

    def __post_init__(self) -> None:
        expected = {"sphere": 1, "capsule": 2, "cylinder": 2, "box": 3}
        if self.kind not in expected or len(self.size) != expected[self.kind]:
            raise ValueError(f"primitive {self.kind!r} needs {expected.get(self.kind)} sizes, got {self.size}")
        if min(self.size) < 0 or self.size[0] <= 0:
            raise ValueError(f"primitive {self.kind!r} has a non-positive size {self.size}")

    @property
    def volume(self) -> float:
        """Volume in m^3, before ``solid_share``."""
        if self.kind == "sphere":
            return 4.0 / 3.0 * np.pi * self.size[0] ** 3
        if self.kind == "box":
            return 8.0 * float(np.prod(self.size))
        radius, length = self.size
        cylinder = np.pi * radius**2 * length
        return cylinder + (4.0 / 3.0 * np.pi * radius**3 if self.kind == "capsule" else 0.0)

    def unit_inertia(self) -> np.ndarray:
        """[3, 3] inertia per kilogram about the centre, in the shape's own axes."""
        if self.kind == "sphere":
            return np.eye(3) * 0.4 * self.size[0] ** 2
        if self.kind == "box":
            hx, hy, hz = self.size
            return np.diag([hy**2 + hz**2, hx**2 + hz**2, hx**2 + hy**2]) / 3.0
        radius, length = self.size
        if self.kind == "cylinder":
            side = (3 * radius**2 + length**2) / 12.0
            return np.diag([side, side, 0.5 * radius**2])
        # Capsule: cylinder plus two hemispheres whose centres of mass sit
        # 3r/8 beyond the cylinder ends.
        cyl = np.pi * radius**2 * length
        caps = 4.0 / 3.0 * np.pi * radius**3
        total = cyl + caps
        axial = (cyl * 0.5 * radius**2 + caps * 0.4 * radius**2) / total
        side = (cyl * (length**2 / 12.0 + radius**2 / 4.0)
                + caps * (0.4 * radius**2 + length**2 / 4.0 + 3.0 * length * radius / 8.0)) / total
        return np.diag([side, side, axial])


@dataclass(frozen=True)
class MassProperties:
    """Rigid-body mass properties of a link.

    Attributes:
        mass: kg.
        com: [3] centre of mass in the link frame (m).
        inertia: [3, 3] inertia tensor about the COM along the link axes (kg m^2).
    """

    mass: float
    com: np.ndarray
    inertia: np.ndarray


def mass_properties(primitives: list[Primitive], density: float) -> MassProperties:
    """Mass, centre of mass and inertia tensor of a union of primitives.

    Args:
        primitives: the link's shapes, in the link frame.
        density: kg/m^3, the same for every shape.

    Returns:
        The link's mass properties, inertia along the link axes.
    """
    masses = np.array([density * p.volume * p.solid_share for p in primitives])  # [P]
    centres = np.stack([p.position for p in primitives])  # [P, 3]
    mass = float(masses.sum())
    com = (masses[:, None] * centres).sum(axis=0) / mass
    inertia = np.zeros((3, 3))
    for m, p in zip(masses, primitives):
        d = p.position - com
        inertia += m * (p.rotation @ p.unit_inertia() @ p.rotation.T)
        inertia += m * (np.dot(d, d) * np.eye(3) - np.outer(d, d))  # parallel axis
    return MassProperties(mass, com, inertia)


def inertia_box(props: MassProperties) -> Primitive:
    """The box, centred on the centre of mass, with a link's mass and diagonal inertia.

    PyBullet's ``STABLE_PD_CONTROL`` plugin rebuilds the body's dynamics from
    each link's first collision shape, ignoring that shape's offset (it puts
    the shape's centre at the centre of mass). A single box of these sizes
    makes the plugin's model equal to the simulated one, which is what keeps
    stable PD stable (``pybullet_physics.md`` section 4.2).

    Args:
        props: the link's mass properties (inertia along the link axes).

    Returns:
        An axis-aligned box in the link frame; a solid box of mass
        ``props.mass`` has the diagonal of ``props.inertia``.
    """
    inertia = np.diag(props.inertia) / props.mass  # [3] per kilogram
    # Box: I_x = (l_y^2 + l_z^2) / 12, ...; solve for the squared side lengths.
    sides_sq = 6.0 * (inertia.sum() - 2.0 * inertia)  # [3]
    half = 0.5 * np.sqrt(np.maximum(sides_sq, 1e-8))
    return Primitive("box", tuple(float(h) for h in half), props.com.copy(), np.eye(3))
