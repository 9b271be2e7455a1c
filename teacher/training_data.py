"""Training data for the teacher: ground-truth targets and a crop cache.

Sessions with ground truth (synthetic captures, mocap-labelled recordings)
give, per camera frame, the SMPL pose resampled to the frame time (SLERP /
linear), its 29 joints in the camera frame, twists and shape. Each frame's
person crop is cut once around the projected ground truth, with extra
context (``context`` x the HybrIK crop) so that augmentation can rescale,
shift and rotate it without leaving the cached pixels, and stored as uint8
in one ``torch.save`` file. Training then reads only that file.

Targets are built per augmented crop (:func:`crop_targets`): HybrIK's uvd
(u, v in crop widths from the crop centre, d root-relative depth / 2.2 m),
the camera scale ``fx / (side * Z_root)`` (the inverse of
:func:`wavecap.teacher.labeling.decode_with_intrinsics`), twist (cos, sin)
and betas.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from wavecap.body import BodyModel
from wavecap.datasets import open_session
from wavecap.errors import DataError
from wavecap.geometry import axis_angle_to_matrix, project_points, resample_linear, resample_rotations
from wavecap.teacher.boxes import box_from_joints
from wavecap.teacher.crop import crop_images, square_boxes
from wavecap.teacher.ik import twist_angles


def camera_ground_truth(path: str, body_model: BodyModel) -> dict[str, torch.Tensor]:
    """Ground truth at every camera frame of a session, camera frame.

    Returns:
        ``joints29`` [T, 29, 3] m (OpenCV camera frame), ``phi`` [T, 23, 2]
        twist (cos, sin), ``betas`` [T, 10], ``K`` [3, 3], ``times`` [T] s.

    Raises:
        DataError: no camera or no SMPL ground truth.
    """
    with open_session(path) as s:
        cam, gt = s.camera, s.ground_truth
        if cam is None or gt is None or "smpl/global_orient" not in gt.names:
            raise DataError("training needs /camera and /ground_truth/smpl", file=path, group="/ground_truth")
        smpl = gt.smpl()
        gt_times = torch.as_tensor(gt.timestamps.copy())
        times = torch.as_tensor(cam.timestamps.copy())
        K = torch.as_tensor(cam.intrinsics)
        T_cw = torch.linalg.inv(torch.as_tensor(cam.T_world_from_camera))
    T = len(times)
    aa = torch.cat([torch.as_tensor(smpl["global_orient"])[:, None], torch.as_tensor(smpl["body_pose"]).reshape(-1, 23, 3)], 1)
    rot = resample_rotations(gt_times, axis_angle_to_matrix(aa.double()), times)  # [T, 24, 3, 3]
    transl = resample_linear(gt_times, torch.as_tensor(smpl["transl"]).double(), times)
    betas = torch.as_tensor(smpl["betas"]).float()
    betas = betas.expand(T, -1) if betas.ndim == 1 else resample_linear(gt_times, betas.double(), times).float()
    with torch.no_grad():
        joints = body_model(rot[:, 0].float(), rot[:, 1:].float(), betas, transl.float(), return_vertices=False).joints29
        phi = twist_angles(rot.float(), betas, body_model)
    joints_cam = joints.double() @ T_cw[:3, :3].T + T_cw[:3, 3]
    return {"joints29": joints_cam.float(), "phi": phi.float(), "betas": betas.clone(), "K": K.float(),
            "times": times}


def build_crop_cache(
    paths: Sequence[str], out: str, body_model: BodyModel, size: int, scale_mult: float = 1.25,
    margin: float = 0.1, context: float = 1.25, progress: bool = True,
) -> dict[str, torch.Tensor]:
    """Cut every camera frame's person crop once and save it with its targets.

    Args:
        paths: sessions with camera and SMPL ground truth.
        out: cache file (written atomically; reused if it was cut from the
            same sessions, else rebuilt).
        body_model: ground-truth body model.
        size: network input side S; cached crops are ``round(S * context)``.
        scale_mult: HybrIK's square-box enlargement.
        margin: box margin around the projected joints (see box_from_joints).
        context: extra crop enlargement kept for augmentation.

    Returns:
        ``crops`` [N, 3, C, C] uint8, ``boxes`` [N, 4] the cached region
        (square, image px), ``joints29`` [N, 29, 3] camera frame, ``phi``
        [N, 23, 2], ``betas`` [N, 10], ``K`` [N, 3, 3], ``session`` [N] index
        into ``paths``, and ``sources`` (session path and frame count of each).
    """
    sources = [f"{os.path.abspath(p)}#{_camera_frames(p)}" for p in paths]
    if os.path.exists(out):
        cache = torch.load(out, weights_only=True)
        if cache.get("sources") == sources:
            return cache
    cache_side = int(round(size * context))
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in ("crops", "boxes", "joints29", "phi", "betas", "K", "session")}
    for index, path in enumerate(paths):
        gt = camera_ground_truth(path, body_model)
        uv, _ = project_points(gt["joints29"], gt["K"])
        region = square_boxes(box_from_joints(uv, margin), scale_mult * context)  # [T, 4]
        with open_session(path) as s:
            cam = s.camera
            for start in tqdm(range(0, len(cam), 64), desc=f"cache {Path(path).name}", disable=not progress):
                stop = min(start + 64, len(cam))
                images = torch.from_numpy(np.stack([cam.frame(i) for i in range(start, stop)])).permute(0, 3, 1, 2)
                parts["crops"].append(crop_images(images, region[start:stop], cache_side).to(torch.uint8))
        T = len(gt["times"])
        parts["boxes"].append(region)
        parts["joints29"].append(gt["joints29"])
        parts["phi"].append(gt["phi"])
        parts["betas"].append(gt["betas"])
        parts["K"].append(gt["K"].expand(T, 3, 3))
        parts["session"].append(torch.full((T,), index, dtype=torch.int64))
    cache: dict = {k: torch.cat(v) for k, v in parts.items()}
    cache["sources"] = sources  # which sessions it was cut from: a stale cache is rebuilt
    tmp = f"{out}.tmp-{os.getpid()}"
    torch.save(cache, tmp)
    os.replace(tmp, out)
    return cache


def _camera_frames(path: str) -> int:
    with open_session(path) as s:
        return len(s.camera) if s.camera is not None else 0


def augment_params(n: int, generator: torch.Generator, scale: float, shift: float, rotation_deg: float,
                   enabled: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random crop changes: zoom factor [n], shift [n, 2] (crop widths), angle [n] (rad)."""
    if not enabled:
        return torch.ones(n), torch.zeros(n, 2), torch.zeros(n)
    zoom = torch.exp((torch.rand(n, generator=generator) * 2 - 1) * math.log1p(scale))
    offset = (torch.rand(n, 2, generator=generator) * 2 - 1) * shift
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(rotation_deg)
    return zoom, offset, angle


def crop_targets(
    cache_crops: torch.Tensor, region: torch.Tensor, joints29: torch.Tensor, K: torch.Tensor,
    zoom: torch.Tensor, offset: torch.Tensor, angle: torch.Tensor, size: int, context: float,
    depth_factor: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Resample cached crops into network crops and their uvd / scale targets.

    The network crop is the HybrIK square (cached region / ``context``)
    divided by ``zoom``, moved by ``offset`` crop widths and turned by
    ``angle`` (image plane, x right y down). A crop pixel j of the S-pixel
    crop sits at crop unit ``q = (j - S/2) / S``, i.e. image point
    ``c + side R q`` (as :func:`crop_images`).

    Args:
        cache_crops: [B, 3, C, C] uint8 cached crops; region: [B, 4] their image boxes.
        joints29: [B, 29, 3] camera frame (m); K: [B, 3, 3].
        zoom, offset, angle: from :func:`augment_params`.
        size: S; context: cached region / HybrIK square; depth_factor: metres per d unit.

    Returns:
        crops [B, 3, S, S] float (0..255), uvd [B, 29, 3], scale [B].
    """
    B = cache_crops.shape[0]
    ctx_side = (region[:, 2] - region[:, 0])  # [B]
    ctx_centre = (region[:, :2] + region[:, 2:]) / 2  # [B, 2]
    side = ctx_side / context / zoom  # [B]
    centre = ctx_centre + offset * (ctx_side / context)[:, None]
    cos, sin = torch.cos(angle), torch.sin(angle)
    R = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)  # [B, 2, 2]
    C = cache_crops.shape[-1]
    # Output normalised o (align_corners=False) -> crop unit q = o/2 - 1/(2S) -> image
    # p = c + side R q -> cached normalised n = 2 (p - c_ctx) / side_ctx + 1/C.
    ratio = (side / ctx_side)[:, None, None]  # [B, 1, 1]
    A = ratio * R  # [B, 2, 2]
    bias = 2 * (centre - ctx_centre) / ctx_side[:, None] - (A @ torch.full((B, 2, 1), 1.0 / size))[..., 0] + 1.0 / C
    theta = torch.cat([A, bias[..., None]], dim=-1)
    grid = F.affine_grid(theta, [B, 3, size, size], align_corners=False)
    crops = F.grid_sample(cache_crops.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    uv, depth = project_points(joints29, K)  # [B, 29, 2], [B, 29]
    q = ((uv - centre[:, None]) / side[:, None, None]) @ R  # R^T (p - c) / side, row vectors
    d = (depth - depth[:, :1]) / depth_factor
    uvd = torch.cat([q, d[..., None]], dim=-1)
    scale = K[:, 0, 0] / (side * depth[:, 0])
    return crops, uvd, scale


def color_jitter(crops: torch.Tensor, generator: torch.Generator, strength: float) -> torch.Tensor:
    """Brightness, contrast and per-channel gain jitter of [B, 3, S, S] crops (0..255)."""
    if strength <= 0:
        return crops
    B = crops.shape[0]
    gain = 1 + (torch.rand(B, 3, 1, 1, generator=generator) * 2 - 1) * strength * 0.5
    bright = 1 + (torch.rand(B, 1, 1, 1, generator=generator) * 2 - 1) * strength
    contrast = 1 + (torch.rand(B, 1, 1, 1, generator=generator) * 2 - 1) * strength
    mean = crops.mean(dim=(1, 2, 3), keepdim=True)
    return (((crops - mean) * contrast + mean) * bright * gain).clamp(0, 255)
