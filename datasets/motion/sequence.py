"""Chain motions into one program with smooth cross-fades (see :func:`sequence`).

In a cross-fade a foot counts as planted only where both motions plant it;
grounding the joined motion again then keeps planted feet on the floor
without sliding, and lets the body decelerate or set off over its feet.
"""

from __future__ import annotations

import numpy as np
import torch

from wavecap.body import BodyModel
from wavecap.datasets.motion.angles import rot_z
from wavecap.datasets.motion.curves import smoothstep
from wavecap.datasets.motion.feet import FootSkin
from wavecap.datasets.motion.grounding import ground
from wavecap.datasets.motion.library import standin_model
from wavecap.datasets.motion.motion import Motion
from wavecap.errors import DataError
from wavecap.geometry import matrix_to_axis_angle, matrix_to_quaternion, quaternion_to_matrix, slerp


def heading_of(root: np.ndarray) -> np.ndarray:
    """Facing yaw (rad, CCW from world +x) of world root rotations [..., 3, 3].

    Taken from the pelvis' left axis (SMPL x), which stays level when the
    trunk bends forward: facing = yaw(left) - pi/2.
    """
    left = root[..., :, 0]
    return np.arctan2(left[..., 1], left[..., 0]) - np.pi / 2


def _slerp_rotations(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """[N, J, 3, 3] SLERP from rotations ``a`` [J, 3, 3] to ``b`` [N, J, 3, 3] at weights ``w`` [N]."""
    qa = matrix_to_quaternion(torch.from_numpy(a)).expand(len(w), -1, -1)
    qb = matrix_to_quaternion(torch.from_numpy(b))
    return quaternion_to_matrix(slerp(qa, qb, torch.from_numpy(w)[:, None])).numpy()


def _steps(path: np.ndarray) -> np.ndarray:
    """[N, 3] per-frame displacement of ``path`` [N, 3] (the first repeats the second)."""
    if len(path) < 2:
        return np.zeros_like(path)
    return np.diff(path, axis=0, prepend=2 * path[:1] - path[1:2])


def _pelvis_path(outgoing: np.ndarray, incoming: np.ndarray, weight: np.ndarray, start: np.ndarray) -> np.ndarray:
    """[N, 3] pelvis path of the incoming motion, continuing from ``start`` [3].

    Over the overlap (the first len(``outgoing``) frames) the horizontal
    steps of ``outgoing`` [O, 3] and ``incoming`` [N, 3] are mixed with
    ``weight`` [N] and the heights interpolated; afterwards the incoming
    motion's own steps and heights apply.
    """
    overlap = len(outgoing)
    out_steps = np.zeros_like(incoming)
    out_steps[:overlap] = np.diff(np.concatenate([start[None], outgoing]), axis=0)
    mixed = (1 - weight[:, None]) * out_steps + weight[:, None] * _steps(incoming)
    xy = start[:2] + np.cumsum(mixed[:, :2], axis=0)
    z = incoming[:, 2].copy()
    z[:overlap] = (1 - weight[:overlap]) * outgoing[:, 2] + weight[:overlap] * incoming[:overlap, 2]
    return np.concatenate([xy, z[:, None]], axis=1)


def sequence(motions: list[Motion], blend_seconds: float = 0.5, model: BodyModel | None = None) -> Motion:
    """Join motions with smooth cross-fades and a continuous root path.

    Consecutive motions overlap by ``blend_seconds``: over the overlap the
    pose cross-fades from the outgoing to the incoming motion (SLERP of every
    joint rotation, root included; smoothstep weights) while both keep
    moving. The incoming motion is turned about the vertical and moved so its
    first frame continues the outgoing motion's heading and pelvis path at
    the start of the overlap; the pelvis velocity is blended too. When all
    motions carry contacts, everything from the start of each overlap on is
    grounded again, so planted feet stay put across joins.

    Args:
        motions: the motions in order; all of one subject (same betas).
            Motions at another frame rate are resampled to the first's.
        blend_seconds: overlap per join (clipped so at least one frame of
            each motion remains outside it); 0 joins them end to start.
        model: body model for grounding; the stand-in when None.

    Returns:
        One motion at the first motion's fps with sum(len) - overlaps
        frames, named "+".join(names); segment labels say which motion each
        frame comes from (an overlap frame belongs to the motion with the
        larger blend weight).

    Raises:
        ValueError: no motions.
        DataError: the motions' betas differ.
    """
    if not motions:
        raise ValueError("sequence() needs at least one motion")
    first = motions[0]
    fps, betas = first.fps, first.betas
    skin = FootSkin(standin_model() if model is None else model, betas)
    pelvis_rest = skin.rest_joints[0].double().cpu().numpy()  # [3] pelvis = rest pelvis + transl
    rot, transl = first.rotations(), first.transl.copy()
    contacts = first.contacts
    segment = first.segment if first.segment is not None else np.full(len(first), first.name)
    for index, motion in enumerate(motions[1:], start=1):
        if not np.allclose(motion.betas, betas, atol=1e-9):
            raise DataError(f"motion {index} ('{motion.name}') has other betas than motion 0", field="betas")
        if motion.fps != fps:
            motion = motion.resample(np.arange(int(np.floor(motion.duration * fps + 1e-9)) + 1) / fps)
        overlap = min(int(round(blend_seconds * fps)), len(rot) - 1, len(motion) - 1)
        at = len(rot) - overlap  # first overlapping frame of the joined motion
        new_rot = motion.rotations()
        anchor = at if overlap else at - 1  # the outgoing frame the incoming motion continues
        turn = rot_z(heading_of(rot[anchor, 0]) - heading_of(new_rot[0, 0]))  # [3, 3]
        new_rot[:, 0] = turn @ new_rot[:, 0]
        pelvis = (motion.transl + pelvis_rest) @ turn.T  # [T, 3], turned about the world z axis
        weight = np.ones(len(motion))
        weight[:overlap] = smoothstep(np.arange(1, overlap + 1) / (overlap + 1))
        path = _pelvis_path(transl[at:] + pelvis_rest, pelvis, weight, transl[at - 1] + pelvis_rest)
        if overlap:
            new_rot[:overlap] = _slerp_rotations(rot[at:], new_rot[:overlap], weight[:overlap])
        new_transl = path - pelvis_rest
        labels = motion.segment if motion.segment is not None else np.full(len(motion), motion.name)
        labels = np.concatenate([np.where(weight[:overlap] < 0.5, segment[at:], labels[:overlap]), labels[overlap:]])
        new_contacts = None
        if motion.contacts is not None and contacts is not None:
            planted = motion.contacts.copy()
            planted[:overlap] &= contacts[at:]
            # Ground again from the frame before the overlap on, so planted
            # feet stay put across the join and through the blend.
            joined_rot = np.concatenate([rot[at - 1: at], new_rot])
            joined_transl = np.concatenate([transl[at - 1: at], new_transl])
            stance = np.concatenate([contacts[at - 1: at], planted]).reshape(-1, 2, 2).any(axis=2)  # [N, 2]
            # Frames in the air keep their height above the floor.
            feet = skin(torch.from_numpy(joined_rot), torch.from_numpy(joined_transl))
            lowest = torch.minimum(feet.soles["left"][..., 2].min(1).values, feet.soles["right"][..., 2].min(1).values)
            lift = np.where(stance.any(axis=1), 0.0, lowest.double().cpu().numpy())
            regrounded = ground(skin, joined_rot, stance, fps, tuple(joined_transl[0, :2] + pelvis_rest[:2]), lift)
            new_rot, new_transl, new_contacts = regrounded.rot[1:], regrounded.transl[1:], regrounded.contacts[1:]
        rot = np.concatenate([rot[:at], new_rot])
        transl = np.concatenate([transl[:at], new_transl])
        contacts = None if new_contacts is None else np.concatenate([contacts[:at], new_contacts])
        segment = np.concatenate([np.asarray(segment, dtype=str)[:at], labels])

    aa = matrix_to_axis_angle(torch.from_numpy(rot)).numpy()  # [T, 24, 3]
    return Motion(
        fps=fps,
        global_orient=aa[:, 0],
        body_pose=aa[:, 1:].reshape(len(aa), -1),
        betas=betas,
        transl=transl,
        name="+".join(m.name for m in motions),
        contacts=contacts,
        segment=segment,
    )
