"""A deterministic SMPL-compatible stand-in body.

Licensed SMPL files may not be redistributed, so tests and demos run on this
generated model instead. It has SMPL's interface, not SMPL's surface:

* 6890 vertices, SMPL's 24-joint tree and SMPL's neutral rest joints;
* a closed surface made of tapered capsules and ellipsoids around the bones
  (torso, limbs, head, flattened hands, feet whose sole lies 8 cm below the
  ankle joints);
* LBS weights that follow the bones and blend near joints;
* a non-negative J_regressor that reproduces the rest joints exactly;
* ten shape directions (stature, girth, leg, arm and torso length, widths,
  belly, head size, limb bulk) — hand-made, not SMPL's PCA;
* zero pose correctives (207 columns, like SMPL);
* the template vertices HybrIK and smplx index (head top 411, fingertips,
  toes, heels, nose, eyes, ears) placed where their names say.

Everything built from it must say so: :data:`STANDIN_TAG` is the value of
the ``body_model`` metadata attribute.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.optimize import nnls
from scipy.spatial import ConvexHull, cKDTree

from wavecap.body.skeleton import SMPL_PARENTS, SMPL_REST_JOINTS

STANDIN_TAG = "stand-in"
NUM_VERTICES = 6890
NUM_BETAS = 10
SOLE_BELOW_ANKLE_M = 0.08
HEAD_TOP_ABOVE_HEAD_JOINT_M = 0.17
FINGERTIP_BEYOND_HAND_M = 0.095

_J = SMPL_REST_JOINTS
_SOLE_Y = float(min(_J[7, 1], _J[8, 1]) - SOLE_BELOW_ANKLE_M)
_X, _Y, _Z = np.eye(3)


@dataclass(frozen=True)
class _Part:
    """One closed primitive: a tapered capsule with elliptic cross-section.

    The axis runs from ``p0`` to ``p1`` (equal points give an ellipsoid);
    ``radii0``/``radii1`` are the semi-axes along ``u`` and ``u x axis`` at
    each end, ``caps`` the lengths of the rounded ends along the axis.
    Vertices are skinned to ``joint``; near the ends they blend with
    ``parent_joint`` (at p0) and ``child_joint`` (at p1). ``split`` optionally
    hands the far side of an axial fraction to ``child_joint`` (the foot).
    """

    name: str
    p0: np.ndarray
    p1: np.ndarray
    u: np.ndarray
    radii0: tuple[float, float]
    radii1: tuple[float, float]
    caps: tuple[float, float]
    joint: int
    parent_joint: int = -1
    child_joint: int = -1
    split: float | None = None
    girth: float = 1.0


def _side_parts(side: str) -> list[_Part]:
    """Limbs of one side; ``side`` is 'left' (x > 0) or 'right'."""
    left = side == "left"
    hip, knee, ankle, foot = (1, 4, 7, 10) if left else (2, 5, 8, 11)
    collar, shoulder, elbow, wrist, hand = (13, 16, 18, 20, 22) if left else (14, 17, 19, 21, 23)
    out = 1.0 if left else -1.0
    tip = _J[hand] + out * _X * FINGERTIP_BEYOND_HAND_M
    heel_c = np.array([_J[ankle, 0], _SOLE_Y + 0.035, _J[ankle, 2] - 0.035])
    toe_c = np.array([_J[foot, 0], _SOLE_Y + 0.03, _J[foot, 2] + 0.03])
    ball = float(np.dot(_J[foot] - heel_c, toe_c - heel_c) / np.sum((toe_c - heel_c) ** 2))
    return [
        _Part(f"{side}_thigh", _J[hip], _J[knee], _X, (0.075, 0.075), (0.055, 0.055), (0.05, 0.05), hip, 0, knee),
        _Part(f"{side}_shin", _J[knee], _J[ankle], _X, (0.052, 0.052), (0.04, 0.04), (0.04, 0.04), knee, hip, ankle),
        _Part(f"{side}_foot", heel_c, toe_c, _X, (0.045, 0.035), (0.045, 0.03), (0.035, 0.035),
              ankle, knee, foot, split=ball, girth=0.0),
        _Part(f"{side}_collar", _J[collar], _J[shoulder], _Y, (0.05, 0.05), (0.05, 0.05), (0.03, 0.03), collar, 9, shoulder),
        _Part(f"{side}_upper_arm", _J[shoulder], _J[elbow], _Y, (0.05, 0.05), (0.04, 0.04), (0.045, 0.04),
              shoulder, collar, elbow),
        _Part(f"{side}_forearm", _J[elbow], _J[wrist], _Y, (0.04, 0.04), (0.03, 0.03), (0.035, 0.03), elbow, shoulder, wrist),
        _Part(f"{side}_palm", _J[wrist], _J[hand], _Y, (0.02, 0.04), (0.018, 0.045), (0.02, 0.02), wrist, elbow, hand, girth=0.3),
        _Part(f"{side}_fingers", _J[hand], tip - out * _X * 0.012, _Y, (0.014, 0.04), (0.01, 0.03), (0.012, 0.012),
              hand, wrist, girth=0.0),
    ]


def _parts() -> list[_Part]:
    pelvis_bottom = np.array([0.0, _J[1, 1] - 0.06, _J[0, 2]])
    head_center = _J[15] + np.array([0.0, HEAD_TOP_ABOVE_HEAD_JOINT_M - 0.10, 0.015])
    torso = [
        _Part("pelvis", pelvis_bottom, _J[3], _X, (0.165, 0.11), (0.15, 0.10), (0.05, 0.0), 0, -1, 3),
        _Part("abdomen", _J[3], _J[6], _X, (0.15, 0.10), (0.155, 0.105), (0.0, 0.0), 3, 0, 6),
        _Part("ribs", _J[6], _J[9], _X, (0.155, 0.105), (0.165, 0.11), (0.0, 0.0), 6, 3, 9),
        _Part("chest", _J[9], _J[12], _X, (0.17, 0.11), (0.13, 0.08), (0.0, 0.04), 9, 6, 12),
        _Part("neck", _J[12], _J[15], _X, (0.05, 0.05), (0.048, 0.048), (0.02, 0.02), 12, 9, 15),
        _Part("head", head_center, head_center, _X, (0.075, 0.095), (0.075, 0.095), (0.10, 0.10), 15, girth=0.3),
    ]
    return torso + _side_parts("left") + _side_parts("right")


def _fibonacci_sphere(n: int) -> np.ndarray:
    """n nearly uniform points on the unit sphere; z is uniform in [-1, 1]."""
    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    phi = np.pi * (3.0 - np.sqrt(5.0)) * i
    r = np.sqrt(1.0 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def _part_area(part: _Part) -> float:
    length = float(np.linalg.norm(part.p1 - part.p0))
    mean_r = 0.25 * (sum(part.radii0) + sum(part.radii1))
    return 2 * np.pi * mean_r * (length + sum(part.caps))


def _part_frame(part: _Part) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    axis = part.p1 - part.p0
    length = float(np.linalg.norm(axis))
    axis = axis / length if length > 1e-9 else _Y.copy()
    u = part.u - np.dot(part.u, axis) * axis
    u /= np.linalg.norm(u)
    return axis, u, np.cross(axis, u), length


def _mesh_part(part: _Part, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vertices, faces, axial fraction s and radial unit vectors of one part.

    Points of a Fibonacci sphere are mapped onto the capsule by arc length
    along its profile, so the sphere's convex-hull triangulation stays a
    valid closed mesh.
    """
    sphere = _fibonacci_sphere(n)
    faces = ConvexHull(sphere).simplices
    normals = np.cross(sphere[faces[:, 1]] - sphere[faces[:, 0]], sphere[faces[:, 2]] - sphere[faces[:, 0]])
    outward = np.einsum("fi,fi->f", normals, sphere[faces].mean(axis=1)) > 0
    faces = np.where(outward[:, None], faces, faces[:, ::-1])

    axis, u, w, length = _part_frame(part)
    cap0, cap1 = (max(c, 1e-6) for c in part.caps)
    arc0, arc1 = cap0 * np.pi / 2, cap1 * np.pi / 2
    ell = (1.0 - sphere[:, 2]) / 2.0 * (arc0 + length + arc1)  # arc length from the p0 pole
    axial = np.where(
        ell < arc0, -cap0 * np.cos(ell / cap0),
        np.where(ell > arc0 + length, length + cap1 * np.cos((arc0 + length + arc1 - ell) / cap1), ell - arc0),
    )
    radial_scale = np.where(
        ell < arc0, np.sin(ell / cap0),
        np.where(ell > arc0 + length, np.sin((arc0 + length + arc1 - ell) / cap1), 1.0),
    )
    s = np.clip(axial / length, 0.0, 1.0) if length > 1e-9 else np.full(n, 0.5)
    ru = (1 - s) * part.radii0[0] + s * part.radii1[0]
    rw = (1 - s) * part.radii0[1] + s * part.radii1[1]
    psi = np.arctan2(sphere[:, 1], sphere[:, 0])
    radial_dir = np.cos(psi)[:, None] * u + np.sin(psi)[:, None] * w  # [n, 3]
    offset = radial_scale[:, None] * (ru * np.cos(psi))[:, None] * u + radial_scale[:, None] * (rw * np.sin(psi))[:, None] * w
    verts = part.p0 + axial[:, None] * axis + offset
    return verts, faces, axial / max(length, 1e-9), radial_dir


def _skin_weights(part: _Part, s: np.ndarray, band: float = 0.2) -> np.ndarray:
    """[n, 24] weights: the part's joint, blended toward its neighbours at the ends."""
    w = np.zeros((len(s), 24))
    if part.split is not None:
        to_child = np.clip((s - part.split) / band + 0.5, 0.0, 1.0)
        w[:, part.joint] = 1 - to_child
        w[:, part.child_joint] = to_child
        return w
    to_child = np.clip((s - (1 - band)) / (2 * band), 0.0, 1.0) if part.child_joint >= 0 else np.zeros_like(s)
    to_parent = np.clip((band - s) / (2 * band), 0.0, 1.0) if part.parent_joint >= 0 else np.zeros_like(s)
    w[:, part.joint] = 1 - to_child - to_parent
    if part.child_joint >= 0:
        w[:, part.child_joint] += to_child
    if part.parent_joint >= 0:
        w[:, part.parent_joint] += to_parent
    return w


def _allocate(areas: list[float], total: int) -> list[int]:
    """Vertex counts proportional to area that sum to exactly ``total``."""
    raw = np.asarray(areas) / np.sum(areas) * total
    counts = np.maximum(np.floor(raw).astype(int), 24)
    order = np.argsort(-(raw - np.floor(raw)))
    i = 0
    while counts.sum() < total:
        counts[order[i % len(order)]] += 1
        i += 1
    while counts.sum() > total:
        counts[np.argmax(counts)] -= 1
    return counts.tolist()


def _ramp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0)


def _shape_directions(v: np.ndarray, radial: np.ndarray, girth: np.ndarray, part_of: np.ndarray,
                      names: list[str]) -> np.ndarray:
    """[V, 3, 10] displacement per unit beta, metres.

    0 stature (uniform scale about the sole, so feet stay on the floor),
    1 girth, 2 leg length, 3 arm length, 4 shoulder width, 5 hip width,
    6 torso length, 7 belly, 8 head size, 9 limb bulk.
    """
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    side = np.sign(x)
    is_head = part_of == names.index("head")
    limb = np.array([("arm" in n or "thigh" in n or "shin" in n or "forearm" in n) for n in names])[part_of]
    arm = np.array([("arm" in n or "palm" in n or "finger" in n) for n in names])[part_of]
    torso = np.array([n in ("pelvis", "abdomen", "ribs", "chest") for n in names])[part_of]
    dirs = np.zeros((len(v), 3, NUM_BETAS))
    dirs[:, :, 0] = 0.045 * (v - np.array([0.0, _SOLE_Y, 0.0]))
    dirs[:, :, 1] = 0.015 * girth[:, None] * radial * np.where(torso, 1.5, 1.0)[:, None]
    dirs[:, 1, 2] = 0.03 * _ramp(y, _SOLE_Y, _J[1, 1])
    dirs[:, 0, 3] = 0.025 * side * arm * _ramp(np.abs(x), abs(_J[16, 0]), abs(_J[20, 0]))
    upper = _ramp(y, _J[9, 1] - 0.1, _J[9, 1])
    dirs[:, 0, 4] = 0.02 * side * upper * _ramp(np.abs(x), 0.04, abs(_J[13, 0]))
    lower = 1.0 - _ramp(y, _J[0, 1], _J[3, 1])
    dirs[:, 0, 5] = 0.015 * side * lower * _ramp(np.abs(x), 0.0, abs(_J[1, 0])) * (y > _J[4, 1])
    dirs[:, 1, 6] = 0.025 * _ramp(y, _J[0, 1], _J[12, 1])
    belly = np.exp(-(((y - _J[3, 1]) / 0.12) ** 2)) * torso * (z > 0)
    dirs[:, 2, 7] = 0.03 * belly * radial[:, 2].clip(0, None)
    head_center = v[is_head].mean(axis=0) if is_head.any() else np.zeros(3)
    dirs[:, :, 8] = 0.06 * (v - head_center) * is_head[:, None]
    dirs[:, :, 9] = 0.01 * radial * limb[:, None]
    return dirs


def _special_vertex_targets() -> dict[int, tuple[str, np.ndarray]]:
    """Template vertex ids SMPL users index, with where they belong."""
    head_c = _J[15] + np.array([0.0, HEAD_TOP_ABOVE_HEAD_JOINT_M - 0.10, 0.015])
    targets: dict[int, tuple[str, np.ndarray]] = {
        411: ("head", head_c + np.array([0.0, 0.3, 0.0])),
        332: ("head", head_c + np.array([0.0, -0.02, 0.3])),
        6260: ("head", head_c + np.array([-0.03, 0.02, 0.3])),
        2800: ("head", head_c + np.array([0.03, 0.02, 0.3])),
        4071: ("head", head_c + np.array([-0.3, 0.0, 0.0])),
        583: ("head", head_c + np.array([0.3, 0.0, 0.0])),
    }
    for side, out, ids in (("left", 1.0, (2445, 2746, 2319, 2556, 2673, 3216, 3226, 3387)),
                           ("right", -1.0, (5905, 6191, 5782, 6016, 6133, 6617, 6624, 6787))):
        hand, ankle, foot = (22, 7, 10) if side == "left" else (23, 8, 11)
        tip = _J[hand] + out * _X * (FINGERTIP_BEYOND_HAND_M + 0.05)
        middle, thumb, index, ring, pinky, bigtoe, smalltoe, heel = ids
        targets[middle] = (f"{side}_fingers", tip)
        targets[index] = (f"{side}_fingers", tip + np.array([0.0, 0.0, 0.025]))
        targets[ring] = (f"{side}_fingers", tip + np.array([0.0, 0.0, -0.02]))
        targets[pinky] = (f"{side}_fingers", tip + np.array([0.0, 0.0, -0.04]))
        targets[thumb] = (f"{side}_palm", _J[hand] + np.array([0.0, 0.0, 0.1]))
        toe_z = _J[foot, 2] + 0.2
        targets[bigtoe] = (f"{side}_foot", np.array([_J[foot, 0] - out * 0.02, _SOLE_Y + 0.02, toe_z]))
        targets[smalltoe] = (f"{side}_foot", np.array([_J[foot, 0] + out * 0.04, _SOLE_Y + 0.015, toe_z - 0.04]))
        targets[heel] = (f"{side}_foot", np.array([_J[ankle, 0], _SOLE_Y - 0.05, _J[ankle, 2] - 0.2]))
    return targets


def _regress_joints(v: np.ndarray, joints: np.ndarray, k: int = 256, rounds: int = 8) -> np.ndarray:
    """[24, V] non-negative regressor with ``regressor @ v == joints`` exactly.

    One NNLS solve picks only four vertices (a tetrahedron around the joint),
    which would make joints follow shape changes jerkily; averaging exact
    solutions over disjoint vertex sets keeps exactness and spreads weight.
    """
    tree = cKDTree(v)
    regressor = np.zeros((len(joints), len(v)))
    for j, joint in enumerate(joints):
        _, pool = tree.query(joint, k)
        solutions = []
        for _ in range(rounds):
            a = np.vstack([v[pool].T, np.ones(len(pool))])  # [4, k]: positions and the partition of unity
            weights, residual = nnls(a, np.append(joint, 1.0))
            if residual > 1e-9:
                break
            solutions.append((pool, weights))
            pool = pool[weights <= 0]
        if not solutions:
            raise RuntimeError(f"stand-in joint {j} lies outside its neighbouring vertices")
        for idx, weights in solutions:
            regressor[j, idx] += weights / len(solutions)
    return regressor


@lru_cache(maxsize=1)
def _build() -> dict[str, np.ndarray]:
    parts = _parts()
    names = [p.name for p in parts]
    counts = _allocate([_part_area(p) for p in parts], NUM_VERTICES)
    verts, faces, weights, radial, girth, part_of = [], [], [], [], [], []
    offset = 0
    for index, (part, n) in enumerate(zip(parts, counts)):
        v, f, s, r = _mesh_part(part, n)
        verts.append(v)
        faces.append(f + offset)
        weights.append(_skin_weights(part, s))
        radial.append(r)
        girth.append(np.full(n, part.girth))
        part_of.append(np.full(n, index))
        offset += n
    v = np.concatenate(verts)
    part_of_v = np.concatenate(part_of)

    # Put the vertices SMPL users index by number where those numbers point.
    order = np.arange(NUM_VERTICES)
    taken: set[int] = set()
    for vid, (part_name, target) in _special_vertex_targets().items():
        candidates = np.flatnonzero(part_of_v == names.index(part_name))
        candidates = np.array([c for c in candidates if c not in taken])
        natural = int(candidates[np.argmin(np.linalg.norm(v[candidates] - target, axis=1))])
        taken.add(natural)
        pos = int(np.flatnonzero(order == natural)[0])
        order[[vid, pos]] = order[[pos, vid]]
    inverse = np.empty_like(order)
    inverse[order] = np.arange(NUM_VERTICES)

    v = v[order]
    part_of_v = part_of_v[order]
    radial_v = np.concatenate(radial)[order]
    girth_v = np.concatenate(girth)[order]
    f = inverse[np.concatenate(faces)]
    lbs_weights = np.concatenate(weights)[order]
    shapedirs = _shape_directions(v, radial_v, girth_v, part_of_v, names)
    regressor = _regress_joints(v, SMPL_REST_JOINTS)
    kintree = np.stack([np.array(SMPL_PARENTS), np.arange(24)]).astype(np.int64)
    kintree[0, 0] = -1
    return {
        "v_template": v.astype(np.float64),
        "f": f.astype(np.int64),
        "weights": lbs_weights.astype(np.float64),
        "J_regressor": regressor,
        "shapedirs": shapedirs,
        "posedirs": np.zeros((NUM_VERTICES, 3, 207)),
        "kintree_table": kintree,
        "part_index": part_of_v.astype(np.int64),
        "part_names": np.array(names),
    }


def standin_arrays() -> dict[str, np.ndarray]:
    """The stand-in model as SMPL-file arrays (copies; safe to modify).

    Keys follow SMPL's model files (``v_template`` [V, 3], ``f`` [F, 3],
    ``weights`` [V, 24], ``J_regressor`` [24, V], ``shapedirs`` [V, 3, 10],
    ``posedirs`` [V, 3, 207], ``kintree_table`` [2, 24]) plus ``part_index``
    [V] and ``part_names`` describing which primitive each vertex belongs to.
    """
    return {key: value.copy() for key, value in _build().items()}


def write_standin_npz(path: str) -> None:
    """Save the stand-in as an SMPL-style ``.npz`` tagged ``body_model=stand-in``."""
    np.savez_compressed(path, body_model=np.array(STANDIN_TAG), **standin_arrays())
