"""Named skeletons and their documented maps to and from SMPL.

One table per skeleton (joint names in storage order, parent of each joint),
used wherever keypoints of another tool meet WaveCap's SMPL body: the
teacher's keypoint source, the student's keypoint heads, evaluation and the
importers. Names follow each source's own convention, so that a CSV column
``SpineBase_X`` finds Kinect's ``SpineBase``.

=============  ======  ==========================================================
name           joints  definition
=============  ======  ==========================================================
``smpl24``     24      SMPL's kinematic tree (``wavecap.body.skeleton``)
``hybrik29``   29      SMPL + HybrIK's leaves: head top, middle fingertips, big toes
``h36m17``     17      Human3.6M's 17-joint order (also MM-Fi's ``ground_truth.npy``)
``coco17``     17      COCO keypoints; COCO draws limbs but has no tree, so the
                       parents here are a tree rooted at the nose (for drawing
                       and bone-length checks only)
``kinect_v2``  25      Kinect v2 ``JointType`` order and its SDK bone hierarchy
=============  ======  ==========================================================

Maps. Every map is a table of :class:`JointMap` rows, each an *affine*
combination (weights summing to 1) of joints of the other skeleton, so a map
commutes with any rigid motion or translation of the body and works on
world-, radar- or camera-frame joints alike. Points no joint combination can
reach (the nose lies in front of every SMPL joint) are approximated, and each
row states how (``kind`` and ``note``):

- ``same``: the same anatomical point; definitions agree within ~2 cm.
- ``approx``: a different definition of a nearby point; typically 2-6 cm apart.
- ``rough``: only the region is right (face points, thumbs, extrapolated
  hands), often > 6 cm off; leave these out of accuracy figures.

:func:`map_from_smpl` gives every joint of a skeleton from HybrIK's 29 SMPL
joints (the teacher's keypoint source, evaluating SMPL output on another
skeleton's labels). :func:`map_to_smpl` gives the SMPL-24 joints a skeleton
can estimate (e.g. the pelvis of a Kinect track, for calibration); each of
the skeletons here reaches all 24, some roughly (SMPL's feet from COCO's
ankles). The weights were set from
SMPL's neutral rest joints (``SMPL_REST_JOINTS``); e.g. Kinect's SpineBase sits
on the hip line, ~4.5 cm below SMPL's pelvis, so it is the pelvis lowered
half-way to the hip centre.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import torch

from wavecap.body.skeleton import HYBRIK_JOINT_NAMES, HYBRIK_PARENTS, SMPL_JOINT_NAMES, SMPL_PARENTS

KINDS = ("same", "approx", "rough")


@dataclass(frozen=True)
class Skeleton:
    """A named joint set with its tree.

    Attributes:
        name: skeleton name, as stored in sessions' ``skeleton`` attributes.
        joint_names: J joint names in storage order.
        parents: J parent indices; -1 marks the root.
        flip_pairs: (left, right) index pairs, found from the names.
    """

    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    flip_pairs: tuple[tuple[int, int], ...] = field(init=False)

    def __post_init__(self) -> None:
        if len(self.parents) != len(self.joint_names) or len(set(self.joint_names)) != len(self.joint_names):
            raise ValueError(f"skeleton {self.name}: {len(self.joint_names)} unique names needed for "
                             f"{len(self.parents)} parents")
        object.__setattr__(self, "flip_pairs", _flip_pairs(self.joint_names))

    @property
    def num_joints(self) -> int:
        """J."""
        return len(self.joint_names)

    @property
    def root(self) -> int:
        """Index of the joint without parent."""
        return self.parents.index(-1)

    @property
    def bones(self) -> tuple[tuple[int, int], ...]:
        """(parent, child) index pairs, one per non-root joint."""
        return tuple((p, j) for j, p in enumerate(self.parents) if p >= 0)

    def index(self, joint: str) -> int:
        """Index of a joint by name (exact spelling)."""
        return self.joint_names.index(joint)

    def flip_permutation(self) -> np.ndarray:
        """[J] index array that swaps left and right joints (a mirror's relabelling)."""
        perm = np.arange(self.num_joints)
        for left, right in self.flip_pairs:
            perm[left], perm[right] = right, left
        return perm


def _flip_pairs(names: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    """Pairs (i, j) where name j is name i with 'left' replaced by 'right' (any case)."""
    index = {n: i for i, n in enumerate(names)}
    pairs = []
    for i, name in enumerate(names):
        mirrored = re.sub("left", "right", re.sub("Left", "Right", name))
        if mirrored != name and mirrored in index:
            pairs.append((i, index[mirrored]))
    return tuple(pairs)


H36M17_NAMES = (
    "pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "spine", "thorax", "neck_nose", "head",
    "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist",
)
H36M17_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)

COCO17_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)
COCO17_PARENTS = (-1, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14)

# Kinect v2 JointType enumeration order (Microsoft.Kinect.JointType, 0..24).
KINECT_V2_NAMES = (
    "SpineBase", "SpineMid", "Neck", "Head",
    "ShoulderLeft", "ElbowLeft", "WristLeft", "HandLeft",
    "ShoulderRight", "ElbowRight", "WristRight", "HandRight",
    "HipLeft", "KneeLeft", "AnkleLeft", "FootLeft",
    "HipRight", "KneeRight", "AnkleRight", "FootRight",
    "SpineShoulder", "HandTipLeft", "ThumbLeft", "HandTipRight", "ThumbRight",
)
# The SDK's bone list: thumbs hang off the wrists, hand tips off the hands.
KINECT_V2_PARENTS = (-1, 0, 20, 2, 20, 4, 5, 6, 20, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18, 1, 7, 6, 11, 10)

SKELETONS: dict[str, Skeleton] = {
    s.name: s
    for s in (
        Skeleton("smpl24", SMPL_JOINT_NAMES, SMPL_PARENTS),
        Skeleton("hybrik29", HYBRIK_JOINT_NAMES, HYBRIK_PARENTS),
        Skeleton("h36m17", H36M17_NAMES, H36M17_PARENTS),
        Skeleton("coco17", COCO17_NAMES, COCO17_PARENTS),
        Skeleton("kinect_v2", KINECT_V2_NAMES, KINECT_V2_PARENTS),
    )
}


def skeleton_names() -> tuple[str, ...]:
    """Names of the known skeletons."""
    return tuple(SKELETONS)


def get_skeleton(name: str) -> Skeleton:
    """The skeleton called ``name``.

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    if name not in SKELETONS:
        raise ValueError(f"unknown skeleton {name!r}; known: {', '.join(SKELETONS)}")
    return SKELETONS[name]


@dataclass(frozen=True)
class JointMap:
    """One joint expressed as an affine combination of another skeleton's joints.

    Attributes:
        target: joint being estimated.
        sources: (source joint name, weight) pairs; the weights sum to 1.
        kind: ``"same"``, ``"approx"`` or ``"rough"`` (see the module docstring).
        note: how the two definitions differ.
    """

    target: str
    sources: tuple[tuple[str, float], ...]
    kind: str
    note: str = ""


def _m(target: str, sources: dict[str, float] | str, kind: str = "same", note: str = "") -> JointMap:
    pairs = ((sources, 1.0),) if isinstance(sources, str) else tuple(sources.items())
    return JointMap(target, pairs, kind, note)


def _sided(fn: Callable[[str, str], tuple[JointMap, ...]]) -> tuple[JointMap, ...]:
    """The rows ``fn(side, other_side)`` builds, for both sides."""
    return (*fn("left", "right"), *fn("right", "left"))


def _kinect(side: str) -> str:
    return side.capitalize()


# -- skeleton joints from HybrIK-29 SMPL joints ------------------------------------------------

_FROM_SMPL: dict[str, tuple[JointMap, ...]] = {
    "h36m17": (
        _m("pelvis", "pelvis", "approx", "H36M's root is the hip centre; SMPL's pelvis sits ~3 cm higher"),
        *_sided(lambda s, o: (
            _m(f"{s}_hip", f"{s}_hip", "approx", "H36M hips are ~2 cm wider and lower"),
            _m(f"{s}_knee", f"{s}_knee"), _m(f"{s}_ankle", f"{s}_ankle"),
            _m(f"{s}_shoulder", f"{s}_shoulder"), _m(f"{s}_elbow", f"{s}_elbow"), _m(f"{s}_wrist", f"{s}_wrist"),
        )),
        _m("spine", {"spine1": 0.5, "spine2": 0.5}, "approx", "mid-back: average of SMPL spine1 and spine2"),
        _m("thorax", "neck", "approx", "neck base between the shoulders"),
        _m("neck_nose", "head", "rough", "H36M's point lies near the nose, ~8 cm in front of SMPL's head joint"),
        _m("head", {"head": 0.5, "head_top": 0.5}, "approx", "head centre: half-way from SMPL head to head top"),
    ),
    "coco17": (
        _m("nose", {"head": 0.75, "head_top": 0.25}, "rough", "no SMPL joint is in front of the face: ~10 cm behind"),
        *_sided(lambda s, o: (
            _m(f"{s}_eye", {"head": 0.5, "head_top": 0.5, f"{s}_shoulder": 0.09, f"{o}_shoulder": -0.09}, "rough",
               "eye height in the head, moved sideways along the shoulder line (head turns are lost), "
               "~8 cm behind"),
            _m(f"{s}_ear", {"head": 1.0, f"{s}_shoulder": 0.2, f"{o}_shoulder": -0.2}, "rough",
               "beside the head joint along the shoulder line (head turns are lost)"),
            _m(f"{s}_shoulder", f"{s}_shoulder"), _m(f"{s}_elbow", f"{s}_elbow"), _m(f"{s}_wrist", f"{s}_wrist"),
            _m(f"{s}_hip", f"{s}_hip", "approx", "COCO hips are labelled on the skin, ~3 cm wider"),
            _m(f"{s}_knee", f"{s}_knee"), _m(f"{s}_ankle", f"{s}_ankle"),
        )),
    ),
    "kinect_v2": (
        _m("SpineBase", {"pelvis": 0.5, "left_hip": 0.25, "right_hip": 0.25}, "approx",
           "Kinect's spine base is on the hip line: SMPL pelvis lowered half-way to the hip centre (~4.5 cm)"),
        _m("SpineMid", {"spine1": 0.5, "spine2": 0.5}, "approx", "mid-back"),
        _m("SpineShoulder", {"neck": 0.75, "spine3": 0.25}, "approx", "spine at shoulder height, below SMPL's neck"),
        _m("Neck", {"neck": 0.5, "head": 0.5}, "approx", "mid-neck, above SMPL's neck joint (neck base)"),
        _m("Head", {"head": 0.5, "head_top": 0.5}, "approx", "head centre: half-way from SMPL head to head top"),
        *_sided(lambda s, o: (
            _m(f"Shoulder{_kinect(s)}", f"{s}_shoulder"), _m(f"Elbow{_kinect(s)}", f"{s}_elbow"),
            _m(f"Wrist{_kinect(s)}", f"{s}_wrist"),
            _m(f"Hand{_kinect(s)}", {f"{s}_wrist": 0.4, f"{s}_hand": 0.6}, "approx",
               "palm centre, between SMPL wrist and hand (knuckle) joints"),
            _m(f"HandTip{_kinect(s)}", f"{s}_middle", "approx", "HybrIK's middle-fingertip vertex"),
            _m(f"Thumb{_kinect(s)}", {f"{s}_wrist": 0.5, f"{s}_hand": 0.5}, "rough", "SMPL joints carry no thumb"),
            _m(f"Hip{_kinect(s)}", f"{s}_hip", "approx", "Kinect hips are ~2 cm higher and wider"),
            _m(f"Knee{_kinect(s)}", f"{s}_knee"), _m(f"Ankle{_kinect(s)}", f"{s}_ankle"),
            _m(f"Foot{_kinect(s)}", f"{s}_foot", "approx", "Kinect's foot point is mid-foot, SMPL's at the toe base"),
        )),
    ),
}

# -- SMPL-24 joints from skeleton joints ---------------------------------------------------------


def _collars(shoulder: str, centre: dict[str, float], side: str) -> JointMap:
    """SMPL collar: half-way from the shoulder to the shoulder-line centre."""
    weights = {k: 0.5 * v for k, v in centre.items()}
    weights[shoulder] = weights.get(shoulder, 0.0) + 0.5
    return _m(f"{side}_collar", weights, "approx", "half-way between the shoulder and the shoulder-line centre")


def _feet(ankle: str, side: str) -> JointMap:
    return _m(f"{side}_foot", ankle, "rough", "no toe point: the ankle (SMPL's foot joint is ~12 cm forward, lower)")


def _hands(wrist: str, elbow: str, side: str) -> JointMap:
    return _m(f"{side}_hand", {wrist: 4.0 / 3.0, elbow: -1.0 / 3.0}, "rough",
              "forearm extended by a third past the wrist (no hand point)")


_TO_SMPL: dict[str, tuple[JointMap, ...]] = {
    "h36m17": (
        _m("pelvis", "pelvis", "approx", "H36M's root is the hip centre; SMPL's pelvis sits ~3 cm higher"),
        *_sided(lambda s, o: (
            _m(f"{s}_hip", f"{s}_hip", "approx", "H36M hips are ~2 cm wider and lower"),
            _m(f"{s}_knee", f"{s}_knee"), _m(f"{s}_ankle", f"{s}_ankle"), _feet(f"{s}_ankle", s),
            _collars(f"{s}_shoulder", {"left_shoulder": 0.5, "right_shoulder": 0.5}, s),
            _m(f"{s}_shoulder", f"{s}_shoulder"), _m(f"{s}_elbow", f"{s}_elbow"), _m(f"{s}_wrist", f"{s}_wrist"),
            _hands(f"{s}_wrist", f"{s}_elbow", s),
        )),
        _m("spine1", {"pelvis": 0.5, "spine": 0.5}, "approx", "between pelvis and mid-back"),
        _m("spine2", {"spine": 0.75, "thorax": 0.25}, "approx", "just above the mid-back"),
        _m("spine3", {"spine": 0.65, "thorax": 0.35}, "approx", "chest"),
        _m("neck", "thorax", "approx", "neck base"),
        _m("head", "neck_nose", "rough", "H36M's point lies near the nose, ~8 cm in front of SMPL's head joint"),
    ),
    "coco17": (
        _m("pelvis", {"left_hip": 0.4, "right_hip": 0.4, "left_shoulder": 0.1, "right_shoulder": 0.1}, "approx",
           "hip centre raised a fifth of the way to the shoulders (SMPL's pelvis sits above the hip joints)"),
        *_sided(lambda s, o: (
            _m(f"{s}_hip", f"{s}_hip", "approx", "COCO hips are labelled on the skin, ~3 cm wider"),
            _m(f"{s}_knee", f"{s}_knee"), _m(f"{s}_ankle", f"{s}_ankle"), _feet(f"{s}_ankle", s),
            _collars(f"{s}_shoulder", {"left_shoulder": 0.5, "right_shoulder": 0.5}, s),
            _m(f"{s}_shoulder", f"{s}_shoulder"), _m(f"{s}_elbow", f"{s}_elbow"), _m(f"{s}_wrist", f"{s}_wrist"),
            _hands(f"{s}_wrist", f"{s}_elbow", s),
        )),
        _m("spine1", {"left_hip": 0.315, "right_hip": 0.315, "left_shoulder": 0.185, "right_shoulder": 0.185},
           "approx", "37 % of the way from the hip centre to the shoulder centre"),
        _m("spine2", {"left_hip": 0.19, "right_hip": 0.19, "left_shoulder": 0.31, "right_shoulder": 0.31},
           "approx", "62 % of the way from the hip centre to the shoulder centre"),
        _m("spine3", {"left_hip": 0.14, "right_hip": 0.14, "left_shoulder": 0.36, "right_shoulder": 0.36},
           "approx", "72 % of the way from the hip centre to the shoulder centre"),
        _m("neck", {"left_shoulder": 0.4, "right_shoulder": 0.4, "nose": 0.2}, "approx",
           "shoulder centre moved a fifth of the way to the nose"),
        _m("head", {"left_ear": 0.5, "right_ear": 0.5}, "approx", "between the ears"),
    ),
    "kinect_v2": (
        _m("pelvis", {"SpineBase": 2.0, "HipLeft": -0.5, "HipRight": -0.5}, "approx",
           "spine base moved up by its height above the hip centre (inverse of SpineBase's map)"),
        *_sided(lambda s, o: (
            _m(f"{s}_hip", f"Hip{_kinect(s)}", "approx", "Kinect hips are ~2 cm higher and wider"),
            _m(f"{s}_knee", f"Knee{_kinect(s)}"), _m(f"{s}_ankle", f"Ankle{_kinect(s)}"),
            _m(f"{s}_foot", f"Foot{_kinect(s)}", "approx", "Kinect's foot point is mid-foot, SMPL's at the toe base"),
            _collars(f"Shoulder{_kinect(s)}", {"SpineShoulder": 1.0}, s),
            _m(f"{s}_shoulder", f"Shoulder{_kinect(s)}"), _m(f"{s}_elbow", f"Elbow{_kinect(s)}"),
            _m(f"{s}_wrist", f"Wrist{_kinect(s)}"),
            _m(f"{s}_hand", {f"Hand{_kinect(s)}": 0.74, f"HandTip{_kinect(s)}": 0.26}, "approx",
               "knuckles: a quarter of the way from the palm centre to the hand tip"),
        )),
        _m("spine1", {"SpineBase": 0.3, "SpineMid": 0.7}, "approx", "70 % of the way from spine base to mid-spine"),
        _m("spine2", {"SpineMid": 0.76, "SpineShoulder": 0.24}, "approx", "just above the mid-spine"),
        _m("spine3", {"SpineMid": 0.57, "SpineShoulder": 0.43}, "approx", "chest"),
        _m("neck", {"SpineShoulder": 0.38, "Neck": 0.62}, "approx", "neck base, between SpineShoulder and Neck"),
        _m("head", {"Neck": 0.77, "Head": 0.23}, "approx", "skull base, a quarter of the way from Neck to Head"),
    ),
}


def map_from_smpl(name: str) -> tuple[JointMap, ...]:
    """How each joint of skeleton ``name`` is made from HybrIK's 29 SMPL joints.

    Returns:
        One row per joint of the skeleton, in its storage order; sources are
        ``hybrik29`` joint names.
    """
    skeleton = get_skeleton(name)
    if name in ("smpl24", "hybrik29"):
        return tuple(_m(j, j) for j in skeleton.joint_names)
    rows = {row.target: row for row in _FROM_SMPL[name]}
    return tuple(rows[j] for j in skeleton.joint_names)


def map_to_smpl(name: str) -> tuple[JointMap, ...]:
    """How SMPL's 24 joints are estimated from the joints of skeleton ``name``.

    Returns:
        One row per SMPL joint the skeleton can estimate, in SMPL order; the
        SMPL joints it cannot estimate are absent. Sources are joints of ``name``.
    """
    get_skeleton(name)
    if name in ("smpl24", "hybrik29"):
        return tuple(_m(j, j) for j in SMPL_JOINT_NAMES)
    rows = {row.target: row for row in _TO_SMPL[name]}
    return tuple(rows[j] for j in SMPL_JOINT_NAMES if j in rows)


def _matrix(rows: tuple[JointMap, ...], targets: tuple[str, ...], sources: tuple[str, ...]) -> np.ndarray:
    matrix = np.zeros((len(targets), len(sources)))
    for row in rows:
        for source, weight in row.sources:
            matrix[targets.index(row.target), sources.index(source)] += weight
    return matrix


@cache
def from_smpl_matrix(name: str) -> np.ndarray:
    """[J, 29] float64 weights: ``joints = W @ hybrik29_joints`` (rows sum to 1)."""
    matrix = _matrix(map_from_smpl(name), get_skeleton(name).joint_names, HYBRIK_JOINT_NAMES)
    matrix.flags.writeable = False
    return matrix


@cache
def to_smpl_matrix(name: str) -> tuple[np.ndarray, np.ndarray]:
    """SMPL-24 joints from skeleton ``name``'s joints.

    Returns:
        W: [24, J] float64 weights; rows of joints the skeleton cannot
            estimate are zero.
        mask: [24] bool, True where the row is an estimate.
    """
    rows = map_to_smpl(name)
    matrix = _matrix(rows, SMPL_JOINT_NAMES, get_skeleton(name).joint_names)
    mask = np.isin(SMPL_JOINT_NAMES, [r.target for r in rows])
    matrix.flags.writeable = mask.flags.writeable = False
    return matrix, mask


def _apply(weights: np.ndarray, joints: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """``weights @ joints`` over the joint axis: [K, J] x [..., J, 3] -> [..., K, 3].

    A NaN (untracked) joint makes NaN exactly the outputs that use it: a plain
    product would spread it to every output through its zero weights.
    """
    used = weights != 0  # [K, J]
    if isinstance(joints, torch.Tensor):
        w = torch.tensor(weights, dtype=joints.dtype, device=joints.device)
        missing = torch.isnan(joints).any(-1)  # [..., J]
        out = torch.einsum("kj,...jc->...kc", w, torch.nan_to_num(joints, nan=0.0))
        lost = (missing[..., None, :] & torch.as_tensor(used, device=joints.device)).any(-1)  # [..., K]
        return out.masked_fill(lost[..., None], float("nan"))
    joints = np.asarray(joints)
    missing = np.isnan(joints).any(-1)
    out = np.einsum("kj,...jc->...kc", weights, np.nan_to_num(joints, nan=0.0))
    out[(missing[..., None, :] & used).any(-1)] = np.nan
    return out


def skeleton_from_smpl(joints: np.ndarray | torch.Tensor, name: str) -> np.ndarray | torch.Tensor:
    """Joints of skeleton ``name`` from SMPL joints.

    Args:
        joints: [..., 29, 3] HybrIK-29 joints, or [..., 24, 3] SMPL joints when
            the map uses no leaf joint (any frame, metres).
        name: target skeleton.

    Returns:
        [..., J, 3] joints of ``name`` in the same frame and unit.
    """
    weights = from_smpl_matrix(name)
    n = joints.shape[-2]
    if n == 24 and not weights[:, 24:].any():
        weights = weights[:, :24]
    elif n != 29:
        raise ValueError(f"skeleton {name} is made from 29 SMPL joints (head top, fingertips, toes); got {n}")
    return _apply(weights, joints)


def smpl_from_skeleton(joints: np.ndarray | torch.Tensor, name: str) -> tuple[np.ndarray | torch.Tensor, np.ndarray]:
    """SMPL-24 joint estimates from joints of skeleton ``name``.

    NaN in a source joint (an untracked Kinect joint) makes every estimate
    that uses it NaN.

    Args:
        joints: [..., J, 3] joints of ``name`` (any frame, metres).
        name: source skeleton.

    Returns:
        [..., 24, 3] estimates (zeros where ``mask`` is False) and the [24] mask.
    """
    weights, mask = to_smpl_matrix(name)
    if joints.shape[-2] != weights.shape[1]:
        raise ValueError(f"skeleton {name} has {weights.shape[1]} joints; got {joints.shape[-2]}")
    return _apply(weights, joints), mask


def root_from_skeleton(joints: np.ndarray | torch.Tensor, name: str) -> np.ndarray | torch.Tensor:
    """The SMPL pelvis estimated from joints of skeleton ``name``: [..., J, 3] -> [..., 3]."""
    weights, _ = to_smpl_matrix(name)
    if joints.shape[-2] != weights.shape[1]:
        raise ValueError(f"skeleton {name} has {weights.shape[1]} joints; got {joints.shape[-2]}")
    return _apply(weights[:1], joints)[..., 0, :]
