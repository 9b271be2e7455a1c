"""HybrIK's ResNet camera model (``Simple3DPoseBaseSMPLCam``) in plain torch.

Layout and decoding follow the official implementation (Jeff-sjtu/HybrIK,
``simple3dposeSMPLWithCam.py``) so its checkpoints load by name:

* ``preact``: ResNet backbone (torchvision names), stride 32;
* ``deconv_layers``: 3 x [ConvTranspose2d(k4, s2, p1, no bias), BN, ReLU];
* ``final_layer``: 1x1 conv to ``num_joints * depth_bins`` channels, read as
  a [J, D, H, W] volume per image (joint-major, depth-minor);
* global branch: average pool -> ``fc1`` -> dropout -> ``fc2`` -> dropout,
  with no nonlinearity in between (as in the official code), then the heads
  ``decshape`` (10), ``decphi`` (23 x (cos, sin)), ``deccam`` (scale, tx, ty)
  and ``decsigma`` (29), plus buffers ``init_shape`` and ``init_cam``.

The network stops at camera-space joints; the analytic IK that turns them
into SMPL rotations is :mod:`wavecap.teacher.ik`, applied to this output by
:func:`wavecap.teacher.pose.pose_from_output` (HybrIK runs it inside
``forward``; here the two stay separate so either can be used alone).

The official configuration is a 256 x 256 crop, ResNet-34, a 64^3 volume,
focal length 1000 (in crop pixels) and a 2.2 m depth box. The compact one
keeps the heads and the decoding and shrinks everything else.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from wavecap.teacher.ik import normalize_twist
from wavecap.teacher.resnet import BasicBlock, Bottleneck, ResNet

NUM_JOINTS = 29
NUM_TWISTS = 23
NUM_BETAS = 10


@dataclass
class TeacherOutput:
    """What the network predicts for a batch of B crops.

    Frames: uvd is in crop units; xyz29 and cam_root are in the OpenCV camera
    frame (x right, y down, z forward), metres.

    Attributes:
        uvd: [B, 29, 3] soft-argmax coordinates in [-0.5, 0.5]: u, v in
            crop widths from the crop centre, d root-relative depth in units
            of ``depth_factor``.
        xyz29: [B, 29, 3] camera-frame joints relative to the root, metres.
        phi: [B, 23, 2] twist (cos, sin) per non-root joint, unit length.
        phi_raw: [B, 23, 2] the head's unnormalised output (HybrIK's twist
            loss is applied to it).
        betas: [B, 10] SMPL shape (``init_shape`` + predicted change).
        cam: [B, 3] weak-perspective camera (scale, tx, ty).
        cam_root: [B, 3] root joint in the camera frame, metres.
        sigma: [B, 29] per-joint uncertainty in (0, 1).
        scores: [B, 29] per-joint confidence, 1 - sigma.
        maxvals: [B, 29] peak probability of each joint's 3-D heatmap.
    """

    uvd: torch.Tensor
    xyz29: torch.Tensor
    phi: torch.Tensor
    phi_raw: torch.Tensor
    betas: torch.Tensor
    cam: torch.Tensor
    cam_root: torch.Tensor
    sigma: torch.Tensor
    scores: torch.Tensor
    maxvals: torch.Tensor


def soft_argmax_3d(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """HybrIK's integral regression over a per-joint 3-D volume.

    A softmax over all D*H*W voxels of each joint, then the expectation of
    each axis index under its marginal, mapped by ``index / size - 0.5`` (no
    half-voxel offset, as in HybrIK).

    Args:
        logits: [B, J, D, H, W] heatmap logits.

    Returns:
        uvd: [B, J, 3] (x over W, y over H, z over D), each in [-0.5, 0.5).
        maxvals: [B, J] largest voxel probability.
    """
    B, J, D, H, W = logits.shape
    # fp32 even under bf16 autocast: a bf16 sum over D*H*W voxels loses the sub-voxel expectation.
    prob = logits.float().reshape(B, J, D * H * W).softmax(dim=-1)
    maxvals = prob.amax(dim=-1)
    prob = prob.reshape(B, J, D, H, W)
    plane = prob.sum(dim=2)  # [B, J, H, W]
    marginals = (plane.sum(dim=2), plane.sum(dim=3), prob.sum(dim=(3, 4)))  # x [W], y [H], z [D]
    coords = [
        (m * torch.arange(m.shape[-1], dtype=m.dtype, device=m.device)).sum(-1) / m.shape[-1] - 0.5
        for m in marginals
    ]
    return torch.stack(coords, dim=-1), maxvals


def uvd_to_camera(
    uvd: torch.Tensor,
    cam: torch.Tensor,
    input_size: int,
    focal_length: float,
    depth_factor: float,
    boxes: torch.Tensor | None = None,
    img_center: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lift soft-argmax joints to the camera frame as HybrIK's cam model does.

    The root depth is ``f / (input_size * s)``. With boxes, u, v are shifted
    by the box centre's offset from the image centre (in box sizes): the
    result is a full-image pinhole camera with focal length
    ``f * box_w / input_size`` pixels and the principal point at
    ``img_center``. Without boxes the predicted (tx, ty) are subtracted.

    Args:
        uvd: [B, J, 3] soft-argmax output (crop units, see :class:`TeacherOutput`).
        cam: [B, 3] (scale, tx, ty).
        input_size: crop side in pixels the focal length refers to.
        focal_length: focal length in crop pixels (1000 for 256 crops).
        depth_factor: metres per unit of d (2.2).
        boxes: [B, 4] square crop boxes (x1, y1, x2, y2) in image pixels.
        img_center: [B, 2] image centre in pixels; required with ``boxes``.

    Returns:
        xyz: [B, J, 3] camera-frame joints relative to joint 0, metres.
        cam_root: [B, 3] joint 0 in the camera frame, metres.
    """
    scale = cam[:, None, :1]  # [B, 1, 1]
    # The 1e-9 is HybrIK's guard against a zero scale.
    cam_depth = focal_length / (input_size * scale + 1e-9)  # [B, 1, 1]
    if boxes is not None:
        if img_center is None:
            raise ValueError("uvd_to_camera: img_center is required with boxes")
        size = boxes[:, 2:] - boxes[:, :2]  # [B, 2]
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2
        shift = ((centre - img_center) / size)[:, None]  # [B, 1, 2]
    else:
        shift = -cam[:, None, 1:]
    z = uvd[..., 2:] * depth_factor  # [B, J, 1] metres, root-relative
    xy = (uvd[..., :2] + shift) * (input_size / focal_length) * (z + cam_depth)  # [B, J, 2]
    xyz = torch.cat([xy, z], dim=-1)
    cam_root = xyz[:, 0] + torch.cat([torch.zeros_like(xy[:, 0]), cam_depth[:, 0]], dim=-1)
    return xyz - xyz[:, :1], cam_root


class VolumeLayer(nn.Conv2d):
    """HybrIK's ``final_layer``: a 1x1 conv to J*D channels, by channel range.

    Computing a few joints' volumes at a time and reducing them at once
    keeps each slice in cache; the full [B, J*D, H, W] tensor (243 MB for 8
    official crops) never exists. Parameters and state-dict keys are a plain
    ``Conv2d``'s, and forward hooks see every slice's output.
    """

    def forward(self, x: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """[B, C, H, W] features -> [B, stop - start, H, W] logits of channels start..stop.

        A matrix product rather than ``conv2d``: a 1x1 conv on channels-last
        features took torch's slow conv path and returned channels-last
        logits that the softmax then had to copy (together 46 % of an
        official R34 forward); the product reads either layout in place and
        writes contiguous logits.
        """
        c, h, w = x.shape[1:]
        weight, bias = self.weight[start:stop, :, 0, 0], self.bias[start:stop, None]  # [n, C], [n, 1]
        # One product per image: [n, C] @ [C, H*W], the features a (possibly transposed) view.
        logits = torch.stack([torch.addmm(bias, weight, image.reshape(c, h * w)) for image in x])  # [B, n, H*W]
        return logits.unflatten(-1, (h, w))


class HybrIKNet(nn.Module):
    """HybrIK ResNet camera model (official layout, or a compact variant).

    Args:
        depth: ResNet depth (18, 34, 50).
        layers: blocks per ResNet stage; standard for ``depth`` when None.
        widths: ResNet stage widths.
        input_size: square crop side in pixels.
        deconv_channels: channels of the three transposed-conv blocks.
        depth_bins: depth resolution D of the heatmap volume. The spatial
            size is input_size / 4 (stride 32 then three x2 upsamplings).
        hidden: width of ``fc1`` / ``fc2``.
        dropout: dropout after ``fc1`` and ``fc2`` (training only).
        focal_length: focal length in crop pixels.
        depth_factor: metres per unit of the heatmap's depth coordinate.
        joints_per_chunk: joint volumes computed and reduced together, one
            image at a time (cache-friendly on CPU); 29 or more computes the
            whole batch at once (better on GPU). Results are identical.
    """

    def __init__(
        self,
        depth: int = 34,
        layers: Sequence[int] | None = None,
        widths: Sequence[int] = (64, 128, 256, 512),
        input_size: int = 256,
        deconv_channels: int = 256,
        depth_bins: int = 64,
        hidden: int = 1024,
        dropout: float = 0.5,
        focal_length: float = 1000.0,
        depth_factor: float = 2.2,
        joints_per_chunk: int = 4,
    ) -> None:
        super().__init__()
        if input_size % 32:
            raise ValueError(f"input_size must be a multiple of 32, got {input_size}")
        self.input_size = int(input_size)
        self.depth_bins = int(depth_bins)
        self.focal_length = float(focal_length)
        self.depth_factor = float(depth_factor)
        self.joints_per_chunk = int(joints_per_chunk)
        self.preact = ResNet(depth, layers, widths)
        feature = self.preact.out_channels
        blocks: list[nn.Module] = []
        for in_ch in (feature, deconv_channels, deconv_channels):
            blocks += [
                nn.ConvTranspose2d(in_ch, deconv_channels, kernel_size=4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(deconv_channels),
                nn.ReLU(inplace=True),
            ]
        self.deconv_layers = nn.Sequential(*blocks)
        self.final_layer = VolumeLayer(deconv_channels, NUM_JOINTS * depth_bins, kernel_size=1)
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(feature, hidden)
        self.drop1 = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, hidden)
        self.drop2 = nn.Dropout(dropout)
        self.decshape = nn.Linear(hidden, NUM_BETAS)
        self.decphi = nn.Linear(hidden, NUM_TWISTS * 2)
        self.deccam = nn.Linear(hidden, 3)
        self.decsigma = nn.Linear(hidden, NUM_JOINTS)
        # HybrIK fills init_shape from h36m_mean_beta.npy; checkpoints carry
        # it, so a fresh model starts from the mean (zero) shape.
        self.register_buffer("init_shape", torch.zeros(NUM_BETAS))
        self.register_buffer("init_cam", torch.tensor([0.9, 0.0, 0.0]))
        for module in self.deconv_layers:
            if isinstance(module, nn.ConvTranspose2d):
                nn.init.normal_(module.weight, std=0.001)
        nn.init.normal_(self.final_layer.weight, std=0.001)
        nn.init.zeros_(self.final_layer.bias)

    @property
    def heatmap_size(self) -> int:
        """Side of the heatmap volume's spatial grid (input_size / 4)."""
        return self.input_size // 4

    def _volume_soft_argmax(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Deconv features [B, C, H, W] -> uvd [B, J, 3], maxvals [B, J] (see :func:`soft_argmax_3d`)."""
        D, step = self.depth_bins, self.joints_per_chunk
        if step >= NUM_JOINTS:
            return soft_argmax_3d(self.final_layer(features).unflatten(1, (NUM_JOINTS, D)))
        uvd, maxvals = [], []
        for image in features.split(1):
            parts = [
                soft_argmax_3d(self.final_layer(image, j * D, min(j + step, NUM_JOINTS) * D).unflatten(1, (-1, D)))
                for j in range(0, NUM_JOINTS, step)
            ]
            uvd.append(torch.cat([p[0] for p in parts], dim=1))
            maxvals.append(torch.cat([p[1] for p in parts], dim=1))
        return torch.cat(uvd), torch.cat(maxvals)

    def forward(
        self,
        images: torch.Tensor,
        boxes: torch.Tensor | None = None,
        img_center: torch.Tensor | None = None,
    ) -> TeacherOutput:
        """Predict joints, twists, shape and camera for normalised crops.

        Args:
            images: [B, 3, S, S] crops normalised as
                :func:`wavecap.teacher.crop.normalize_crops` does, S = input_size.
            boxes: [B, 4] the square crop boxes in image pixels (x1, y1, x2, y2);
                when given (with ``img_center``) the camera is the full-image
                pinhole camera HybrIK's demo uses.
            img_center: [B, 2] image centre (W/2, H/2) in pixels.

        Returns:
            :class:`TeacherOutput`.
        """
        if images.ndim != 4 or images.shape[1:] != (3, self.input_size, self.input_size):
            raise ValueError(f"expected [B, 3, {self.input_size}, {self.input_size}] crops, got {tuple(images.shape)}")
        batch = images.shape[0]
        features = self.preact(images)  # [B, C, S/32, S/32]
        uvd, maxvals = self._volume_soft_argmax(self.deconv_layers(features))

        x = self.avg_pool(features).flatten(1)  # [B, C]
        x = self.drop2(self.fc2(self.drop1(self.fc1(x))))
        betas = self.decshape(x) + self.init_shape
        phi_raw = self.decphi(x).reshape(batch, NUM_TWISTS, 2)
        phi = normalize_twist(phi_raw)
        cam = self.deccam(x) + self.init_cam
        sigma = self.decsigma(x).sigmoid()
        xyz, cam_root = uvd_to_camera(
            uvd, cam, self.input_size, self.focal_length, self.depth_factor, boxes, img_center
        )
        return TeacherOutput(
            uvd=uvd, xyz29=xyz, phi=phi, phi_raw=phi_raw, betas=betas, cam=cam, cam_root=cam_root,
            sigma=sigma, scores=1 - sigma, maxvals=maxvals,
        )


def build_teacher(cfg: Mapping[str, Any]) -> HybrIKNet:
    """Build the network from a ``configs/teacher/*.yaml`` config.

    Args:
        cfg: the teacher config (a DictConfig or dict) with a ``network``
            mapping of :class:`HybrIKNet` arguments.
    """
    net = dict(cfg["network"])
    for key in ("layers", "widths"):
        if net.get(key) is not None:
            net[key] = tuple(int(v) for v in net[key])
    return HybrIKNet(**net)


def fuse_for_inference(net: HybrIKNet) -> HybrIKNet:
    """An eval-mode copy with every BatchNorm folded into the conv before it.

    Same outputs as ``net.eval()`` (to rounding), fewer passes over the
    feature maps. The copy's state dict no longer has the BN keys, so save
    and load checkpoints with the original network.
    """
    fused = copy.deepcopy(net).eval()
    for module in list(fused.modules()):
        if isinstance(module, (ResNet, BasicBlock, Bottleneck)):
            for conv_name, bn_name in (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")):
                if isinstance(getattr(module, bn_name, None), nn.BatchNorm2d):
                    setattr(module, conv_name, fuse_conv_bn_eval(getattr(module, conv_name), getattr(module, bn_name)))
                    setattr(module, bn_name, nn.Identity())
        elif isinstance(module, nn.Sequential):
            for i in range(len(module) - 1):
                conv, bn = module[i], module[i + 1]
                if isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)) and isinstance(bn, nn.BatchNorm2d):
                    module[i] = fuse_conv_bn_eval(conv, bn, transpose=isinstance(conv, nn.ConvTranspose2d))
                    module[i + 1] = nn.Identity()
    return fused
