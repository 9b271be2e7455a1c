"""Teacher labels from a stored 3-D keypoint stream (mocap, Kinect, another detector).

``/keypoints/<stream>`` is mapped to HybrIK's 29 joints (:data:`ADAPTERS`,
one function per skeleton name), the subject's shape is fitted to the
stream's bone lengths, and the same analytic IK as the RGB teacher gives
SMPL parameters, which then follow the RGB path: change of frame and
resampling onto the radar (``<run>``) and camera (``<run>_camera``) clocks.

Twist. Joint positions do not determine the twist of a bone about itself
except where a joint has several children, so:

* every joint gets zero twist (the rest pose's roll about the bone), which
  leaves joint positions exact but forearm / shin roll unknown for the mesh;
* spine3's twist about the neck bone is estimated from its other children,
  the collars (a branch point: the IK only aims spine3 at the neck); the
  pelvis is solved from its three children by Kabsch.

Missing leaves (an ``smpl24`` stream has no head top, fingertips or toe
tips) are extrapolated along the parent bone at the template leaf length, so
the head, hands and feet continue their parent segment.

Extension point: add ``ADAPTERS["my_skeleton"] = fn`` with ``fn(positions
[T, J, 3], joint_names) -> [T, 29, 3]`` (NaN where unknown). Other skeletons
named in :mod:`wavecap.skeletons` go through its map to SMPL
(:func:`adapter_for`); frames then need every SMPL joint the map can give.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from wavecap.body import BodyModel
from wavecap.body.skeleton import HYBRIK_JOINT_NAMES, HYBRIK_PARENTS, NUM_SMPL_JOINTS, SMPL_JOINT_NAMES
from wavecap.datasets import open_session
from wavecap.errors import DataError
from wavecap.teacher.ik import HYBRIK_CHILDREN, solve_ik
from wavecap.teacher.label_frames import LabelTrack, change_frame, resample_track
from wavecap.teacher.labeling import rest_root, run_metadata, write_track

SPINE3, NECK, COLLARS = 9, 12, (13, 14)
LEAVES = tuple(range(NUM_SMPL_JOINTS, len(HYBRIK_JOINT_NAMES)))


def _reorder(positions: np.ndarray, names: Sequence[str], wanted: Sequence[str], skeleton: str) -> np.ndarray:
    if tuple(names) == tuple(wanted):
        return positions
    index = {n: i for i, n in enumerate(names)}
    missing = [n for n in wanted if n not in index]
    if missing:
        raise DataError(f"{skeleton} stream lacks joints {missing}", field="joint_names")
    return positions[:, [index[n] for n in wanted]]


def _hybrik29(positions: np.ndarray, names: Sequence[str]) -> np.ndarray:
    return _reorder(positions, names, HYBRIK_JOINT_NAMES, "hybrik29")


def _smpl24(positions: np.ndarray, names: Sequence[str]) -> np.ndarray:
    joints = _reorder(positions, names, SMPL_JOINT_NAMES, "smpl24")
    leaves = np.full((joints.shape[0], len(LEAVES), 3), np.nan, dtype=joints.dtype)
    return np.concatenate([joints, leaves], axis=1)


ADAPTERS: dict[str, Callable[[np.ndarray, Sequence[str]], np.ndarray]] = {
    "hybrik29": _hybrik29,
    "smpl24": _smpl24,
}


def adapter_for(skeleton: str) -> Callable[[np.ndarray, Sequence[str]], np.ndarray] | None:
    """The stream adapter of a skeleton: :data:`ADAPTERS`, else the SMPL map of
    :mod:`wavecap.skeletons` (SMPL joints it cannot estimate are NaN, which
    makes those frames invalid); None if neither knows it."""
    if skeleton in ADAPTERS:
        return ADAPTERS[skeleton]
    from wavecap import skeletons

    if skeleton not in skeletons.skeleton_names():
        return None

    def mapped(positions: np.ndarray, names: Sequence[str]) -> np.ndarray:
        estimates, mask = skeletons.smpl_from_skeleton(positions, skeleton)
        return _smpl24(np.where(np.asarray(mask)[:, None], estimates, np.nan), SMPL_JOINT_NAMES)

    return mapped


def fill_leaves(joints29: torch.Tensor, rest29: torch.Tensor) -> torch.Tensor:
    """Replace non-finite leaves by extending the parent bone at template length.

    Args:
        joints29: [T, 29, 3] joints, NaN where unknown.
        rest29: [1 or T, 29, 3] rest joints of the fitted shape.
    """
    out = joints29.clone()
    for leaf in LEAVES:
        joint = HYBRIK_PARENTS[leaf]
        bone = out[:, joint] - out[:, HYBRIK_PARENTS[joint]]  # [T, 3]
        length = torch.linalg.vector_norm(rest29[:, leaf] - rest29[:, joint], dim=-1, keepdim=True)
        guess = out[:, joint] + bone / torch.linalg.vector_norm(bone, dim=-1, keepdim=True).clamp_min(1e-9) * length
        missing = ~torch.isfinite(out[:, leaf]).all(dim=-1, keepdim=True)
        out[:, leaf] = torch.where(missing, guess, out[:, leaf])
    return out


def _bones(joints: torch.Tensor) -> torch.Tensor:
    """[..., 28] lengths of the bones to joints 1..28."""
    parents = list(HYBRIK_PARENTS[1:])
    return torch.linalg.vector_norm(joints[..., 1:, :] - joints[..., parents, :], dim=-1)


def fit_betas(joints29: torch.Tensor, body_model: BodyModel, steps: int = 50, reg: float = 1e-3) -> torch.Tensor:
    """Shape [10] whose rest bone lengths match the stream's median bone lengths.

    Only finite bones count. Deterministic L-BFGS from the mean shape, with a
    small ridge penalty (bones do not constrain every coefficient).
    """
    observed = _bones(joints29.double())  # [T, 28]
    target = torch.nanmedian(torch.where(torch.isfinite(observed), observed, torch.nan), dim=0).values
    known = torch.isfinite(target)
    dtype = next(body_model.buffers()).dtype
    betas = torch.zeros(1, 10, dtype=dtype, requires_grad=True)
    opt = torch.optim.LBFGS([betas], lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        bones = _bones(body_model.rest_joints(betas))[0].double()
        loss = ((bones - target.nan_to_num())[known] ** 2).sum() + reg * (betas.double() ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return betas.detach()[0]


def spine3_twist(joints29: torch.Tensor, rotmats: torch.Tensor, rest29: torch.Tensor,
                 body_model: BodyModel) -> torch.Tensor:
    """(cos, sin) [T, 2] of spine3's twist that best aims its collar bones.

    With zero twist, spine3's global frame is G; twisting by phi about the
    rest bone t (spine3 -> neck) turns it into ``G R(t, phi)``, and the
    collar rest offsets c should map onto the observed ones v:
    ``R(t, phi) c ~ G^T v``. The best phi is the angle between the
    components of c and ``G^T v`` perpendicular to t, summed over collars.
    """
    dtype = rotmats.dtype
    out = body_model(rotmats[:, 0].to(next(body_model.buffers()).dtype),
                     rotmats[:, 1:].to(next(body_model.buffers()).dtype), return_vertices=False)
    G = out.transforms[:, SPINE3, :3, :3].to(dtype)  # [T, 3, 3]
    t = rest29[:, HYBRIK_CHILDREN[SPINE3]] - rest29[:, SPINE3]
    t = (t / torch.linalg.vector_norm(t, dim=-1, keepdim=True)).to(dtype).expand(rotmats.shape[0], 3)
    cos = sin = torch.zeros(rotmats.shape[0], dtype=dtype)
    for collar in COLLARS:
        c = (rest29[:, collar] - rest29[:, SPINE3]).to(dtype).expand_as(t)
        v = joints29[:, collar] - joints29[:, SPINE3]
        w = (G.transpose(-1, -2) @ v[..., None])[..., 0]
        c_perp = c - (c * t).sum(-1, keepdim=True) * t
        w_perp = w - (w * t).sum(-1, keepdim=True) * t
        cos = cos + (c_perp * w_perp).sum(-1)
        sin = sin + (torch.linalg.cross(c_perp, w_perp) * t).sum(-1)
    phi = torch.stack([cos, sin], dim=-1)
    phi = torch.nan_to_num(phi, nan=1.0)
    norm = torch.linalg.vector_norm(phi, dim=-1, keepdim=True)
    return torch.where(norm > 1e-9, phi / norm.clamp_min(1e-12), torch.tensor([1.0, 0.0], dtype=dtype))


def keypoint_track(joints29: torch.Tensor, confidence: torch.Tensor | None, body_model: BodyModel,
                   betas: torch.Tensor, ik_variant: str = "adaptive") -> LabelTrack:
    """SMPL labels of keypoint frames, in the keypoints' own frame.

    Args:
        joints29: [T, 29, 3] joints (leaves may be NaN), metres.
        confidence: [T, 29] per-joint confidence, or None (all 1).
        body_model: the labels' body model.
        betas: [10] subject shape.
        ik_variant: IK variant.
    """
    T = joints29.shape[0]
    dtype = torch.float64
    model_dtype = next(body_model.buffers()).dtype
    betas_t = betas.to(model_dtype)[None].expand(T, -1)
    with torch.no_grad():
        rest = body_model.rest_joints(betas_t).to(dtype)  # [T, 29, 3]
    joints = fill_leaves(joints29.to(dtype), rest)
    finite = torch.isfinite(joints).flatten(1).all(dim=1)
    phi = torch.zeros(T, 23, 2, dtype=dtype)
    phi[..., 0] = 1.0
    with torch.no_grad():
        first = solve_ik(joints, phi, rest, ik_variant)
        phi[:, SPINE3 - 1] = spine3_twist(joints, first.rotmats, rest, body_model)
        ik = solve_ik(joints, phi, rest, ik_variant)
        transl = joints[:, 0] - rest[:, 0]
        transl = torch.where(finite[:, None], transl, torch.zeros_like(transl))
        fk = body_model(ik.rotmats[:, 0].to(model_dtype), ik.rotmats[:, 1:].to(model_dtype), betas_t,
                        transl.to(model_dtype), return_vertices=False).joints29.to(dtype)
    valid = finite & ~ik.flags
    conf = torch.ones(T, 29, dtype=dtype) if confidence is None else confidence.to(dtype).nan_to_num(0.0)
    conf = conf * valid[:, None]
    return LabelTrack(rotmats=ik.rotmats, betas=betas_t.to(dtype), transl=transl, joints29=fk,
                      joint_confidence=conf, confidence=conf.mean(dim=1), valid=valid)


def _frame_transform(frame: str, T_world_from_radar: np.ndarray, T_world_from_camera: np.ndarray | None,
                     path: str, stream: str) -> torch.Tensor:
    """[4, 4] world-from-stream transform of a keypoint stream's ``frame``."""
    if frame == "world":
        return torch.eye(4, dtype=torch.float64)
    if frame == "radar":
        return torch.as_tensor(T_world_from_radar)
    if frame == "camera" and T_world_from_camera is not None:
        return torch.as_tensor(T_world_from_camera)
    raise DataError(f"cannot place keypoint frame {frame!r}", file=path, group=f"/keypoints/{stream}", field="frame")


def label_session_keypoints(
    path: str, body_model: BodyModel, cfg: Mapping[str, Any], base_metadata: Mapping[str, object],
    restart: bool = False,
) -> dict[str, str]:
    """Label one session from ``/keypoints/<cfg.keypoints.stream>`` (resumable).

    Writes ``<run>`` (radar clock, radar frame) and, when the session has a
    camera, ``<run>_camera`` (camera clock, camera frame).
    """
    kcfg, run = cfg["keypoints"], str(cfg["run"])
    stream = str(kcfg["stream"])
    with open_session(path) as s:
        streams = s.keypoints
        if stream not in streams:
            raise DataError(f"no keypoint stream {stream!r}; streams: {tuple(streams)}", file=path,
                            group=f"/keypoints/{stream}")
        ks = streams[stream]
        skeleton = str(kcfg.get("skeleton") or ks.skeleton)
        adapter = adapter_for(skeleton)
        if adapter is None:
            raise DataError(f"no skeleton adapter for {skeleton!r}; known: {tuple(ADAPTERS)} and wavecap.skeletons",
                            file=path, group=f"/keypoints/{stream}", field="skeleton")
        times, positions, confidence = ks.timestamps.copy(), ks.positions(), ks.confidence()
        names, frame = ks.joint_names, ks.coordinate_frame
        radar_times, T_wr = s.radar.timestamps.copy(), s.radar.T_world_from_radar
        camera = s.camera
        cam = None if camera is None else (camera.timestamps.copy(), camera.T_world_from_camera)
    joints = torch.as_tensor(adapter(positions, names), dtype=torch.float64)
    conf = None
    if confidence is not None and skeleton == "hybrik29":
        conf = torch.as_tensor(_hybrik29(confidence[..., None], names)[..., 0], dtype=torch.float64)
    betas = fit_betas(joints, body_model) if kcfg["fit_betas"] else torch.zeros(10)
    T_world_from_stream = _frame_transform(frame, T_wr, None if cam is None else cam[1], path, stream)

    def in_frame(T_world_from_target: np.ndarray) -> LabelTrack:
        track = keypoint_track(joints, conf, body_model, betas, str(cfg["teacher"]["ik"]["variant"]))
        T = torch.linalg.inv(torch.as_tensor(T_world_from_target)) @ T_world_from_stream
        return change_frame(track, T, rest_root(body_model, track.betas))

    gap, decay = float(cfg["gap_tolerance_s"]), float(cfg["gap_decay"])
    chunk = int(cfg["chunk_size"])
    write_track(path, run, lambda: resample_track(times, in_frame(T_wr), radar_times, gap, decay), "/radar", chunk,
                run_metadata(path, run, base_metadata, "radar"), restart)
    runs = {"radar": run}
    if cam is not None:
        camera_run = f"{run}_camera"
        write_track(path, camera_run, lambda: resample_track(times, in_frame(cam[1]), cam[0], gap, decay),
                    "/camera", chunk, run_metadata(path, camera_run, base_metadata, "camera"), restart)
        runs["camera"] = camera_run
    return runs
