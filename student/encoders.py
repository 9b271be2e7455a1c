"""Per-frame radar encoders: point sets, dense heatmaps, precomputed features.

Every encoder maps one radar frame to one feature vector, independently per
frame, and reads its input from a :class:`RadarFrames` batch:

* :class:`PointSetEncoder`: a variable number of points per frame with named
  columns, as a padded batch ``points [B, T, N, C]`` + ``point_mask
  [B, T, N]`` (:func:`pad_points` builds it from a session's ragged
  ``points [P, C]`` + ``offsets [T+1]``). PointNet-style: a shared per-point
  ReLU MLP, masked max and mean pooling, and the log point count; a frame with no
  points gets a learned "empty" embedding. Each point also carries its
  position relative to the body's **anchor** (:func:`point_anchor`, a causal
  windowed centroid of the recent points), and the frame carries the anchor
  itself, so the pose features see the body's shape whatever its place in
  the room. The student's translation and keypoints are offsets from the
  anchor averaged over a few more frames (``RadarStudent``'s
  ``offset_frames``): with a couple of dozen points, mostly on whatever
  moves, one anchor wanders by decimetres from frame to frame.
* :class:`HeatmapEncoder`: dense maps ``[B, T, (D,) R, A (, E)]`` through a
  small strided conv net.
* :class:`FeatureEncoder`: precomputed vectors ``[B, T, F]``.

Each has ``fit_normalizer(...)`` that stores input statistics from training
data as buffers (see :class:`~wavecap.student.normalizer.Normalizer`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from wavecap.errors import DataError
from wavecap.student.normalizer import Normalizer


@dataclass
class RadarFrames:
    """A batch of radar frame sequences; encoders read the fields they need.

    Attributes:
        frame_mask: [B, T] bool, True = real frame, False = padding.
        points: [B, T, N, C] float32 point columns (positions in the radar
            frame, metres, then e.g. doppler m/s and snr), zero-padded.
        point_mask: [B, T, N] bool, True = real point.
        heatmaps: [B, T, ...] float32 dense radar maps (linear power).
        features: [B, T, F] float32 precomputed per-frame features.
    """

    frame_mask: torch.Tensor
    points: torch.Tensor | None = None
    point_mask: torch.Tensor | None = None
    heatmaps: torch.Tensor | None = None
    features: torch.Tensor | None = None

    @property
    def batch_size(self) -> int:
        """B."""
        return self.frame_mask.shape[0]

    @property
    def num_frames(self) -> int:
        """T."""
        return self.frame_mask.shape[1]

    def slice(self, start: int, stop: int) -> RadarFrames:
        """Frames ``start:stop`` of every field (views, no copy)."""
        return RadarFrames(**{
            f.name: None if getattr(self, f.name) is None else getattr(self, f.name)[:, start:stop]
            for f in fields(self)
        })


def _require(frames: RadarFrames, name: str) -> torch.Tensor:
    value = getattr(frames, name)
    if value is None:
        raise DataError(f"this encoder needs radar '{name}', the batch has none", field=name)
    return value


def pad_points(
    points: torch.Tensor, offsets: torch.Tensor, max_points: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Ragged per-frame point clouds (the session layout) to a padded tensor.

    A frame with more than ``max_points`` points keeps ``max_points`` of them
    evenly spaced through its list (deterministic, no bias toward the start).

    Args:
        points: [P, C] all frames' points concatenated.
        offsets: [T+1] int, frame t owns ``points[offsets[t]:offsets[t+1]]``.
        max_points: N, points kept per frame.

    Returns:
        points [T, N, C] (zeros where padded) and point_mask [T, N] bool.

    Raises:
        DataError: offsets are not non-decreasing from 0 to P.
    """
    offsets = offsets.to(torch.long)
    counts = offsets[1:] - offsets[:-1]  # [T]
    if offsets[0] != 0 or offsets[-1] != points.shape[0] or bool((counts < 0).any()):
        raise DataError("offsets must rise from 0 to the number of points", field="offsets")
    slots = torch.arange(max_points, device=points.device)  # [N]
    mask = slots[None] < counts.clamp_max(max_points)[:, None]  # [T, N]
    if points.shape[0] == 0:
        return points.new_zeros(len(counts), max_points, points.shape[-1]), mask
    # slot j of a frame with c > N points reads point floor(j * c / N): evenly spaced.
    rank = torch.where(counts[:, None] > max_points, slots[None] * counts[:, None] // max_points, slots[None])
    index = (offsets[:-1, None] + rank).clamp_max(points.shape[0] - 1)  # [T, N]; padded slots read any point
    return torch.where(mask[..., None], points[index], 0.0), mask  # [T, N, C]


def window_padding(frames: int, causal: bool) -> tuple[int, int]:
    """(left, right) frames to pad a sequence with so a ``frames``-long window fits every frame:
    centred on it, or ending at it when causal."""
    left = frames - 1 if causal else (frames - 1) // 2
    return left, frames - 1 - left


def window_sums(x: torch.Tensor, frames: int, causal: bool) -> torch.Tensor:
    """Sum of x over each frame's window (zeros beyond either end).

    A box filter over zero padding: exact window sums, with none of a running
    sum's drift on long captures.

    Args:
        x: [B, T, K] per-frame values.
        frames: window length.
        causal: the window ends at the frame instead of being centred on it.

    Returns:
        [B, T, K].
    """
    padded = F.pad(x.transpose(1, 2), window_padding(frames, causal))  # [B, K, T + frames - 1]
    return (F.avg_pool1d(padded, frames, stride=1) * frames).transpose(1, 2)


def frame_point_sums(points: torch.Tensor, point_mask: torch.Tensor) -> torch.Tensor:
    """[..., 4] per frame: the summed x, y, z of its points (m) and their count.

    Args:
        points: [..., N, C] with x, y, z in the first three columns; padding may hold NaN.
        point_mask: [..., N] bool.
    """
    sums = torch.where(point_mask[..., None], points[..., :3], 0.0).sum(-2)  # [..., 3]
    return torch.cat([sums, point_mask.to(points.dtype).sum(-1, keepdim=True)], dim=-1)


def anchor_from_sums(window: torch.Tensor, total: torch.Tensor, default: torch.Tensor) -> torch.Tensor:
    """[..., 3] anchors from point sums [..., 4] (``frame_point_sums`` layout) of each frame's
    window and of everything seen so far; ``default`` [3] before the first point."""
    recent = window[..., :3] / window[..., 3:].clamp_min(1.0)
    seen = total[..., :3] / total[..., 3:].clamp_min(1.0)
    fallback = torch.where(total[..., 3:] > 0, seen, default.to(total.dtype))
    return torch.where(window[..., 3:] > 0, recent, fallback)


def point_anchor(points: torch.Tensor, point_mask: torch.Tensor, frames: int, default: torch.Tensor
                 ) -> torch.Tensor:
    """Where the body is: a causal, windowed centroid of the radar points.

    Frame t's anchor is the mean position of every point of frames
    ``t - frames + 1 .. t`` (several frames: one sparse frame's centroid
    jumps with each ghost or missed limb). When that window holds no point
    (the radar lost the person, or static-clutter removal hid someone
    standing still), it is the mean of every point seen so far, and before
    the first point ``default``. Causal, so the streaming student computes
    the same anchor one frame at a time.

    Args:
        points: [B, T, N, C] with x, y, z in the first three columns (m).
        point_mask: [B, T, N] bool.
        frames: window length, frames (>= 1).
        default: [3] anchor before any point was seen (m).

    Returns:
        [B, T, 3] anchors, metres, the points' frame.
    """
    per_frame = frame_point_sums(points, point_mask)  # [B, T, 4]
    total = per_frame.double().cumsum(1).to(points.dtype)
    return anchor_from_sums(window_sums(per_frame, frames, causal=True), total, default)


def select_columns(points: torch.Tensor, available: Sequence[str], wanted: Sequence[str]) -> torch.Tensor:
    """Reorder point columns from a recording's order to an encoder's.

    Args:
        points: [..., len(available)] point columns.
        available: column names of ``points`` (the session's ``columns``).
        wanted: column names the encoder was built for.

    Returns:
        [..., len(wanted)].

    Raises:
        DataError: a wanted column is not available.
    """
    missing = [name for name in wanted if name not in available]
    if missing:
        raise DataError(f"radar points lack columns {missing} (have {list(available)})", field="columns")
    return points[..., [list(available).index(name) for name in wanted]]


def grid_cell(relative: torch.Tensor, cells: tuple[int, int], extent_m: tuple[float, float]) -> torch.Tensor:
    """Index of the (lateral, height) grid cell holding each point.

    Args:
        relative: [..., 3] point positions relative to the body anchor (m, radar frame: x lateral, z up).
        cells: (lateral, height) cell counts.
        extent_m: (lateral, height) span of the grid centred on the anchor (m).

    Returns:
        [...] long, height index * lateral cells + lateral index; points
        outside the span land in the nearest border cell.
    """
    def index(coord: torch.Tensor, count: int, extent: float) -> torch.Tensor:
        return torch.floor((coord / extent + 0.5) * count).clamp(0, count - 1).long()

    return index(relative[..., 2], cells[1], extent_m[1]) * cells[0] + index(relative[..., 0], cells[0], extent_m[0])


def grid_pool(features: torch.Tensor, slot: torch.Tensor, slots: int) -> torch.Tensor:
    """Mean features and log(1 + count) of the points in each (frame, cell) slot.

    Args:
        features: [P, W] features of the real points.
        slot: [P] long slot of each point, frame * G + cell.
        slots: number of slots, frames x G.

    Returns:
        [S, W + 1] (:func:`cell_features` of each slot).
    """
    values = torch.cat([features, features.new_ones(len(features), 1)], dim=-1)  # [P, W + 1]
    return cell_features(values.new_zeros(slots, values.shape[-1]).index_add_(0, slot, values))


def cell_features(sums: torch.Tensor) -> torch.Tensor:
    """[..., W + 1] per cell its W mean features (0 for an empty cell) then log(1 + count), from
    its points' summed features with their count last ([..., W + 1])."""
    count = sums[..., -1:]
    return torch.cat([sums[..., :-1] / count.clamp_min(1.0), torch.log1p(count)], dim=-1)


def _mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.GELU) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), activation()]
    return nn.Sequential(*layers)


# Scale of point positions relative to the anchor: about half a body's extent (m).
_RELATIVE_SCALE_M = 0.5


class PointSetEncoder(nn.Module):
    """Permutation-invariant encoder of one radar point cloud per frame.

    Args:
        columns: names of the C point columns, in input order; with
            ``anchor_frames > 0`` they must start with x, y, z.
        out_dim: output features E.
        hidden: widths of the shared per-point MLP.
        max_points: N used when padding ragged clouds (:func:`pad_points`).
        anchor_frames: window of :func:`point_anchor` in frames; 0 = no
            anchor (absolute positions only).
        grid_cells: (lateral, height) cells of a grid centred on the anchor
            in the radar's x-z plane; each cell's points are mean-pooled
            separately (:func:`grid_pool`), so the frame feature keeps
            where on the body each return came from. None = global pooling only.
        grid_extent_m: (lateral, height) span of that grid (m); points
            beyond it fall into the border cells.
        grid_width: per-point features pooled per cell (a linear map of the
            point MLP's output, kept narrow: cells x width feed the frame MLP).
    """

    def __init__(self, columns: Sequence[str], out_dim: int, hidden: Sequence[int] = (32, 64),
                 max_points: int = 64, anchor_frames: int = 4, grid_cells: Sequence[int] | None = None,
                 grid_extent_m: Sequence[float] = (1.6, 2.4), grid_width: int = 16) -> None:
        super().__init__()
        self.columns = tuple(columns)
        if anchor_frames and self.columns[:3] != ("x", "y", "z"):
            raise ValueError(f"an anchored point encoder needs columns x, y, z first, got {self.columns}")
        self.out_dim = out_dim
        self.max_points = max_points
        self.anchor_frames = int(anchor_frames)
        self.normalizer = Normalizer(len(self.columns))
        relative = 3 if self.anchor_frames else 0
        self.point_mlp = _mlp((len(self.columns) + relative, *hidden), nn.ReLU)  # PointNet's ReLU: cheap on many points
        self.grid_cells = None if grid_cells is None else (int(grid_cells[0]), int(grid_cells[1]))
        if self.grid_cells is not None and not self.anchor_frames:
            raise ValueError("a grid-pooled point encoder needs an anchor (anchor_frames > 0)")
        self.grid_extent_m = (float(grid_extent_m[0]), float(grid_extent_m[1]))
        self.cells = 0 if self.grid_cells is None else self.grid_cells[0] * self.grid_cells[1]  # G
        self.grid_proj = nn.Sequential(nn.Linear(hidden[-1], grid_width), nn.ReLU()) if self.cells else None
        # max and mean pooled features, log(1 + point count), the normalised anchor, and per grid cell
        # its mean features and log(1 + count)
        self.frame_mlp = _mlp((2 * hidden[-1] + 1 + relative + self.cells * (grid_width + 1), out_dim))
        self.empty = nn.Parameter(torch.randn(out_dim) * 0.02)

    def anchor(self, frames: RadarFrames) -> torch.Tensor | None:
        """[B, T, 3] body anchors of whole sequences (:func:`point_anchor`), or None without one.

        Before any point, the anchor is the training points' mean position.
        """
        if not self.anchor_frames:
            return None
        return point_anchor(_require(frames, "points"), _require(frames, "point_mask").bool(), self.anchor_frames,
                            self.normalizer.mean[:3])

    def fit_normalizer(self, points: torch.Tensor, point_mask: torch.Tensor | None = None) -> None:
        """Per-column mean/std from training points ([P, C], or padded with a mask)."""
        self.normalizer.fit(points, point_mask)

    def forward(self, points: torch.Tensor, point_mask: torch.Tensor, anchor: torch.Tensor | None = None
                ) -> torch.Tensor:
        """Encode point clouds.

        Args:
            points: [B, T, N, C] columns as in ``self.columns``.
            point_mask: [B, T, N] bool, True = real point.
            anchor: [B, T, 3] the frames' anchors (m), from :meth:`anchor`
                over the whole sequence (a chunk of a sequence cannot compute
                its own: the window reaches back before it). None = computed
                from these frames, taken as a whole sequence.

        Returns:
            [B, T, E] features; frames without points get the empty embedding.
        """
        if points.shape[-1] != len(self.columns):
            raise DataError(f"points have {points.shape[-1]} columns, encoder expects {self.columns}",
                            field="points")
        point_mask = point_mask.bool()
        x = self.normalizer(points)
        extra = []
        cell = None
        if self.anchor_frames:
            if anchor is None:
                anchor = point_anchor(points, point_mask, self.anchor_frames, self.normalizer.mean[:3])
            offset = points[..., :3] - anchor[:, :, None]  # [B, T, N, 3] m
            x = torch.cat([x, offset / _RELATIVE_SCALE_M], dim=-1)
            extra = [(anchor - self.normalizer.mean[:3].to(anchor.dtype)) / self.normalizer.std[:3].to(anchor.dtype)]
            if self.cells:
                cell = grid_cell(offset, self.grid_cells, self.grid_extent_m)  # [B, T, N]
        count = point_mask.sum(-1, keepdim=True)  # [B, T, 1]
        # ONNX has no segment reduction: the export pools over the zero-filled padded slots instead.
        pool = self._pool_dense if torch.onnx.is_in_onnx_export() else self._pool_real
        pooled_max, pooled_mean, grid = pool(x, point_mask, count, cell)
        if grid is not None:
            extra.append(grid)
        frame = self.frame_mlp(torch.cat([pooled_max, pooled_mean, torch.log1p(count.to(x.dtype)), *extra], dim=-1))
        return torch.where(count > 0, frame, self.empty.to(frame.dtype))

    def _pool_real(self, x: torch.Tensor, point_mask: torch.Tensor, count: torch.Tensor, cell: torch.Tensor | None
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Max and mean of the point MLP's features per frame [B, T, H], and the grid cells' features
        [B, T, G * (W + 1)] (None without a grid), from the real points only; ``count`` [B, T, 1] points
        per frame, ``cell`` [B, T, N] each point's grid cell.

        Padding never reaches the MLP (NaN or not); the point tensors are the bulk of the student's
        training cost, and a third of their slots are padding.
        """
        batch, frames, slots = point_mask.shape
        real = point_mask.flatten().nonzero().squeeze(1)  # [P] slot index of each real point
        owner = real // slots  # [P] its frame
        h = self.point_mlp(x.flatten(0, 2)[real])  # [P, H], >= 0 (ReLU)
        count = count.flatten()  # [B*T]
        # The real points lie frame after frame, so each frame's max is a segment reduction (its backward
        # is ~3x cheaper than scatter_reduce's); 0 for an empty frame, a lower bound of ReLU features.
        pooled_max = torch.segment_reduce(h, "max", lengths=count, unsafe=True, initial=0.0)  # [B*T, H]
        pooled_mean = h.new_zeros(batch * frames, h.shape[-1]).index_add_(0, owner, h)
        pooled_mean = pooled_mean / count.clamp_min(1).to(h.dtype)[:, None]
        grid = None
        if cell is not None:
            slot = owner * self.cells + cell.flatten()[real]  # [P] (frame, cell) of each point
            grid = grid_pool(self.grid_proj(h), slot, batch * frames * self.cells).view(batch, frames, -1)
        return pooled_max.view(batch, frames, -1), pooled_mean.view(batch, frames, -1), grid

    def _pool_dense(self, x: torch.Tensor, point_mask: torch.Tensor, count: torch.Tensor, cell: torch.Tensor | None
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """:meth:`_pool_real` over every slot, padding zeroed (exportable ops only)."""
        valid = point_mask[..., None]  # [B, T, N, 1]
        # ReLU features are >= 0, so zeroed padding leaves the max of a non-empty frame unchanged.
        h = self.point_mlp(x.masked_fill(~valid, 0.0)).masked_fill(~valid, 0.0)  # [B, T, N, H]
        grid = None
        if cell is not None:
            member = F.one_hot(cell.masked_fill(~point_mask, 0), self.cells).to(h.dtype) * valid  # [B, T, N, G]
            values = torch.cat([self.grid_proj(h), valid.to(h.dtype)], dim=-1)  # [B, T, N, W + 1]
            grid = cell_features(member.transpose(-1, -2) @ values).flatten(-2)  # [B, T, G * (W + 1)]
        return h.amax(-2), h.sum(-2) / count.clamp_min(1).to(h.dtype), grid

    def encode(self, frames: RadarFrames, anchor: torch.Tensor | None = None) -> torch.Tensor:
        """[B, T, E] from ``frames.points`` and ``frames.point_mask`` (and the frames' anchors)."""
        return self(_require(frames, "points"), _require(frames, "point_mask"), anchor)


class HeatmapEncoder(nn.Module):
    """Small strided conv net over one dense radar map per frame.

    Input layout ``[B, T, (D,) R, A (, E)]``: D Doppler bins become input
    channels when ``doppler_bins > 0``; an elevation axis E makes the convs 3D.

    Args:
        out_dim: output features E.
        doppler_bins: D, or 0 when the maps have no Doppler axis.
        elevation: maps have a trailing elevation axis.
        channels: conv widths; each conv halves the spatial size.
        log_input: apply ``log1p`` to the (non-negative power) maps first.
    """

    def __init__(self, out_dim: int, doppler_bins: int = 0, elevation: bool = False,
                 channels: Sequence[int] = (16, 32, 64), log_input: bool = True) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.doppler_bins = doppler_bins
        self.spatial_dims = 3 if elevation else 2
        self.log_input = log_input
        self.normalizer = Normalizer(1)
        conv = nn.Conv3d if elevation else nn.Conv2d
        layers: list[nn.Module] = []
        for a, b in zip((doppler_bins or 1, *channels[:-1]), channels):
            layers += [conv(a, b, kernel_size=3, stride=2, padding=1), nn.GELU()]
        self.convs = nn.Sequential(*layers)
        self.head = _mlp((channels[-1], out_dim))

    def _prepare(self, heatmaps: torch.Tensor) -> torch.Tensor:
        return torch.log1p(heatmaps.clamp_min(0.0)) if self.log_input else heatmaps

    def fit_normalizer(self, heatmaps: torch.Tensor) -> None:
        """Scalar mean/std of the (log) map values of training frames [..., R, A(, E)]."""
        self.normalizer.fit(self._prepare(heatmaps).reshape(-1, 1))

    def forward(self, heatmaps: torch.Tensor) -> torch.Tensor:
        """Encode maps.

        Args:
            heatmaps: [B, T, (D,) R, A (, E)].

        Returns:
            [B, T, E] features.
        """
        expected = 2 + (1 if self.doppler_bins else 0) + self.spatial_dims
        if heatmaps.ndim != expected:
            raise DataError(f"heatmaps must have {expected} dims for this encoder, got {tuple(heatmaps.shape)}",
                            field="heatmaps")
        b, t = heatmaps.shape[:2]
        x = self._prepare(heatmaps).reshape(b * t, -1, *heatmaps.shape[-self.spatial_dims:])  # [B*T, D|1, ...]
        x = self.normalizer(x[..., None])[..., 0]
        x = self.convs(x).flatten(2).mean(-1)  # [B*T, channels[-1]]
        return self.head(x).reshape(b, t, -1)

    def anchor(self, frames: RadarFrames) -> None:
        """No anchor: dense maps carry no point positions to centre on."""
        return None

    def encode(self, frames: RadarFrames, anchor: torch.Tensor | None = None) -> torch.Tensor:
        """[B, T, E] from ``frames.heatmaps`` (no anchor)."""
        return self(_require(frames, "heatmaps"))


class FeatureEncoder(nn.Module):
    """Normalised precomputed per-frame features through one linear layer.

    Args:
        num_features: F.
        out_dim: output features E.
    """

    def __init__(self, num_features: int, out_dim: int) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.normalizer = Normalizer(num_features)
        self.linear = _mlp((num_features, out_dim))

    def fit_normalizer(self, features: torch.Tensor, frame_mask: torch.Tensor | None = None) -> None:
        """Per-feature mean/std from training frames [..., F]."""
        self.normalizer.fit(features, frame_mask)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """[B, T, F] -> [B, T, E]."""
        return self.linear(self.normalizer(features))

    def anchor(self, frames: RadarFrames) -> None:
        """No anchor: precomputed features carry no point positions."""
        return None

    def encode(self, frames: RadarFrames, anchor: torch.Tensor | None = None) -> torch.Tensor:
        """[B, T, E] from ``frames.features`` (no anchor)."""
        return self(_require(frames, "features"))


ENCODERS: dict[str, type[nn.Module]] = {
    "points": PointSetEncoder,
    "heatmap": HeatmapEncoder,
    "features": FeatureEncoder,
}


def build_encoder(cfg: Mapping[str, Any]) -> nn.Module:
    """Encoder from a config mapping: ``type`` (a key of ENCODERS) + its arguments.

    Raises:
        ValueError: unknown type.
    """
    options = dict(cfg)
    kind = options.pop("type")
    if kind not in ENCODERS:
        raise ValueError(f"unknown encoder type '{kind}' (known: {', '.join(ENCODERS)})")
    return ENCODERS[kind](**options)
