"""The radar student: frame encoder (+ body anchor) -> input projection -> local mixing -> temporal model -> heads."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from torch import nn

from wavecap.student.encoders import RadarFrames, build_encoder, window_padding, window_sums
from wavecap.student.heads import ContactHead, KeypointHead, SMPLHead, UncertaintyHead, pool_frames
from wavecap.student.temporal import DEFAULT_CHUNK_FRAMES, TemporalModel


@dataclass
class StudentOutput:
    """Per-frame predictions. Positions in metres, in the radar frame (the
    frame the training labels are moved into).

    Attributes:
        rot6d: [B, T, 24, 6] raw 6D rotations (for losses on the representation).
        rotmats: [B, T, 24, 3, 3] local SMPL joint rotations; joint 0 is the
            root orientation in the label frame.
        betas: [B, T, K] shape, one per sequence (every frame shows the
            sequence mean; causal models: the mean up to that frame).
        transl: [B, T, 3] SMPL ``transl``.
        contact_logits: [B, T, 4] foot-contact logits, ``CONTACT_NAMES`` order.
        joint_log_scale: [B, T, 24] log scale (log metres) of each SMPL joint's
            position error.
        keypoints: skeleton name -> [B, T, J, 3] positions.
        frame_mask: [B, T] bool valid frames (outputs elsewhere are meaningless).
        anchor: [B, T, 3] the body anchor the point features were centred on
            (radar frame, m), or None for encoders without one; translation
            and keypoints are offsets from its average over a few frames.
    """

    rot6d: torch.Tensor
    rotmats: torch.Tensor
    betas: torch.Tensor
    transl: torch.Tensor
    contact_logits: torch.Tensor
    joint_log_scale: torch.Tensor
    frame_mask: torch.Tensor
    keypoints: dict[str, torch.Tensor] = field(default_factory=dict)
    anchor: torch.Tensor | None = None


def smooth_frames(x: torch.Tensor, mask: torch.Tensor, frames: int, causal: bool) -> torch.Tensor:
    """Mean of x over a window of valid frames: centred, or the past ``frames`` when causal.

    Args:
        x: [B, T, K] per-frame values.
        mask: [B, T] bool valid frames (padding never enters a mean).
        frames: window length (1 = x unchanged on valid frames).
        causal: the window ends at the frame instead of being centred on it.

    Returns:
        [B, T, K]; near the ends the window holds fewer frames.
    """
    if frames <= 1:
        return x
    weight = mask.to(x.dtype)[..., None]  # [B, T, 1]
    sums = window_sums(torch.cat([x * weight, weight], dim=-1), frames, causal)  # [B, T, K+1]
    return sums[..., :-1] / sums[..., -1:].clamp_min(1e-12)


class _LocalBlock(nn.Module):
    """x + mix(gelu(depthwise dilated conv(x))) over a span of (K - 1) * dilation + 1 frames."""

    def __init__(self, dim: int, frames: int, dilation: int, causal: bool) -> None:
        super().__init__()
        self.span = (frames - 1) * dilation + 1
        self.causal = causal
        self.conv = nn.Conv1d(dim, dim, frames, dilation=dilation, groups=dim)
        self.mix = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, T, C] -> [B, T, C], zeros beyond either end."""
        h = F.pad(x.transpose(1, 2), window_padding(self.span, self.causal))  # [B, C, T + span - 1]
        return x + self.mix(F.gelu(self.conv(h).transpose(1, 2)))

    def step(self, window: torch.Tensor) -> torch.Tensor:
        """[B, span, C] the last inputs, oldest first -> [B, 1, C] the causal output of the newest."""
        mixed = self.conv(window.transpose(1, 2)).transpose(1, 2)  # [B, 1, C]: span inputs, no padding
        return window[:, -1:] + self.mix(F.gelu(mixed))


class LocalMixing(nn.Module):
    """Residual depthwise convolutions over neighbouring frames, before the temporal model.

    Why: one radar frame holds a couple of dozen points, mostly on the parts
    that move (static returns are filtered out), so a pose needs the points
    of several frames; FAVOR+'s attention is global and smooth, and does not
    single out the next or previous frame. Block i has kernel K and dilation
    2^i, so ``layers`` blocks see (K - 1)(2^layers - 1) + 1 frames. Offline
    the kernels are centred on the frame; causal models look back only (so
    streaming keeps each block's last inputs, :meth:`step`).

    Args:
        dim: features C.
        frames: kernel length K (odd when not causal).
        causal: frame t sees frames up to t only.
        layers: blocks.
    """

    def __init__(self, dim: int, frames: int, causal: bool, layers: int = 1) -> None:
        super().__init__()
        if not causal and frames % 2 == 0:
            raise ValueError(f"an offline local mixing kernel must be odd (centred), got {frames}")
        if layers < 1:
            raise ValueError(f"local mixing needs at least one layer, got {layers}")
        self.blocks = nn.ModuleList(_LocalBlock(dim, frames, 2 ** i, causal) for i in range(layers))

    @property
    def spans(self) -> list[int]:
        """Frames each block's kernel covers (the inputs a stream keeps per block)."""
        return [block.span for block in self.blocks]

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """[B, T, C] -> [B, T, C]; padded frames (mask False) count as zeros, as beyond either end."""
        padding = None if mask is None else ~mask.bool()[..., None]  # [B, T, 1]
        for block in self.blocks:
            if padding is not None:
                x = x.masked_fill(padding, 0.0)
            x = block(x)
        return x

    def step(self, windows: list[torch.Tensor], x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Advance a stream by its newest frame.

        Args:
            windows: per block, [B, span, C] its last inputs, oldest first
                (zeros before the stream: the causal kernels' left padding).
            x: [B, 1, C] the newest frame's input.

        Returns:
            the updated windows, and [B, 1, C] what :meth:`forward` gives at that frame.
        """
        updated = []
        for block, window in zip(self.blocks, windows):
            window = torch.cat([window[:, 1:], x], dim=1)  # [B, span, C]
            updated.append(window)
            x = block.step(window)
        return updated, x


class RadarStudent(nn.Module):
    """Radar frames in, SMPL + keypoints + contacts + uncertainty out.

    Args:
        encoder: per-frame encoder with ``out_dim`` and ``encode(RadarFrames)``
            (see :mod:`wavecap.student.encoders`).
        temporal: the temporal model; its ``causal`` flag decides offline vs
            streaming behaviour of the whole student.
        dim: temporal width C (the temporal model's).
        keypoint_heads: skeleton name -> joint count, one head each.
        num_betas: SMPL shape coefficients K.
        encode_chunk_frames: frames per encoder call. Frames are encoded
            independently, so this changes only speed and memory: small chunks
            keep the per-point activations in cache (128 frames measured 3-4x
            faster than 2048 on a 4,096-frame capture).
        chunk_frames: frames per heads call (and the temporal model's own
            ``chunk_frames``). The heads are per-frame too; chunks keep their
            [B, t, 24, 3, 3]-sized intermediates in cache on long captures.
            None = the whole sequence at once.
        local_frames: kernel of the :class:`LocalMixing` between the frame
            encoder and the temporal model; 0 = none.
        local_layers: its blocks (dilations 1, 2, 4, ...).
        offset_frames: the translation and keypoints are offsets from the
            body anchor averaged over this many frames (:func:`smooth_frames`;
            centred offline, trailing when causal). Why offsets: a person
            metres from the radar otherwise starts training metres off, and
            the pose learned far slower (measured: held-out PA-MPJPE ~116 mm
            vs ~71 mm after 1,500 steps). Why averaged: one anchor wanders by
            decimetres from frame to frame with the few points a radar sees,
            and the raw anchor made the root jump ~10 cm per frame.
    """

    def __init__(self, encoder: nn.Module, temporal: TemporalModel, dim: int,
                 keypoint_heads: Mapping[str, int] | None = None, num_betas: int = 10,
                 encode_chunk_frames: int = 128, chunk_frames: int | None = DEFAULT_CHUNK_FRAMES,
                 local_frames: int = 0, offset_frames: int = 1, local_layers: int = 1) -> None:
        super().__init__()
        self.encoder = encoder
        self.input_projection = nn.Linear(encoder.out_dim, dim)
        self.local = LocalMixing(dim, local_frames, temporal.causal, local_layers) if local_frames else None
        self.offset_frames = int(offset_frames)
        self.temporal = temporal
        self.smpl_head = SMPLHead(dim, num_betas)
        self.keypoint_heads = nn.ModuleDict(
            {name: KeypointHead(dim, name, joints) for name, joints in (keypoint_heads or {}).items()}
        )
        self.contact_head = ContactHead(dim)
        self.uncertainty_head = UncertaintyHead(dim)
        self.encode_chunk_frames = encode_chunk_frames
        self.chunk_frames = chunk_frames

    @property
    def causal(self) -> bool:
        """Whether frame t's output depends on frames <= t only."""
        return self.temporal.causal

    def anchor(self, frames: RadarFrames) -> torch.Tensor | None:
        """[B, T, 3] body anchors of whole sequences (radar frame, m), or None for anchorless encoders."""
        return self.encoder.anchor(frames)

    def encode(self, frames: RadarFrames, anchor: torch.Tensor | None = None) -> torch.Tensor:
        """[B, T, C] projected frame features (no temporal context).

        Args:
            frames: the radar input.
            anchor: [B, T, 3] from :meth:`anchor` over the same frames (None =
                computed here, which a single frame of a stream cannot do).
        """
        if anchor is None:
            anchor = self.anchor(frames)
        chunk = self.encode_chunk_frames
        encoded = [self.input_projection(self.encoder.encode(
            frames.slice(s, s + chunk), None if anchor is None else anchor[:, s:s + chunk]))
            for s in range(0, max(frames.num_frames, 1), chunk)]
        return encoded[0] if len(encoded) == 1 else torch.cat(encoded, dim=1)

    def _heads(self, h: torch.Tensor, offset: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Every per-frame head on h [B, t, C]; ``betas`` unpooled, keypoints as ``keypoints/<name>``.
        Translation and keypoints are offsets from ``offset`` [B, t, 3] when there is one."""
        rot6d, rotmats, frame_betas, transl = self.smpl_head(h)
        keypoints = {f"keypoints/{name}": head(h) for name, head in self.keypoint_heads.items()}
        if offset is not None:
            transl = transl + offset.to(transl.dtype)
            keypoints = {k: v + offset[:, :, None].to(v.dtype) for k, v in keypoints.items()}
        return {"rot6d": rot6d, "rotmats": rotmats, "betas": frame_betas, "transl": transl,
                "contact_logits": self.contact_head(h), "joint_log_scale": self.uncertainty_head(h), **keypoints}

    def decode(self, h: torch.Tensor, frame_mask: torch.Tensor, anchor: torch.Tensor | None = None,
               offset: torch.Tensor | None = None) -> StudentOutput:
        """Apply every head to temporal features h [B, T, C], ``chunk_frames`` frames at a time.

        Args:
            h: [B, T, C] temporal features.
            frame_mask: [B, T] bool valid frames.
            anchor: [B, T, 3] body anchors (:meth:`anchor`), reported in the output.
            offset: [B, T, 3] the averaged anchor the positions are offsets
                from (see ``offset_frames``), or None.
        """
        chunk = self.chunk_frames or max(h.shape[1], 1)
        parts = [self._heads(h[:, s:s + chunk], None if offset is None else offset[:, s:s + chunk])
                 for s in range(0, max(h.shape[1], 1), chunk)]
        out = parts[0] if len(parts) == 1 else {k: torch.cat([p[k] for p in parts], dim=1) for k in parts[0]}
        return StudentOutput(
            rot6d=out["rot6d"],
            rotmats=out["rotmats"],
            betas=pool_frames(out["betas"], frame_mask, self.causal),  # over the whole sequence, not a chunk
            transl=out["transl"],
            contact_logits=out["contact_logits"],
            joint_log_scale=out["joint_log_scale"],
            frame_mask=frame_mask,
            keypoints={name: out[f"keypoints/{name}"] for name in self.keypoint_heads},
            anchor=anchor,
        )

    def forward(self, frames: RadarFrames, start: int = 0, anchor: torch.Tensor | None = None) -> StudentOutput:
        """Predict every frame of a batch of sequences.

        Args:
            frames: radar input with ``frame_mask`` [B, T] (right-padded).
            start: frame index of the first frame, for the positions.
            anchor: [B, T, 3] body anchors when the frames are a window of a
                longer capture (:meth:`anchor` of the whole capture, sliced);
                None = computed from these frames.

        Returns:
            The predictions for every frame.
        """
        if anchor is None:
            anchor = self.anchor(frames)
        x = self.encode(frames, anchor)
        if self.local is not None:
            x = self.local(x, frames.frame_mask)
        h = self.temporal(x, frames.frame_mask, start)
        offset = None if anchor is None else smooth_frames(anchor, frames.frame_mask, self.offset_frames, self.causal)
        return self.decode(h, frames.frame_mask, anchor, offset)


def build_student(cfg: Mapping[str, Any], causal: bool | None = None) -> RadarStudent:
    """Build the student from ``configs/student/model.yaml`` (resolved).

    The whole build runs in a forked RNG seeded with ``cfg.seed``: the same
    config gives the same weights and projection matrices, and the caller's
    random stream is left untouched.

    Args:
        cfg: the model config (``encoder``, ``temporal``, ``dim``, ...).
        causal: override ``cfg.temporal.causal`` (streaming models).
    """
    if isinstance(cfg, DictConfig):
        cfg = OmegaConf.to_container(cfg, resolve=True)
    temporal_cfg = dict(cfg["temporal"])
    if causal is not None:
        temporal_cfg["causal"] = causal
    seed = cfg.get("seed")
    rng = torch.random.fork_rng(devices=[]) if seed is not None else contextlib.nullcontext()
    with rng:
        if seed is not None:
            torch.manual_seed(int(seed))
        encoder = build_encoder(cfg["encoder"])
        chunk = cfg.get("chunk_frames", DEFAULT_CHUNK_FRAMES)
        chunk = None if chunk is None else int(chunk)
        temporal = TemporalModel(int(cfg["dim"]), **temporal_cfg, chunk_frames=chunk,
                                 seed=None if seed is None else int(seed) + 1)
        return RadarStudent(
            encoder, temporal, int(cfg["dim"]),
            keypoint_heads=dict(cfg.get("keypoint_heads") or {}),
            num_betas=int(cfg.get("num_betas", 10)),
            encode_chunk_frames=int(cfg.get("encode_chunk_frames", 128)),
            chunk_frames=chunk,
            local_frames=int(cfg.get("local_frames", 0)),
            local_layers=int(cfg.get("local_layers", 1)),
            offset_frames=int(cfg.get("offset_frames", 1)),
        )
