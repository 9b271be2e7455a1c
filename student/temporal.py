"""Temporal model over the frame sequence, behind one adapter.

``TemporalModel(x [B, T, C], mask [B, T]) -> [B, T, C]`` with two backends:

* ``"performer"`` (default): performer-pytorch's ``Performer`` (FAVOR+ linear
  attention). This module is the only place that imports performer_pytorch.
* ``"exact"``: the same pre-LN blocks with ``F.scaled_dot_product_attention``,
  the benchmark peer and the fast path for short windows.

What the adapter adds to the library (see ``performer.md`` in the shared
reference):

* **Causal mode uses the ReLU kernel** (``generalized_attention=True`` for
  both modes). The default softmax kernel takes its key stabiliser over the
  whole sequence and so leaks future frames into past outputs.
* **Exact padding.** The library only zeroes V at padded frames; padded keys
  still enter the normaliser. Each head's values carry one extra channel that
  is 1 on every frame, so the library's own V masking sets it to 0 on padded
  frames and the attention output in that channel is
  ``phi(q).sum_valid(phi(k)) / library_normaliser``. Dividing the value
  channels by it cancels the library's normaliser (and its eps): the result is
  exactly ``phi(q).sum_valid(phi(k) v) / phi(q).sum_valid(phi(k))``.
* **Rotary positions** passed as ``pos_emb``, computed for any length and any
  start frame. Periods run geometrically from ``rotary_min_period`` to
  ``rotary_max_period`` frames; with the longest period no longer than the
  training windows every phase a long capture produces was seen in training.
* **Explicit feature schedule.** Projections are fixed by default
  (``feature_redraw_interval=None``); the build is seeded in a forked RNG so
  the projection matrices do not depend on, or disturb, the global stream.
* **fp16 is refused**: FAVOR+'s normaliser overflows half precision; use
  fp32 or bf16.

Streaming (:mod:`wavecap.student.streaming`) reuses :meth:`TemporalModel.layer_parts`
and the same positions; :func:`relu_features` and :func:`apply_rotary` restate
the library's feature map and rotation with fewer ops (the streaming test
checks they reproduce the library's full-sequence output).
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

with warnings.catch_warnings():
    # performer-pytorch 1.1.4 imports distutils' LooseVersion (performer.md 2.11).
    warnings.simplefilter("ignore", DeprecationWarning)
    from performer_pytorch import Performer

BACKENDS = ("performer", "exact")
# Frames per chunk of the offline Performer layers (and the student's heads): a [1024, C] chunk's
# activations stay in cache, and 1,024-2,048 measured fastest on 16k frames (fewer, larger ops than 256-512).
DEFAULT_CHUNK_FRAMES = 1024

# performer-pytorch's generalized_kernel adds this to every ReLU feature.
_KERNEL_EPSILON = 1e-3
# Denominator floor for a query that sees no valid key (all-padded prefix):
# its numerator is 0 as well, so the output is 0 rather than NaN.
_MIN_NORMALISER = 1e-30


def rotary_embedding(
    length: int,
    dim_head: int,
    start: int = 0,
    min_period: float = 4.0,
    max_period: float = 512.0,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Rotary position table in performer-pytorch's ``pos_emb`` layout.

    Args:
        length: frames T.
        dim_head: channels per head D (even).
        start: frame index of the first frame (streams keep counting).
        min_period: shortest rotation period, frames.
        max_period: longest rotation period, frames.
        dtype: result dtype.
        device: result device.

    Returns:
        [1, T, D]: sines of the D/2 frequencies, then their cosines; channel
        pair (2i, 2i+1) of q and k is rotated by frequency i.
    """
    if dim_head % 2:
        raise ValueError(f"dim_head must be even for rotary positions, got {dim_head}")
    periods = torch.logspace(
        math.log10(min_period), math.log10(max_period), dim_head // 2, dtype=torch.float64, device=device
    )
    positions = torch.arange(start, start + length, dtype=torch.float64, device=device)
    # float64 and an explicit modulo keep the phase exact at frame 10^6 and beyond.
    angles = torch.remainder(positions[:, None] * (2 * math.pi / periods), 2 * math.pi)  # [T, D/2]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)[None].to(dtype)


def apply_rotary(x: torch.Tensor, pos_emb: torch.Tensor) -> torch.Tensor:
    """Rotate queries or keys by their frame's angles, as performer-pytorch does.

    Channel pair (2i, 2i+1) is rotated by angle i: the math of the library's
    ``apply_rotary_pos_emb`` (which ``Performer`` applies internally), written
    with fewer ops for the exact backend and the per-frame streaming step.

    Args:
        x: [..., T, D] queries or keys (any leading dims, e.g. [B, H]).
        pos_emb: [1, T, D] from :func:`rotary_embedding`.

    Returns:
        [..., T, D] rotated.
    """
    sin, cos = pos_emb[0].to(x.dtype).chunk(2, dim=-1)  # [T, D/2] each
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack([even * cos - odd * sin, odd * cos + even * sin], dim=-1).flatten(-2)


def relu_features(x: torch.Tensor, projection: torch.Tensor) -> torch.Tensor:
    """FAVOR+ ReLU random features, as performer-pytorch's ``generalized_kernel``.

    ``relu(D^-1/4 x W^T) + 1e-3`` with W the layer's projection matrix: the
    library's data normaliser D^-1/4, ReLU and kernel epsilon 1e-3.

    Args:
        x: [..., D] queries or keys (after rotary).
        projection: [M, D] the layer's ``projection_matrix`` buffer.

    Returns:
        [..., M] positive features.
    """
    return F.relu((x * x.shape[-1] ** -0.25) @ projection.to(x.dtype).T) + _KERNEL_EPSILON


class _ValuesWithCount(nn.Module):
    """Value projection with one constant-1 channel appended per head.

    The library's mask zeroes values at padded frames, so the extra channel
    becomes the validity of each key (see module docstring).
    """

    def __init__(self, linear: nn.Linear, heads: int) -> None:
        super().__init__()
        self.linear = linear
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self.linear(x).unflatten(-1, (self.heads, -1))  # [..., H, D]
        return torch.cat([v, v.new_ones(*v.shape[:-1], 1)], dim=-1).flatten(-2)  # [..., H*(D+1)]


class _NormalisedOutput(nn.Module):
    """Output projection that first renormalises by the count channel."""

    def __init__(self, linear: nn.Linear, heads: int) -> None:
        super().__init__()
        self.linear = linear
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.unflatten(-1, (self.heads, -1))  # [..., H, D+1]
        values = x[..., :-1] / x[..., -1:].clamp_min(_MIN_NORMALISER)
        return self.linear(values.flatten(-2))


class _FeedForward(nn.Sequential):
    """GELU MLP with hidden width ``mult * dim``, the same shape as Performer's."""

    def __init__(self, dim: int, mult: int, dropout: float) -> None:
        super().__init__(nn.Linear(dim, dim * mult), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim * mult, dim))


class _ExactBlock(nn.Module):
    """Pre-LN transformer block with SDPA, sized like one Performer layer."""

    def __init__(self, dim: int, heads: int, dim_head: int, ff_mult: int, qkv_bias: bool,
                 attn_out_bias: bool, dropout: float) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.dropout = dropout
        self.attn_norm = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=qkv_bias)
        self.to_k = nn.Linear(dim, inner, bias=qkv_bias)
        self.to_v = nn.Linear(dim, inner, bias=qkv_bias)
        self.to_out = nn.Linear(inner, dim, bias=attn_out_bias)
        self.ff_norm = nn.LayerNorm(dim)
        self.ff = _FeedForward(dim, ff_mult, dropout)

    def forward(self, x: torch.Tensor, pos_emb: torch.Tensor, attn_mask: torch.Tensor | None,
                causal: bool) -> torch.Tensor:
        h = self.attn_norm(x)
        q, k, v = (proj(h).unflatten(-1, (self.heads, -1)).transpose(1, 2)  # [B, H, T, D]
                   for proj in (self.to_q, self.to_k, self.to_v))
        q, k = apply_rotary(q, pos_emb), apply_rotary(k, pos_emb)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, is_causal=causal and attn_mask is None,
            dropout_p=self.dropout if self.training else 0.0,
        )
        x = x + self.to_out(out.transpose(1, 2).flatten(-2))
        return x + self.ff(self.ff_norm(x))


@dataclass
class LayerParts:
    """One Performer layer's pieces, for the streaming recurrence.

    Attributes:
        attn_norm: pre-attention LayerNorm.
        to_q: [C] -> [H*D] query projection.
        to_k: [C] -> [H*D] key projection.
        to_v: [C] -> [H*(D+1)] values with the count channel.
        to_out: [H*(D+1)] -> [C] renormalising output projection.
        projection: [M, D] random-feature matrix (a buffer, shared with the layer).
        ff_norm: pre-feedforward LayerNorm.
        ff: feedforward [C] -> [C].
    """

    attn_norm: nn.Module
    to_q: nn.Module
    to_k: nn.Module
    to_v: nn.Module
    to_out: nn.Module
    projection: torch.Tensor
    ff_norm: nn.Module
    ff: Callable[[torch.Tensor], torch.Tensor]


def _check_precision(x: torch.Tensor) -> None:
    """Refuse fp16 inputs or fp16 autocast (FAVOR+'s normaliser overflows it)."""
    device_type = x.device.type
    autocast_half = torch.is_autocast_enabled(device_type) and torch.get_autocast_dtype(device_type) == torch.float16
    if x.dtype == torch.float16 or autocast_half:
        raise TypeError("the temporal model runs in float32 or bfloat16; float16 overflows FAVOR+ (use bf16)")


class TemporalModel(nn.Module):
    """Self-attention over frames: ``(x [B, T, C], mask [B, T]) -> [B, T, C]``.

    Args:
        dim: feature width C (divisible by ``heads``).
        depth: number of attention + feedforward layers.
        heads: attention heads H.
        dim_head: channels per head D (even, for rotary positions).
        backend: ``"performer"`` (FAVOR+, ReLU kernel) or ``"exact"`` (SDPA).
        causal: frame t attends to frames <= t only (streaming); otherwise
            to the whole sequence (offline).
        nb_features: FAVOR+ random features M per head.
        ff_mult: feedforward hidden width as a multiple of ``dim``.
        feature_redraw_interval: redraw the projections every this many
            training forward calls; None keeps them fixed.
        qkv_bias: bias on the q/k/v projections.
        attn_out_bias: bias on the attention output projection.
        dropout: attention and feedforward dropout.
        rotary_min_period: shortest rotary period, frames.
        rotary_max_period: longest rotary period, frames; keep it at most the
            training window length.
        chunk_frames: offline (non-causal) Performer in eval mode runs its
            per-frame work this many frames at a time (see
            :meth:`_chunked_performer`); None runs the library's forward on
            the whole sequence. Results are the same either way.
        seed: seeds the build (weights and projection matrices) in a forked
            RNG; None uses the global RNG.
    """

    def __init__(
        self,
        dim: int,
        depth: int = 3,
        heads: int = 4,
        dim_head: int = 32,
        backend: str = "performer",
        causal: bool = False,
        nb_features: int = 64,
        ff_mult: int = 2,
        feature_redraw_interval: int | None = None,
        qkv_bias: bool = True,
        attn_out_bias: bool = True,
        dropout: float = 0.0,
        rotary_min_period: float = 4.0,
        rotary_max_period: float = 512.0,
        chunk_frames: int | None = DEFAULT_CHUNK_FRAMES,
        seed: int | None = 0,
    ) -> None:
        super().__init__()
        if backend not in BACKENDS:
            raise ValueError(f"unknown temporal backend '{backend}' (known: {', '.join(BACKENDS)})")
        self.backend = backend
        self.causal = causal
        self.heads = heads
        self.dim_head = dim_head
        self.rotary_periods = (float(rotary_min_period), float(rotary_max_period))
        self.chunk_frames = chunk_frames
        rng = torch.random.fork_rng(devices=[]) if seed is not None else contextlib.nullcontext()
        with rng:
            if seed is not None:
                torch.manual_seed(seed)
            if backend == "performer":
                self.performer = self._build_performer(
                    dim, depth, heads, dim_head, causal, nb_features, ff_mult, feature_redraw_interval,
                    qkv_bias, attn_out_bias, dropout,
                )
            else:
                self.blocks = nn.ModuleList(
                    _ExactBlock(dim, heads, dim_head, ff_mult, qkv_bias, attn_out_bias, dropout) for _ in range(depth)
                )
            self.norm = nn.LayerNorm(dim)

    @staticmethod
    def _build_performer(dim: int, depth: int, heads: int, dim_head: int, causal: bool, nb_features: int,
                         ff_mult: int, feature_redraw_interval: int | None, qkv_bias: bool,
                         attn_out_bias: bool, dropout: float) -> nn.Module:
        # Causal FastAttention prints a notice when the optional CUDA kernel is
        # missing; the pure-torch fallback is what CPU runs are meant to use.
        with contextlib.redirect_stdout(io.StringIO()):
            performer = Performer(
                dim, depth, heads, dim_head,
                causal=causal,
                nb_features=nb_features,
                feature_redraw_interval=feature_redraw_interval,  # None: never redraw
                generalized_attention=True,
                kernel_fn=nn.ReLU(),
                ff_mult=ff_mult,
                ff_dropout=dropout,
                attn_dropout=dropout,
                qkv_bias=qkv_bias,
                attn_out_bias=attn_out_bias,
            )
        for attn_block, _ in performer.net.layers:
            attention = attn_block.fn  # PreLayerNorm -> SelfAttention
            attention.to_v = _ValuesWithCount(attention.to_v, heads)
            attention.to_out = _NormalisedOutput(attention.to_out, heads)
        return performer

    def positions(self, length: int, start: int = 0, dtype: torch.dtype = torch.float32,
                  device: torch.device | str | None = None) -> torch.Tensor:
        """[1, T, D] rotary table for frames ``start .. start + length - 1``."""
        low, high = self.rotary_periods
        return rotary_embedding(length, self.dim_head, start, low, high, dtype, device)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, start: int = 0) -> torch.Tensor:
        """Attend over the frames.

        Args:
            x: [B, T, C] frame features.
            mask: [B, T] bool, True = valid frame; None = all valid. Padded
                frames do not influence valid ones (exactly, up to float
                rounding) and come out as zeros.
            start: frame index of x[:, 0] for the positions (a window cut
                from a longer capture may pass its offset).

        Returns:
            [B, T, C] features.
        """
        _check_precision(x)
        if x.ndim != 3:
            raise ValueError(f"expected x [B, T, C], got {tuple(x.shape)}")
        if mask is not None:
            if mask.shape != x.shape[:2]:
                raise ValueError(f"mask {tuple(mask.shape)} does not match x {tuple(x.shape[:2])}")
            mask = mask.bool()
            if bool(mask.all()):
                mask = None
            else:
                x = x.masked_fill(~mask[..., None], 0.0)  # keeps padded keys finite whatever they held
        pos_emb = self.positions(x.shape[1], start, x.dtype, x.device)
        chunk = self.chunk_frames
        if self.backend == "performer" and chunk and x.shape[1] > chunk and not (self.causal or self.training):
            y = self._chunked_performer(x, mask, pos_emb, chunk)
        elif self.backend == "performer":
            y = self.performer(x, pos_emb=pos_emb, mask=mask)
        else:
            y = x
            attn_mask = self._exact_mask(mask, x.shape[1]) if mask is not None else None
            for block in self.blocks:
                y = block(y, pos_emb, attn_mask, self.causal)
        y = self.norm(y)
        return y if mask is None else y.masked_fill(~mask[..., None], 0.0)

    def _chunked_performer(self, x: torch.Tensor, mask: torch.Tensor | None, pos_emb: torch.Tensor,
                           chunk: int) -> torch.Tensor:
        """The offline Performer layers (eval mode), ``chunk`` frames at a time.

        Why: every op of the library's forward reads and writes whole-sequence
        tensors ([B, T, C], [B, H, T, M]); past a few thousand frames they no
        longer fit in cache and each op runs at memory speed (16,384 frames
        cost ~21x 1,024, not 16x). Non-causal linear attention needs only one
        sequence-wide quantity per layer, the [B, H, M, D+1] sum of
        phi(k) [v, 1]^T, so each layer takes two passes over the chunks: sum
        it from the keys and values, then queries, attention output and
        feedforward. The layers' own modules and the library's feature map
        (:func:`relu_features`) are used, as in streaming; the count channel
        makes the division the library's normaliser (see module docstring).

        Args:
            x: [B, T, C] features, padded frames zeroed.
            mask: [B, T] bool valid frames, or None (all valid).
            pos_emb: [1, T, D] rotary table.
            chunk: frames per chunk.

        Returns:
            [B, T, C], what ``self.performer(x, pos_emb=pos_emb, mask=mask)``
            returns up to float rounding.
        """
        spans = [(s, min(s + chunk, x.shape[1])) for s in range(0, x.shape[1], chunk)]
        heads, dim_head = self.heads, self.dim_head

        def split_heads(t: torch.Tensor) -> torch.Tensor:  # [B, t, H*E] -> [B, H, t, E]
            return t.unflatten(-1, (heads, -1)).transpose(1, 2)

        for part in self.layer_parts():
            # [B, H, M, D+1], summed in float32 whatever x's dtype (bf16 would round every chunk's sum)
            context = x.new_zeros(x.shape[0], heads, part.projection.shape[0], dim_head + 1, dtype=torch.float32)
            for s, e in spans:
                h = part.attn_norm(x[:, s:e])
                phi_k = relu_features(apply_rotary(split_heads(part.to_k(h)), pos_emb[:, s:e]), part.projection)
                v = split_heads(part.to_v(h))  # [B, H, t, D+1], count channel last
                if mask is not None:
                    v = v.masked_fill(~mask[:, None, s:e, None], 0.0)  # as the library: padded keys add nothing
                context += (phi_k.transpose(-1, -2) @ v).float()
            out = torch.empty_like(x)
            for s, e in spans:
                xc = x[:, s:e]
                h = part.attn_norm(xc)
                phi_q = relu_features(apply_rotary(split_heads(part.to_q(h)), pos_emb[:, s:e]), part.projection)
                attended = (phi_q @ context.to(phi_q.dtype)).transpose(1, 2).flatten(-2)  # [B, t, H*(D+1)]
                xc = xc + part.to_out(attended)  # to_out divides by the count channel
                out[:, s:e] = xc + part.ff(part.ff_norm(xc))
            x = out
        return x

    def _exact_mask(self, mask: torch.Tensor, length: int) -> torch.Tensor:
        """[B, 1, T, T] bool: valid keys (and the past, if causal); the diagonal always,
        so a padded query never has an empty row (which SDPA turns into NaN)."""
        allowed = mask[:, None, None, :].expand(-1, 1, length, -1)  # [B, 1, T, T]
        if self.causal:
            allowed = allowed & torch.ones(length, length, dtype=torch.bool, device=mask.device).tril()
        return allowed | torch.eye(length, dtype=torch.bool, device=mask.device)

    def layer_parts(self) -> list[LayerParts]:
        """The Performer layers' modules, in order, for streaming.

        Raises:
            TypeError: the backend is not ``"performer"``.
        """
        if self.backend != "performer":
            raise TypeError("streaming needs the performer backend (linear attention as a recurrence)")
        parts = []
        for attn_block, ff_block in self.performer.net.layers:
            attention = attn_block.fn
            parts.append(LayerParts(
                attn_norm=attn_block.norm,
                to_q=attention.to_q,
                to_k=attention.to_k,
                to_v=attention.to_v,
                to_out=attention.to_out,
                projection=attention.fast_attention.projection_matrix,
                ff_norm=ff_block.norm,
                ff=ff_block.fn,
            ))
        return parts

    def fix_projections_(self) -> None:
        """Stop feature redraws (call before evaluation and export)."""
        if self.backend == "performer":
            self.performer.fix_projection_matrices_()
