"""HybrIK's analytic inverse kinematics (twist-and-swing), batched.

Given 29 root-relative joints (24 SMPL joints + 5 leaves), one twist angle
per non-root joint and the shape, it returns SMPL's 24 local rotations:

* root: Kabsch/SVD of the rest bones to the pelvis's children {3, 1, 2}
  onto the predicted ones (``root="svd"``, HybrIK at eval), or HybrIK's
  training variant that swings spine1 into place and then turns about the
  spine to fit the hip centre (``root="spine"``);
* joint i >= 1: ``R_i = R_swing(t -> p) @ R_twist(t_hat, phi_{i-1})`` with t
  the rest bone to i's chosen child and p the target bone in the parent's
  frame. Only bone directions are used; lengths come from the template.

``variant="naive"`` targets the predicted bone (child - joint). The default
``"adaptive"`` targets the predicted child from where the rebuilt skeleton
actually put joint i, which stops errors accumulating down the chain; it
falls back to the predicted bone when the two differ by more than 15 mm
(HybrIK's safeguard).

Joints are solved level by level (all joints at the same tree depth at
once): each depends only on its ancestors, so this equals HybrIK's joint
order and is much faster than a per-joint loop.

Frames: the rest skeleton is SMPL canonical (y up, face +z); the rotations
map it into whatever frame the input joints are in, so the root rotation
absorbs e.g. the camera frame. Units: metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from wavecap.body import BodyModel
from wavecap.body.skeleton import HYBRIK_PARENTS, NUM_HYBRIK_JOINTS, NUM_SMPL_JOINTS

# Child whose bone orients each joint, as HybrIK's SMPL_layer computes it: the
# first child by index, a leaf where there is one, spine1 (3) for the pelvis,
# and the neck (12) for spine3 (its three-children branch is dead code in the
# official repo). Leaves (24..28) have none.
HYBRIK_CHILDREN: tuple[int, ...] = (
    3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 27, 28, 15, 16, 17, 24, 18, 19, 20, 21, 22, 23, 25, 26,
    -1, -1, -1, -1, -1,
)
PELVIS_CHILDREN: tuple[int, ...] = (3, 1, 2)  # spine1 first, as in HybrIK
SAFEGUARD_M = 0.015  # adaptive target rejected beyond this distance from the predicted bone
MIN_BONE_M = 1e-6  # shorter bones have no usable direction
MIN_SIN = 1e-6  # |sin| of a swing below this with cos < 0: axis undefined (180 degrees)
TWIST_MIN_NORM = 1e-8  # shorter (cos, sin) predictions carry no angle


def _depth_levels() -> list[tuple[int, int]]:
    """Non-root SMPL joints grouped by tree depth, as index ranges [start, end).

    SMPL numbers its joints breadth-first, so each depth is a contiguous run
    of indices: (1, 4), (4, 7), (7, 10), (10, 15), (15, 18), (18, 20), ...
    """
    depth = [0] * NUM_SMPL_JOINTS
    for joint in range(1, NUM_SMPL_JOINTS):
        depth[joint] = depth[HYBRIK_PARENTS[joint]] + 1
    if depth != sorted(depth):
        raise AssertionError("SMPL joints are expected in breadth-first order")
    return [(depth.index(d), len(depth) - depth[::-1].index(d)) for d in range(1, max(depth) + 1)]


LEVELS: list[tuple[int, int]] = _depth_levels()


def _parent_selectors() -> list[slice | list[int]]:
    """Per level, where its joints' parents sit inside the previous level."""
    selectors: list[slice | list[int]] = []
    for (start, end), previous in zip(LEVELS[1:], LEVELS[:-1]):
        offsets = [HYBRIK_PARENTS[j] - previous[0] for j in range(start, end)]
        contiguous = offsets == list(range(offsets[0], offsets[0] + len(offsets)))
        selectors.append(slice(offsets[0], offsets[-1] + 1) if contiguous else offsets)
    return selectors


PARENT_SELECTORS = _parent_selectors()  # for LEVELS[1:]; the first level hangs off the root
# [3, 9]: a 3-vector times this is its cross-product matrix, flattened.
_SKEW_BASIS = torch.tensor([
    [0, 0, 0, 0, 0, -1, 0, 1, 0],
    [0, 0, 1, 0, 0, 0, -1, 0, 0],
    [0, -1, 0, 1, 0, 0, 0, 0, 0],
], dtype=torch.float64)


@dataclass
class IKResult:
    """Output of :func:`solve_ik`.

    Attributes:
        rotmats: [B, 24, 3, 3] local joint rotations (root first), SMPL order.
        flags: [B] True where the frame was degenerate (non-finite input,
            zero-length or opposite bones, unusable twist, collinear pelvis
            children); its rotations are finite but partly arbitrary
            (identity where undefined).
    """

    rotmats: torch.Tensor
    flags: torch.Tensor


def rodrigues(axis: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotation by the angle with (cos, sin) about a unit axis.

    Args:
        axis: [..., 3] unit axes (a zero axis with cos = 1 gives I).
        cos: [...] cosines; sin: [...] sines of the angles.

    Returns:
        [..., 3, 3] ``cos I + sin [n]x + (1 - cos) n n^T``.
    """
    # A few whole-tensor ops instead of nine stacked entries: faster for
    # the large batches the IK runs on.
    skew = (axis @ _SKEW_BASIS.to(axis)).unflatten(-1, (3, 3))  # [..., 3, 3], [n]x
    outer = axis[..., :, None] * axis[..., None, :]
    eye = torch.eye(3, dtype=axis.dtype, device=axis.device)
    return cos[..., None, None] * eye + sin[..., None, None] * skew + (1 - cos)[..., None, None] * outer


def _safe_unit(v: torch.Tensor, min_norm: float) -> tuple[torch.Tensor, torch.Tensor]:
    """[..., 3] -> unit vectors (zero where shorter than min_norm), norms [...]."""
    norm = torch.linalg.vector_norm(v, dim=-1)
    # Scale by 0 (not 1/0) where the norm is too small, so nothing sees 0/0.
    inv = torch.where(norm > min_norm, norm.clamp_min(min_norm).reciprocal(), 0.0)
    return v * inv[..., None], norm


def _perpendicular(u: torch.Tensor) -> torch.Tensor:
    """A unit vector perpendicular to each unit vector u [..., 3]."""
    # Crossing with the basis axis least aligned with u is well conditioned.
    basis = torch.eye(3, dtype=u.dtype, device=u.device)[u.abs().argmin(dim=-1)]
    return _safe_unit(torch.linalg.cross(u, basis, dim=-1), 0.0)[0]


def swing(rest: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Smallest rotation turning the direction of ``rest`` into that of ``target``.

    Args:
        rest: [..., 3] vectors (need not be unit).
        target: [..., 3] vectors in the same frame.

    Returns:
        rot: [..., 3, 3] the swing; identity where a vector is shorter than
            :data:`MIN_BONE_M`, a half turn about an axis perpendicular to
            ``rest`` where the two are opposite.
        degenerate: [...] True in those two cases (the swing is then not
            determined by the input).
    """
    unit, norm = _safe_unit(rest, MIN_BONE_M)
    return _swing_from_unit(unit, norm <= MIN_BONE_M, target)


def _swing_from_unit(
    a: torch.Tensor, a_short: torch.Tensor, target: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`swing` for a precomputed unit ``a`` [..., 3] (zero where ``a_short``)."""
    norm_b = torch.linalg.vector_norm(target, dim=-1)
    b = target / norm_b.clamp_min(MIN_BONE_M)[..., None]
    cross = torch.linalg.cross(a, b, dim=-1)
    sin = torch.linalg.vector_norm(cross, dim=-1)
    cos = (a * b).sum(-1)
    # Exact division down to the smallest normal number: a threshold here
    # would bend nearly-aligned swings; exactly aligned ones get a zero axis.
    axis = cross / sin.clamp_min(torch.finfo(sin.dtype).tiny)[..., None]
    short = a_short | (norm_b <= MIN_BONE_M)
    degenerate = short | ((sin <= MIN_SIN) & (cos < 0))
    if bool(degenerate.any()):  # rare: patch only when needed
        opposite = degenerate & ~short
        axis = torch.where(opposite[..., None], _perpendicular(a), axis)
        axis = torch.where(short[..., None], torch.zeros_like(axis), axis)
        cos = torch.where(short, torch.ones_like(cos), cos)
        sin = torch.where(short, torch.zeros_like(sin), sin)
    return rodrigues(axis, cos, sin), degenerate


def _kabsch_root(rest: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotation R minimising sum |R rest_c - target_c|^2 (no translation).

    Args:
        rest: [B, N, 3] rest bones; target: [B, N, 3] target bones.

    Returns:
        [B, 3, 3] rotations (identity where the bones carry no rotation);
        [B] degenerate flags (all-zero or collinear input).
    """
    S = rest.transpose(1, 2) @ target  # [B, 3, 3], sum_c rest_c target_c^T
    U, sv, Vh = torch.linalg.svd(S)
    V = Vh.transpose(1, 2)
    # Flip the least significant axis where V U^T would be a reflection.
    det = torch.linalg.det(V @ U.transpose(1, 2))
    D = torch.cat([torch.ones_like(sv[:, :2]), det[:, None]], dim=1)  # [B, 3]
    rot = (V * D[:, None, :]) @ U.transpose(1, 2)
    # Rank < 2 leaves a rotation about the common line free.
    scale = torch.linalg.vector_norm(rest, dim=(1, 2)) * torch.linalg.vector_norm(target, dim=(1, 2))
    degenerate = (sv[:, 1] <= 1e-6 * scale) | (scale <= MIN_BONE_M**2)
    eye = torch.eye(3, dtype=rot.dtype, device=rot.device).expand_as(rot)
    zero = (sv[:, 0] <= MIN_BONE_M**2)[:, None, None]
    return torch.where(zero, eye, rot), degenerate


def _spine_root(rest: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """HybrIK's training root: swing spine1 into place, then turn about it.

    Args:
        rest: [B, 3, 3] rest bones to the pelvis children (3, 1, 2);
        target: [B, 3, 3] the predicted ones.

    Returns:
        [B, 3, 3] rotations and [B] degenerate flags.
    """
    rot_spine, bad_spine = swing(rest[:, 0], target[:, 0])
    spine, _ = _safe_unit(target[:, 0], MIN_BONE_M)  # [B, 3]
    hips_rest = (rot_spine @ rest[:, 1:].mean(dim=1)[..., None])[..., 0]  # [B, 3]
    hips_target = target[:, 1:].mean(dim=1)
    # Both hip centres projected on the plane normal to the spine: the turn
    # about the spine that aligns them.
    hips_rest = hips_rest - (hips_rest * spine).sum(-1, keepdim=True) * spine
    hips_target = hips_target - (hips_target * spine).sum(-1, keepdim=True) * spine
    rot_center, bad_center = swing(hips_rest, hips_target)
    return rot_center @ rot_spine, bad_spine | bad_center


def _sanitize(joints29: torch.Tensor, phi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Zero out non-finite frames and unusable twists; flag them.

    Returns:
        joints [B, 29, 3] (root-relative), unit twists [B, 23, 2], flags [B].
    """
    finite = torch.isfinite(joints29).all(dim=(1, 2))
    joints = torch.where(finite[:, None, None], joints29, torch.zeros_like(joints29))
    joints = joints - joints[:, :1]
    phi_ok = torch.isfinite(phi).all(dim=-1)  # [B, 23]
    phi = torch.where(phi_ok[..., None], phi, torch.zeros_like(phi))
    phi_ok = phi_ok & (torch.linalg.vector_norm(phi, dim=-1) > TWIST_MIN_NORM)
    no_twist = torch.zeros_like(phi)
    no_twist[..., 0] = 1
    phi = torch.where(phi_ok[..., None], normalize_twist(phi), no_twist)
    return joints, phi, ~finite | ~phi_ok.all(dim=1)


def normalize_twist(phi: torch.Tensor) -> torch.Tensor:
    """(cos, sin) pairs [..., 2] scaled onto the unit circle.

    HybrIK divides by ``norm + 1e-8``; dividing by the norm itself (floored
    at :data:`TWIST_MIN_NORM`) keeps unit input exactly unit, which the IK's
    exactness relies on, and differs from HybrIK by ~1e-8 relative.
    """
    return phi / torch.linalg.vector_norm(phi, dim=-1, keepdim=True).clamp_min(TWIST_MIN_NORM)


def solve_ik(
    joints29: torch.Tensor,
    phi: torch.Tensor,
    rest29: torch.Tensor,
    variant: str = "adaptive",
    root: str | None = None,
) -> IKResult:
    """Local SMPL rotations from joints and twists (HybrIK's IK).

    Works in the dtype of ``joints29`` (float32 or float64) and is
    differentiable (except at degenerate frames).

    Args:
        joints29: [B, 29, 3] target joints in any frame, metres; made
            root-relative here.
        phi: [B, 23, 2] twist (cos, sin) of joints 1..23; normalised here.
        rest29: [B, 29, 3] rest joints J(beta) (SMPL canonical frame,
            metres), e.g. ``BodyModel.rest_joints(betas)``.
        variant: ``"adaptive"`` (HybrIK eval) or ``"naive"``.
        root: ``"svd"`` or ``"spine"``; None picks HybrIK's pairing: svd for
            adaptive, spine for naive (its training path).

    Returns:
        :class:`IKResult`.
    """
    if variant not in ("adaptive", "naive"):
        raise ValueError(f"variant must be 'adaptive' or 'naive', got {variant!r}")
    root = root or ("svd" if variant == "adaptive" else "spine")
    if root not in ("svd", "spine"):
        raise ValueError(f"root must be 'svd' or 'spine', got {root!r}")
    if joints29.shape[1:] != (NUM_HYBRIK_JOINTS, 3) or phi.shape[1:] != (NUM_SMPL_JOINTS - 1, 2):
        raise ValueError(f"expected joints [B, 29, 3] and phi [B, 23, 2], got {tuple(joints29.shape)}, "
                         f"{tuple(phi.shape)}")
    dtype = joints29.dtype
    joints, phi, flags = _sanitize(joints29, phi)
    rest = rest29.to(dtype).expand_as(joints)
    parents = torch.tensor((0,) + HYBRIK_PARENTS[1:], device=joints.device)
    rest_bones = rest - rest[:, parents]  # [B, 29, 3], bone from parent (rest frame)
    pred_bones = joints - joints[:, parents]  # [B, 29, 3], predicted bone (input frame)

    pelvis = list(PELVIS_CHILDREN)
    solve_root = _kabsch_root if root == "svd" else _spine_root
    root_rot, root_bad = solve_root(rest_bones[:, pelvis], pred_bones[:, pelvis])
    flags = flags | root_bad

    # Everything that does not depend on the chain is computed for joints
    # 1..23 at once; SMPL's breadth-first numbering makes each tree level a
    # contiguous slice of these tables.
    child = list(HYBRIK_CHILDREN[1:NUM_SMPL_JOINTS])
    t_child = rest_bones[:, child]  # [B, 23, 3] rest bone to the chosen child
    t_unit, t_norm = _safe_unit(t_child, MIN_BONE_M)
    t_short = t_norm <= MIN_BONE_M
    twist = rodrigues(t_unit, phi[..., 0], phi[..., 1])  # [B, 23, 3, 3]
    if variant == "adaptive":
        # The predicted skeleton, moved so its root sits on the rest root
        # where the rebuilt chain starts.
        child_final = (joints + rest[:, :1])[:, child]  # [B, 23, 3]
        rescaled = _safe_unit(pred_bones[:, child], MIN_BONE_M)[0] * t_norm[..., None]  # at template length
        offsets = rest_bones[:, 1:NUM_SMPL_JOINTS, :, None]  # [B, 23, 3, 1] bone from the parent
    else:
        child_bones = pred_bones[:, child]  # [B, 23, 3]

    local = [root_rot[:, None]]
    chain = root_rot[:, None]  # [B, k, 3, 3] global rotations of the previous level
    position = rest[:, :1]  # [B, k, 3] rebuilt positions of the previous level
    for level, (start, end) in enumerate(LEVELS):
        sel = slice(start - 1, end - 1)  # into the 23-joint tables
        pick = slice(None) if level == 0 else PARENT_SELECTORS[level - 1]
        parent_rot = chain[:, pick].expand(-1, end - start, -1, -1)  # [B, k, 3, 3]
        if variant == "adaptive":
            parent_pos = position[:, pick].expand(-1, end - start, -1)
            position = parent_pos + (parent_rot @ offsets[:, sel])[..., 0]  # [B, k, 3]
            target = child_final[:, sel] - position
            fallback = rescaled[:, sel]
            far = torch.linalg.vector_norm(target - fallback, dim=-1, keepdim=True) > SAFEGUARD_M
            target = torch.where(far, fallback, target)
        else:
            target = child_bones[:, sel]
        target_local = (parent_rot.transpose(-1, -2) @ target[..., None])[..., 0]  # in the parent's frame
        swing_rot, bad = _swing_from_unit(t_unit[:, sel], t_short[:, sel], target_local)
        rot = swing_rot @ twist[:, sel]  # [B, k, 3, 3]
        chain = parent_rot @ rot
        flags = flags | bad.any(dim=1)
        local.append(rot)
    rotmats = torch.cat(local, dim=1)
    return IKResult(rotmats=rotmats, flags=flags)


def twist_from_rest(rotmats: torch.Tensor, rest29: torch.Tensor) -> torch.Tensor:
    """Twist angles that make :func:`solve_ik` reproduce ``rotmats`` exactly.

    For joint i with rest bone t to its HybrIK child: ``R_tw = R_sw(t -> R t)^T R``
    is a rotation about t; its signed angle is the twist (HybrIK-X's
    ``get_twist``, used for ground-truth twist targets).

    Args:
        rotmats: [B, 24, 3, 3] local rotations (root first).
        rest29: [B, 29, 3] rest joints J(beta), metres.

    Returns:
        [B, 23, 2] (cos, sin) of the twist of joints 1..23.
    """
    rest = rest29.to(rotmats.dtype).expand(rotmats.shape[0], -1, -1)
    child = list(HYBRIK_CHILDREN[1:NUM_SMPL_JOINTS])
    t = rest[:, child] - rest[:, 1:NUM_SMPL_JOINTS]  # [B, 23, 3]
    rot = rotmats[:, 1:]
    swing_rot, _ = swing(t, (rot @ t[..., None])[..., 0])
    twist = swing_rot.transpose(-1, -2) @ rot  # [B, 23, 3, 3], a rotation about t
    axis_sin = torch.stack(
        [twist[..., 2, 1] - twist[..., 1, 2], twist[..., 0, 2] - twist[..., 2, 0], twist[..., 1, 0] - twist[..., 0, 1]],
        dim=-1,
    ) / 2  # [B, 23, 3] = sin(phi) * t_hat
    sin = (axis_sin * _safe_unit(t, MIN_BONE_M)[0]).sum(-1)
    cos = (twist.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2
    return normalize_twist(torch.stack([cos, sin], dim=-1))


def inverse_kinematics(
    joints29: torch.Tensor,
    phi: torch.Tensor,
    betas: torch.Tensor,
    body_model: BodyModel,
    variant: str = "adaptive",
    root: str | None = None,
) -> IKResult:
    """:func:`solve_ik` with the rest skeleton of ``body_model`` for ``betas``.

    Args:
        joints29: [B, 29, 3] joints, metres (root-relative or not).
        phi: [B, 23, 2] twist (cos, sin).
        betas: [B, K] shape coefficients.
        body_model: the shared body model (its dtype sets the rest joints'
            precision; use ``.double()`` for float64 work).
        variant, root: see :func:`solve_ik`.
    """
    return solve_ik(joints29, phi, body_model.rest_joints(betas), variant, root)


def twist_angles(rotmats: torch.Tensor, betas: torch.Tensor, body_model: BodyModel) -> torch.Tensor:
    """:func:`twist_from_rest` with the rest skeleton of ``body_model``.

    Args:
        rotmats: [B, 24, 3, 3] local rotations.
        betas: [B, K] shape coefficients.
        body_model: the shared body model.

    Returns:
        [B, 23, 2] twist (cos, sin).
    """
    return twist_from_rest(rotmats, body_model.rest_joints(betas))
