"""Student encoders, heads and the composed model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from wavecap.errors import DataError
from wavecap.geometry.rotations import rotation_angle
from wavecap.student.encoders import (
    FeatureEncoder,
    HeatmapEncoder,
    PointSetEncoder,
    RadarFrames,
    grid_cell,
    grid_pool,
    pad_points,
    point_anchor,
    select_columns,
)
from wavecap.student.model import LocalMixing, RadarStudent, build_student, smooth_frames
from wavecap.student.temporal import TemporalModel

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "student"
COLUMNS = ("x", "y", "z", "doppler", "snr")


pytestmark = pytest.mark.usefixtures("one_thread")


def _points(batch: int = 2, frames: int = 6, points: int = 10, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    pts = torch.randn(batch, frames, points, len(COLUMNS), generator=g)
    mask = torch.rand(batch, frames, points, generator=g) < 0.7
    mask[0, 2] = False  # an empty frame
    return pts, mask


def _encoder(grid: bool = False) -> PointSetEncoder:
    torch.manual_seed(0)
    return PointSetEncoder(COLUMNS, out_dim=16, hidden=(8, 12), grid_cells=(3, 4) if grid else None,
                           grid_extent_m=(1.5, 2.0), grid_width=5)


@pytest.mark.parametrize("grid", [False, True])
def test_point_encoder_is_permutation_invariant(grid):
    encoder = _encoder(grid)
    pts, mask = _points()
    perm = torch.randperm(pts.shape[2], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(encoder(pts, mask), encoder(pts[:, :, perm], mask[:, :, perm]), atol=1e-6)


@pytest.mark.parametrize("grid", [False, True])
def test_padding_points_changes_nothing(grid):
    encoder = _encoder(grid)
    pts, mask = _points()
    extra = torch.full((*pts.shape[:2], 5, pts.shape[-1]), float("nan"))
    padded = torch.cat([pts, extra], dim=2)
    padded_mask = torch.cat([mask, torch.zeros(*mask.shape[:2], 5, dtype=torch.bool)], dim=2)
    pts = pts.masked_fill(~mask[..., None], 1e6)  # whatever sits in padded slots
    with torch.no_grad():
        assert torch.allclose(encoder(pts, mask), encoder(padded, padded_mask), atol=1e-6)


@pytest.mark.parametrize("grid", [False, True])
def test_the_exported_dense_pooling_equals_the_real_point_pooling(grid):
    encoder = _encoder(grid)
    pts, mask = _points()
    x = torch.cat([pts, torch.randn(*pts.shape[:3], 3)], dim=-1).masked_fill(~mask[..., None], float("nan"))
    cell = torch.randint(0, 12, mask.shape) if grid else None
    with torch.no_grad():
        count = mask.sum(-1, keepdim=True)
        for real, dense in zip(encoder._pool_real(x, mask, count, cell), encoder._pool_dense(x, mask, count, cell)):
            assert (real is None and dense is None) or torch.allclose(real, dense, atol=1e-6)


def test_grid_cells_and_pooling_by_hand():
    # 3 lateral x 2 height cells over 1.5 m x 2 m: lateral edges at -0.25, 0.25 m, height edge at 0 m
    relative = torch.tensor([[-0.6, 0.0, 0.5], [0.1, 9.0, -0.2], [0.3, 0.0, -5.0], [0.0, 0.0, 0.9], [0.0, 0.0, 0.0]])
    cell = grid_cell(relative, (3, 2), (1.5, 2.0))
    assert cell.tolist() == [3, 1, 2, 4, 4]  # far-off points land in the border cells
    features = torch.tensor([[1.0], [2.0], [3.0], [4.0], [8.0]])  # [P, 1]
    slot = cell + torch.tensor([0, 0, 0, 0, 6])  # the last point belongs to a second frame
    pooled = grid_pool(features, slot, 12)  # per (frame, cell): mean, log(1 + count)
    assert pooled[:, 0].tolist() == [0.0, 2.0, 3.0, 1.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 8.0, 0.0]
    assert torch.allclose(pooled[:, 1], torch.log1p(torch.tensor([0.0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0])))


def test_anchor_is_the_windowed_centroid_then_the_running_mean_then_the_default():
    pts = torch.zeros(1, 7, 3, 3)
    mask = torch.zeros(1, 7, 3, dtype=torch.bool)
    pts[0, 1, :2], mask[0, 1, :2] = torch.tensor([[1.0, 0, 0], [3.0, 0, 0]]), True  # frame 1: x = 1, 3
    pts[0, 2, :1], mask[0, 2, :1] = torch.tensor([[8.0, 2, 0]]), True  # frame 2: x = 8, y = 2
    pts[0, 3:, :] = float("nan")  # frames 3..6 empty, NaN padding
    default = torch.tensor([0.5, -0.5, 1.0])
    anchor = point_anchor(pts, mask, frames=2, default=default)[0]  # [7, 3]
    torch.testing.assert_close(anchor[0], default)  # nothing seen yet
    torch.testing.assert_close(anchor[1], torch.tensor([2.0, 0, 0]))
    torch.testing.assert_close(anchor[2], torch.tensor([4.0, 2 / 3, 0]))  # frames 1-2: three points
    torch.testing.assert_close(anchor[3], torch.tensor([8.0, 2, 0]))  # window = frames 2-3
    torch.testing.assert_close(anchor[4:], torch.tensor([4.0, 2 / 3, 0]).expand(3, 3))  # empty window: all seen


def test_translation_and_keypoints_are_offsets_from_the_averaged_anchor():
    torch.manual_seed(0)
    temporal = TemporalModel(24, depth=1, heads=2, dim_head=8, nb_features=8)
    model = RadarStudent(_encoder(), temporal, 24, keypoint_heads={"h36m": 17}, offset_frames=3).eval()
    for head in (model.smpl_head.transl, model.keypoint_heads["h36m"].linear):
        torch.nn.init.zeros_(head.weight)
        torch.nn.init.zeros_(head.bias)
    pts, mask = _points(frames=6)
    pts[..., 1] += 3.0  # a person 3 m down the boresight
    frame_mask = torch.ones(2, 6, dtype=torch.bool)
    frame_mask[1, 4:] = False
    with torch.no_grad():
        out = model(RadarFrames(frame_mask, pts, mask))
    anchor = point_anchor(pts, mask, model.encoder.anchor_frames, model.encoder.normalizer.mean[:3])
    torch.testing.assert_close(out.anchor, anchor)
    torch.testing.assert_close(out.transl[:, 1:3], (anchor[:, :3] + anchor[:, 1:4] + anchor[:, 2:5])[:, :2] / 3)
    torch.testing.assert_close(out.transl[:, 0], (anchor[:, 0] + anchor[:, 1]) / 2)  # fewer frames at the ends
    torch.testing.assert_close(out.transl[1, 3], (anchor[1, 2] + anchor[1, 3]) / 2)  # padding never enters
    torch.testing.assert_close(out.keypoints["h36m"], out.transl[:, :, None].expand(-1, -1, 17, -1))


def test_smooth_frames_causal_uses_the_past_only():
    x = torch.arange(6.0).reshape(1, 6, 1)
    mask = torch.ones(1, 6, dtype=torch.bool)
    torch.testing.assert_close(smooth_frames(x, mask, 3, causal=True)[0, :, 0],
                               torch.tensor([0.0, 0.5, 1.0, 2.0, 3.0, 4.0]))
    torch.testing.assert_close(smooth_frames(x, mask, 1, causal=False), x)


@pytest.mark.parametrize("layers", [1, 3])
def test_local_mixing_sees_its_kernel_only_and_padding_equals_truncation(layers):
    torch.manual_seed(0)
    x = torch.randn(2, 40, 8)
    changed = x.clone()
    changed[:, 27:] += 5.0  # frames 27.. differ
    offline, causal = LocalMixing(8, 5, False, layers), LocalMixing(8, 5, True, layers)
    reach = 2 * (2 ** layers - 1)  # frames ahead a centred stack sees: (K - 1) / 2 per dilation step
    with torch.no_grad():
        assert torch.equal(causal(x)[:, :27], causal(changed)[:, :27])  # no look-ahead
        assert torch.equal(offline(x)[:, :27 - reach], offline(changed)[:, :27 - reach])
        assert not torch.allclose(offline(x)[:, 27 - reach], offline(changed)[:, 27 - reach])
        mask = torch.ones(2, 40, dtype=torch.bool)
        mask[1, 33:] = False
        padded = offline(changed.masked_fill(~mask[..., None], 1e3), mask)
        torch.testing.assert_close(padded[1, :33], offline(changed[1:, :33])[0])
        # A stream through step() gives the causal forward frame by frame.
        windows = [torch.zeros(2, span, 8) for span in causal.spans]
        stepped = []
        for t in range(40):
            windows, y = causal.step(windows, x[:, t:t + 1])
            stepped.append(y)
        torch.testing.assert_close(torch.cat(stepped, 1), causal(x))
    with pytest.raises(ValueError, match="odd"):
        LocalMixing(8, 4, causal=False)


@pytest.mark.parametrize("grid", [False, True])
def test_empty_frames_get_the_learned_embedding_and_gradients_stay_finite(grid):
    encoder = _encoder(grid)
    pts, mask = _points()
    pts = pts.masked_fill(~mask[..., None], float("nan"))
    out = encoder(pts, mask)
    assert torch.isfinite(out).all()
    assert torch.equal(out[0, 2], encoder.empty.detach())
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in encoder.parameters())


def test_normalizer_statistics_live_in_the_state_dict():
    encoder = _encoder()
    pts, mask = _points()
    pts = pts * torch.tensor([1.0, 2.0, 0.5, 3.0, 10.0]) + torch.tensor([0.0, 3.0, 1.0, 0.0, 20.0])
    encoder.fit_normalizer(pts, mask)
    valid = pts[mask]
    assert torch.allclose(encoder.normalizer.mean, valid.mean(0), atol=1e-4)
    assert torch.allclose(encoder.normalizer.std, valid.std(0, unbiased=False), atol=1e-4)
    state = encoder.state_dict()
    assert {"normalizer.mean", "normalizer.std", "normalizer.fitted"} <= set(state)
    fresh = PointSetEncoder(COLUMNS, out_dim=16, hidden=(8, 12))
    assert not fresh.normalizer.fitted
    fresh.load_state_dict(state)
    assert fresh.normalizer.fitted
    with torch.no_grad():
        assert torch.equal(fresh(pts, mask), encoder(pts, mask))


def test_pad_points_round_trip_and_even_subsampling():
    counts = torch.tensor([3, 0, 8, 1])
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)])
    flat = torch.arange(int(counts.sum()) * 2, dtype=torch.float32).reshape(-1, 2)
    padded, mask = pad_points(flat, offsets, max_points=4)
    assert padded.shape == (4, 4, 2) and mask.sum(1).tolist() == [3, 0, 4, 1]
    assert torch.equal(padded[0, :3], flat[:3]) and torch.equal(padded[3, :1], flat[11:12])
    assert torch.equal(padded[2], flat[3:11][[0, 2, 4, 6]])  # 8 points -> every second one
    assert padded[~mask].abs().max() == 0
    with pytest.raises(DataError):
        pad_points(flat, offsets[:-1], 4)


def test_select_columns():
    pts = torch.arange(10.0).reshape(2, 5)
    assert torch.equal(select_columns(pts, COLUMNS, ("snr", "x")), pts[:, [4, 0]])
    with pytest.raises(DataError, match="intensity"):
        select_columns(pts, COLUMNS, ("x", "intensity"))


@pytest.mark.parametrize("doppler, elevation, shape", [
    (0, False, (2, 3, 16, 12)),
    (4, False, (2, 3, 4, 16, 12)),
    (0, True, (2, 3, 8, 8, 4)),
])
def test_heatmap_encoder_shapes(doppler, elevation, shape):
    encoder = HeatmapEncoder(out_dim=16, doppler_bins=doppler, elevation=elevation, channels=(4, 8))
    maps = torch.rand(shape) * 100
    encoder.fit_normalizer(maps)
    out = encoder(maps)
    assert out.shape == (2, 3, 16) and torch.isfinite(out).all()
    with pytest.raises(DataError):
        encoder(maps[:, :, None])


def test_feature_encoder():
    encoder = FeatureEncoder(num_features=7, out_dim=16)
    features = torch.randn(2, 5, 7) * 4 + 2
    encoder.fit_normalizer(features)
    assert torch.allclose(encoder.normalizer(features).mean((0, 1)), torch.zeros(7), atol=1e-5)
    assert encoder(features).shape == (2, 5, 16)


def _student(causal: bool = False, chunk: int = 2048, frames_chunk: int | None = None) -> RadarStudent:
    torch.manual_seed(0)
    temporal = TemporalModel(24, depth=1, heads=2, dim_head=8, nb_features=8, causal=causal,
                             chunk_frames=frames_chunk)
    return RadarStudent(_encoder(), temporal, 24, keypoint_heads={"h36m": 17},
                        encode_chunk_frames=chunk, chunk_frames=frames_chunk).eval()


def test_student_outputs():
    pts, mask = _points(frames=9)
    frame_mask = torch.ones(2, 9, dtype=torch.bool)
    frame_mask[1, 6:] = False
    frames = RadarFrames(frame_mask, pts, mask)
    with torch.no_grad():
        out = _student()(frames)
        chunked = _student(chunk=4)(frames)
        causal = _student(causal=True)(frames)
    assert out.rotmats.shape == (2, 9, 24, 3, 3) and out.rot6d.shape == (2, 9, 24, 6)
    assert out.keypoints["h36m"].shape == (2, 9, 17, 3)
    assert out.contact_logits.shape == (2, 9, 4) and out.joint_log_scale.shape == (2, 9, 24)
    eye = torch.eye(3).expand(2, 9, 24, 3, 3)
    assert torch.allclose(out.rotmats @ out.rotmats.transpose(-1, -2), eye, atol=1e-5)
    assert torch.allclose(torch.linalg.det(out.rotmats), torch.ones(2, 9, 24), atol=1e-5)
    # one shape per sequence; causal: running mean over the frames so far
    assert torch.allclose(out.betas, out.betas[:, :1].expand_as(out.betas))
    assert not torch.allclose(causal.betas[:, 0], causal.betas[:, -1])
    assert torch.allclose(causal.betas[1, 6:], causal.betas[1, 5:6].expand(3, -1), atol=1e-6)  # padding ignored
    assert torch.allclose(chunked.transl, out.transl, atol=1e-6)  # chunked encoding is exact


def test_chunked_student_equals_whole_sequence():
    pts, mask = _points(frames=23)
    frame_mask = torch.ones(2, 23, dtype=torch.bool)
    frame_mask[1, 17:] = False
    frames = RadarFrames(frame_mask, pts, mask)
    with torch.no_grad():
        whole = _student()(frames)
        chunked = _student(chunk=4, frames_chunk=5)(frames)  # encoder, Performer layers and heads in chunks
    for name in ("rot6d", "rotmats", "betas", "transl", "contact_logits", "joint_log_scale"):
        assert (getattr(chunked, name) - getattr(whole, name)).abs().max() <= 1e-5, name
    assert (chunked.keypoints["h36m"] - whole.keypoints["h36m"]).abs().max() <= 1e-5
    assert torch.allclose(chunked.betas, chunked.betas[:, :1].expand_as(chunked.betas))  # pooled over all chunks


def test_missing_input_is_a_data_error():
    frames = RadarFrames(torch.ones(1, 3, dtype=torch.bool))
    with pytest.raises(DataError, match="points"):
        _student()(frames)


@pytest.mark.parametrize("encoder", ["points", "heatmap", "features"])
@pytest.mark.parametrize("temporal", ["performer", "exact"])
def test_configs_build_a_working_student(encoder, temporal):
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        cfg = compose(config_name="model", overrides=[f"encoder={encoder}", f"temporal={temporal}",
                                                      "temporal.depth=1", "+keypoint_heads.kinect=32"])
    model = build_student(cfg).eval()
    assert torch.equal(build_student(cfg).input_projection.weight, model.input_projection.weight)  # seeded
    frames = RadarFrames(torch.ones(1, 4, dtype=torch.bool))
    if encoder == "points":
        frames.points, frames.point_mask = torch.randn(1, 4, 6, 5), torch.ones(1, 4, 6, dtype=torch.bool)
    elif encoder == "heatmap":
        frames.heatmaps = torch.rand(1, 4, 16, 16)
    else:
        frames.features = torch.randn(1, 4, cfg.encoder.num_features)
    with torch.no_grad():
        out = model(frames)
    assert out.keypoints["kinect"].shape == (1, 4, 32, 3)
    # the untrained SMPL head starts near an upright rest pose (root = R_world_from_smpl)
    upright = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    assert rotation_angle(out.rotmats[0, :, 0].transpose(-1, -2) @ upright).max() < 0.5
