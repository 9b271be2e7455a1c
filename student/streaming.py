"""Streaming inference: one radar frame in, its pose out, constant cost per frame.

Causal FAVOR+ attention with the ReLU kernel is a recurrence. For each layer
and head, with phi the layer's random-feature map (:func:`relu_features`,
the very function performer-pytorch applies) and q, k rotated to the frame's
position:

    S_t = S_{t-1} + phi(k_t) [v_t, 1]^T            # [M, D+1]
    out_t = (phi(q_t)^T S_t)[:D] / (phi(q_t)^T S_t)[D]

The last column of S is the running sum of phi(k), so the division is the
normaliser of the full-sequence model (which, through the count channel of
:mod:`wavecap.student.temporal`, carries no eps either). Layer norms,
feedforwards, heads and positions are the model's own modules, so a stream
reproduces ``model(frames)`` of the causal model frame by frame (to float
rounding; the running sums are kept in float64 so hours-long streams do not
drift). The shape estimate is the running mean over the frames seen, as in
the causal model, and the body anchor (:func:`~wavecap.student.encoders.point_anchor`,
causal by construction) is kept from the per-frame point sums of its window
and of the whole stream.
"""

from __future__ import annotations

from dataclasses import fields

import torch

from wavecap.student.encoders import RadarFrames, anchor_from_sums, frame_point_sums
from wavecap.student.model import RadarStudent, StudentOutput
from wavecap.student.temporal import apply_rotary, relu_features


class StreamingStudent:
    """Frame-by-frame inference with a causal Performer student.

    A step is a few hundred tiny tensor ops, so latency is set by per-op
    overhead: run streams with ``torch.set_num_threads(1)`` (extra intra-op
    threads only add wake-up waits, badly so on a busy machine).

    Args:
        model: a causal ``RadarStudent`` with the performer backend, in eval mode.
        batch_size: number of independent streams advanced together.
        state_dtype: dtype of the running sums.

    Raises:
        TypeError: the model is not causal, not Performer-based, or in train mode.
    """

    def __init__(self, model: RadarStudent, batch_size: int = 1, state_dtype: torch.dtype = torch.float64) -> None:
        if not model.causal:
            raise TypeError("streaming needs a causal model (build_student(cfg, causal=True))")
        if model.training:
            raise TypeError("call model.eval() before streaming (dropout would make frames random)")
        self.model = model
        self.parts = model.temporal.layer_parts()
        self.state_dtype = state_dtype
        self.reset(batch_size)

    def reset(self, batch_size: int | None = None) -> None:
        """Start new streams (frame index 0, empty running sums)."""
        self.batch_size = batch_size or self.batch_size
        temporal = self.model.temporal
        device = self.parts[0].projection.device
        self.frame_index = 0
        self.sums = [
            torch.zeros(self.batch_size, temporal.heads, part.projection.shape[0], temporal.dim_head + 1,
                        dtype=self.state_dtype, device=device)
            for part in self.parts
        ]  # per layer [B, H, M, D+1]
        self.betas_sum: torch.Tensor | None = None
        local, dim = self.model.local, self.model.input_projection.out_features
        # per local mixing block [B, span, C] its last inputs, zeros before the stream (the causal left padding)
        self.recent = None if local is None else [
            torch.zeros(self.batch_size, span, dim, device=device) for span in local.spans]
        # Anchor state: per-frame [x, y, z, count] point sums of the window, and of the whole stream.
        self.anchor_window: list[torch.Tensor] = []  # each [B, 4]
        self.recent_anchors: list[torch.Tensor] = []  # each [B, 1, 3], for the translation offset
        self.anchor_total = torch.zeros(self.batch_size, 4, dtype=torch.float64, device=device)

    def _anchor(self, frame: RadarFrames) -> torch.Tensor | None:
        """[B, 1, 3] this frame's body anchor, or None for anchorless encoders (updates the state)."""
        encoder = self.model.encoder
        if not getattr(encoder, "anchor_frames", 0):
            return None
        sums = frame_point_sums(frame.points[:, 0], frame.point_mask[:, 0].bool())  # [B, 4]
        self.anchor_window = (self.anchor_window + [sums])[-encoder.anchor_frames:]
        self.anchor_total += sums.double()
        window = torch.stack(self.anchor_window).sum(0)  # [B, 4]
        return anchor_from_sums(window, self.anchor_total.to(sums.dtype), encoder.normalizer.mean[:3])[:, None]

    @torch.inference_mode()
    def step(self, frame: RadarFrames) -> StudentOutput:
        """Advance every stream by one frame.

        Args:
            frame: one radar frame per stream (every field with T = 1).

        Returns:
            The predictions for this frame (T = 1).
        """
        if frame.num_frames != 1 or frame.batch_size != self.batch_size:
            raise ValueError(f"expected frames [B={self.batch_size}, T=1], got "
                             f"[{frame.batch_size}, {frame.num_frames}]")
        temporal = self.model.temporal
        heads, dim_head = temporal.heads, temporal.dim_head
        anchor = self._anchor(frame)  # [B, 1, 3] or None
        x = self.model.encode(frame, anchor)  # [B, 1, C]
        if self.recent is not None:
            self.recent, x = self.model.local.step(self.recent, x)
        x = x[:, 0]  # [B, C]
        pos_emb = temporal.positions(1, self.frame_index, x.dtype, x.device)  # [1, 1, D]
        for part, total in zip(self.parts, self.sums):
            h = part.attn_norm(x)
            qk = torch.stack([part.to_q(h), part.to_k(h)]).view(2, -1, heads, 1, dim_head)  # [2, B, H, 1, D]
            phi_q, phi_k = relu_features(apply_rotary(qk, pos_emb), part.projection).to(self.state_dtype)
            v = part.to_v(h).view(-1, heads, 1, dim_head + 1).to(self.state_dtype)  # values + count channel
            total += phi_k.transpose(-1, -2) @ v  # [B, H, M, D+1]
            attended = (phi_q @ total).to(x.dtype)  # [B, H, 1, D+1]; to_out divides by the count channel
            x = x + part.to_out(attended.reshape(x.shape[0], -1))
            x = x + part.ff(part.ff_norm(x))
        h = temporal.norm(x)[:, None]  # [B, 1, C]
        offset = None
        if anchor is not None:  # the causal average of the anchors, as smooth_frames
            self.recent_anchors = (self.recent_anchors + [anchor])[-self.model.offset_frames:]
            offset = torch.stack(self.recent_anchors).mean(0)  # [B, 1, 3]
        out = self.model.decode(h, frame.frame_mask, anchor, offset)
        # decode pooled the shape over this one frame; pool over the stream so far instead.
        frame_betas = out.betas[:, 0].to(self.state_dtype)
        self.betas_sum = frame_betas if self.betas_sum is None else self.betas_sum + frame_betas
        out.betas = (self.betas_sum / (self.frame_index + 1)).to(x.dtype)[:, None]
        self.frame_index += 1
        return out

    def run(self, frames: RadarFrames) -> StudentOutput:
        """Stream a whole sequence frame by frame (from the current state).

        Args:
            frames: [B, T] radar frames, every frame valid.

        Returns:
            The per-frame outputs concatenated over T.
        """
        outputs = [self.step(frames.slice(t, t + 1)) for t in range(frames.num_frames)]
        merged = {}
        for f in fields(StudentOutput):
            values = [getattr(o, f.name) for o in outputs]
            if f.name == "keypoints":
                merged[f.name] = {name: torch.cat([v[name] for v in values], 1) for name in values[0]}
            elif values[0] is None:  # no anchor
                merged[f.name] = None
            else:
                merged[f.name] = torch.cat(values, 1)
        return StudentOutput(**merged)
