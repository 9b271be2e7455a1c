"""Primitive shapes for each SMPL link, sized from the subject's body model.

Lengths come from the bones (rest joints for the subject's betas), thickness
from the rest-pose surface: each link gets the vertices whose strongest
skinning weight is its joint, and its primitive is sized to follow them. This
keeps the articulated body within a centimetre or two of the body-model
surface, which matters because radar rays and camera pixels hit the
primitives while accuracy is scored against the mesh.

Link kinds: limb capsules from a joint to its child, a sphere for the head,
boxes for the feet (sole at the lowest foot vertex) and, for the pelvis and
spine, a "stadium" prism (a box flanked by two vertical cylinders, whose
cross-section follows an elliptic torso far better than a box does).

All geometry is in the SMPL canonical rest frame (y up, x the body's left,
z forward), which is also every link frame's orientation at rest; positions
are relative to the link's joint. Metres.
"""

from __future__ import annotations

import numpy as np

from wavecap.body.skeleton import NUM_SMPL_JOINTS, SMPL_JOINT_NAMES, SMPL_PARENTS
from wavecap.physics.primitives import Primitive

# Shape kind and the joint the shape reaches to (-1: a leaf, sized by its vertices).
LINK_SHAPES: dict[int, tuple[str, int]] = {
    0: ("stadium", 3), 3: ("stadium", 6), 6: ("stadium", 9), 9: ("stadium", -1),
    1: ("capsule", 4), 2: ("capsule", 5), 4: ("capsule", 7), 5: ("capsule", 8),
    7: ("box", -1), 8: ("box", -1), 10: ("box", -1), 11: ("box", -1),
    12: ("capsule", 15), 15: ("sphere", -1),
    13: ("capsule", 16), 14: ("capsule", 17), 16: ("capsule", 18), 17: ("capsule", 19),
    18: ("capsule", 20), 19: ("capsule", 21), 20: ("capsule", 22), 21: ("capsule", 23),
    22: ("capsule", -1), 23: ("capsule", -1),
}

# RGBA per link: the left side in warm colours, the right side in cool ones,
# the trunk in greys/yellows, so parts and sides are told apart in renders.
LINK_COLORS: dict[str, tuple[float, float, float, float]] = {
    "pelvis": (0.45, 0.45, 0.50, 1.0), "spine1": (0.85, 0.80, 0.35, 1.0),
    "spine2": (0.75, 0.70, 0.30, 1.0), "spine3": (0.90, 0.85, 0.45, 1.0),
    "neck": (0.80, 0.65, 0.55, 1.0), "head": (0.95, 0.78, 0.65, 1.0),
    "left_hip": (0.85, 0.20, 0.15, 1.0), "left_knee": (0.95, 0.45, 0.10, 1.0),
    "left_ankle": (0.70, 0.10, 0.10, 1.0), "left_foot": (0.95, 0.60, 0.45, 1.0),
    "left_collar": (0.80, 0.30, 0.55, 1.0), "left_shoulder": (0.90, 0.15, 0.45, 1.0),
    "left_elbow": (1.00, 0.55, 0.25, 1.0), "left_wrist": (0.75, 0.35, 0.20, 1.0),
    "left_hand": (1.00, 0.75, 0.30, 1.0),
    "right_hip": (0.15, 0.35, 0.85, 1.0), "right_knee": (0.10, 0.70, 0.80, 1.0),
    "right_ankle": (0.10, 0.20, 0.60, 1.0), "right_foot": (0.45, 0.75, 0.95, 1.0),
    "right_collar": (0.35, 0.55, 0.80, 1.0), "right_shoulder": (0.15, 0.60, 0.35, 1.0),
    "right_elbow": (0.25, 0.85, 0.55, 1.0), "right_wrist": (0.20, 0.50, 0.55, 1.0),
    "right_hand": (0.55, 0.90, 0.75, 1.0),
}

# Axial band of a bone whose vertices size a capsule: the ends blend into the
# neighbouring parts and would bias the radius.
_BAND = (0.15, 0.85)
# Percentiles bounding a box / prism: robust to a few blended vertices.
_LO, _HI = 1.0, 99.0
_MIN_VERTICES = 8
# Slices of each trunk link's stadium prism (the trunk tapers towards the neck).
_TORSO_SLICES = 3
# Fallback radius when a link owns too few vertices to be measured (m).
_FALLBACK_RADIUS = 0.03
# Rotation taking a shape's z axis (PyBullet's capsule/cylinder axis) to link y.
_Z_TO_Y = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def _rotation_z_to(direction: np.ndarray) -> np.ndarray:
    """[3, 3] rotation whose third column is the unit vector ``direction``."""
    z = direction / np.linalg.norm(direction)
    helper = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)


def _capsule(verts: np.ndarray, start: np.ndarray, end: np.ndarray | None) -> Primitive:
    """Capsule along a bone, radius the median distance of its mid-bone vertices.

    ``verts`` and ``start`` are in the link frame. ``end`` None marks a leaf
    (hand): the capsule then runs from ``start`` along the vertices' main
    direction to the farthest vertex.
    """
    if end is None:
        centred = verts - start
        direction = np.linalg.svd(centred - centred.mean(axis=0), full_matrices=False)[2][0]
        direction *= np.sign(np.dot(direction, centred.mean(axis=0))) or 1.0
        reach = float(np.percentile(centred @ direction, _HI))
    else:
        direction = end - start
        reach = float(np.linalg.norm(direction))
        direction = direction / reach
    s = (verts - start) @ direction / reach  # [n] axial fraction
    radial = np.linalg.norm(verts - start - np.outer(s * reach, direction), axis=1)  # [n]
    band = (s > _BAND[0]) & (s < _BAND[1])
    pick = radial[band] if band.sum() >= _MIN_VERTICES else radial[(s > 0) & (s < 1)]
    radius = float(np.median(pick)) if len(pick) else _FALLBACK_RADIUS
    if end is None:
        # A leaf's rounded tip should end at the farthest vertex.
        length = max(reach - radius, 1e-3)
        centre = start + direction * (0.5 * length)
    else:
        length = reach
        centre = start + direction * (0.5 * reach)
    return Primitive("capsule", (radius, length), centre, _rotation_z_to(direction))


def _sphere(verts: np.ndarray) -> Primitive:
    lo, hi = np.percentile(verts, _LO, axis=0), np.percentile(verts, _HI, axis=0)
    centre = 0.5 * (lo + hi)
    radius = float(np.median(np.linalg.norm(verts - centre, axis=1)))
    return Primitive("sphere", (radius,), centre, np.eye(3))


def _box(verts: np.ndarray) -> Primitive:
    """Axis-aligned box; its bottom is the lowest vertex, so the sole is exact."""
    lo, hi = np.percentile(verts, _LO, axis=0), np.percentile(verts, _HI, axis=0)
    lo[1] = verts[:, 1].min()
    return Primitive("box", tuple(0.5 * (hi - lo)), 0.5 * (lo + hi), np.eye(3))


def _stadium_slice(verts: np.ndarray, bottom: float, top: float) -> list[Primitive]:
    """Prism from y = ``bottom`` to ``top`` whose stadium cross-section bounds the vertices in x and z."""
    lo, hi = np.percentile(verts, _LO, axis=0), np.percentile(verts, _HI, axis=0)
    lo[1], hi[1] = bottom, top
    centre, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
    radius = float(min(half[0], half[2]))
    flat = float(half[0] - radius)  # half-width of the straight part
    height = float(2 * half[1])
    if flat < 1e-3:
        return [Primitive("cylinder", (radius, height), centre, _Z_TO_Y)]
    side = np.array([flat, 0.0, 0.0])
    # Each cylinder's inner half lies inside the box: count half its volume.
    return [
        Primitive("box", (flat, half[1], radius), centre, np.eye(3)),
        Primitive("cylinder", (radius, height), centre - side, _Z_TO_Y, solid_share=0.5),
        Primitive("cylinder", (radius, height), centre + side, _Z_TO_Y, solid_share=0.5),
    ]


def _stadium(verts: np.ndarray, bottom: float, top: float | None) -> list[Primitive]:
    """Vertical stadium prisms (x wide, z deep) stacked over the link's height.

    ``bottom``/``top`` are the y limits in the link frame; a None top means
    "the vertices' extent". The height is cut into ``_TORSO_SLICES`` slices,
    each sized by its own vertices, so a tapering trunk is followed. Stacking
    the trunk links joint to joint keeps its volume (and mass) from being
    counted twice.
    """
    top = float(np.percentile(verts[:, 1], _HI)) if top is None else top
    edges = np.linspace(bottom, top, _TORSO_SLICES + 1)
    prisms: list[Primitive] = []
    for lower, upper in zip(edges[:-1], edges[1:]):
        band = verts[(verts[:, 1] >= lower) & (verts[:, 1] <= upper)]
        prisms += _stadium_slice(band if len(band) >= _MIN_VERTICES else verts, lower, upper)
    return prisms


def fit_link_shapes(rest_vertices: np.ndarray, rest_joints: np.ndarray, weights: np.ndarray) -> list[list[Primitive]]:
    """Primitives of each of the 24 SMPL links, in link frames.

    Args:
        rest_vertices: [V, 3] rest-pose vertices for the subject's betas,
            SMPL canonical frame (m).
        rest_joints: [24, 3] rest joints for the same betas (m).
        weights: [V, 24] skinning weights.

    Returns:
        For each SMPL joint, the primitives of its link, positioned relative
        to the joint (link frame = joint frame, axes of the SMPL rest frame).
    """
    owner = np.argmax(weights, axis=1)  # [V]
    shapes: list[list[Primitive]] = []
    for joint in range(NUM_SMPL_JOINTS):
        kind, child = LINK_SHAPES[joint]
        verts = rest_vertices[owner == joint] - rest_joints[joint]  # [n, 3] link frame
        if len(verts) < _MIN_VERTICES:
            # Too few vertices to measure: a small sphere keeps the link solid.
            shapes.append([Primitive("sphere", (_FALLBACK_RADIUS,), np.zeros(3), np.eye(3))])
        elif kind == "capsule":
            end = rest_joints[child] - rest_joints[joint] if child >= 0 else None
            shapes.append([_capsule(verts, np.zeros(3), end)])
        elif kind == "sphere":
            shapes.append([_sphere(verts)])
        elif kind == "box":
            shapes.append([_box(verts)])
        else:
            # Spine links stack joint to joint; the pelvis starts at the hips,
            # below which the thigh capsules fill the body.
            parent = SMPL_PARENTS[joint]
            if parent >= 0 and LINK_SHAPES[parent][0] == "stadium":
                bottom = 0.0
            else:
                children = [c for c, p in enumerate(SMPL_PARENTS) if p == joint]
                bottom = float(rest_joints[children, 1].min() - rest_joints[joint, 1])
            top = float(rest_joints[child, 1] - rest_joints[joint, 1]) if child >= 0 else None
            shapes.append(_stadium(verts, bottom, top))
    return shapes


def link_color(joint: int) -> tuple[float, float, float, float]:
    """RGBA colour of SMPL joint ``joint``'s link."""
    return LINK_COLORS[SMPL_JOINT_NAMES[joint]]

