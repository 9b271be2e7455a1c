"""Streaming recurrence reproduces the causal full-sequence student."""

from __future__ import annotations

import pytest
import torch

from wavecap.student.encoders import PointSetEncoder, RadarFrames
from wavecap.student.model import RadarStudent, StudentOutput
from wavecap.student.streaming import StreamingStudent
from wavecap.student.temporal import TemporalModel

COLUMNS = ("x", "y", "z", "doppler", "snr")


pytestmark = pytest.mark.usefixtures("one_thread")


def _student(causal: bool = True, backend: str = "performer") -> RadarStudent:
    torch.manual_seed(0)
    encoder = PointSetEncoder(COLUMNS, out_dim=32, hidden=(16, 32))
    temporal = TemporalModel(32, depth=2, heads=4, dim_head=8, nb_features=16, causal=causal, backend=backend)
    return RadarStudent(encoder, temporal, 32, keypoint_heads={"h36m": 17}).eval()


def _frames(batch: int = 2, frames: int = 64, seed: int = 0) -> RadarFrames:
    g = torch.Generator().manual_seed(seed)
    points = torch.randn(batch, frames, 12, len(COLUMNS), generator=g) * 2
    point_mask = torch.rand(batch, frames, 12, generator=g) < 0.6
    point_mask[0, 5] = False  # an empty frame
    return RadarFrames(torch.ones(batch, frames, dtype=torch.bool), points, point_mask)


def _max_difference(a: StudentOutput, b: StudentOutput) -> float:
    names = ("rotmats", "rot6d", "betas", "transl", "contact_logits", "joint_log_scale")
    diffs = [(getattr(a, n) - getattr(b, n)).abs().max() for n in names]
    diffs += [(a.keypoints[k] - b.keypoints[k]).abs().max() for k in a.keypoints]
    return float(torch.stack(diffs).max())


def test_stream_equals_causal_full_forward():
    model = _student()
    frames = _frames()
    with torch.no_grad():
        full = model(frames)
    stream = StreamingStudent(model, batch_size=2)
    streamed = stream.run(frames)
    assert _max_difference(full, streamed) <= 1e-4
    # the shape estimate is the running mean, as in the causal model
    assert not torch.allclose(streamed.betas[:, 1], streamed.betas[:, -1])


def test_stream_state_is_constant_size_and_continues_across_calls():
    model = _student()
    frames = _frames(batch=1, frames=40)
    stream = StreamingStudent(model)
    shapes = [s.shape for s in stream.sums]
    first = stream.run(frames.slice(0, 25))
    second = stream.run(frames.slice(25, 40))
    assert [s.shape for s in stream.sums] == shapes and stream.frame_index == 40
    with torch.no_grad():
        full = model(frames)
    assert (second.transl - full.transl[:, 25:]).abs().max() <= 1e-4
    assert (first.transl - full.transl[:, :25]).abs().max() <= 1e-4
    stream.reset()
    again = stream.run(frames.slice(0, 25))
    assert torch.equal(again.transl, first.transl)


def test_stream_refuses_models_it_cannot_reproduce():
    with pytest.raises(TypeError, match="causal"):
        StreamingStudent(_student(causal=False))
    with pytest.raises(TypeError, match="performer"):
        StreamingStudent(_student(backend="exact"))
    with pytest.raises(TypeError, match="eval"):
        StreamingStudent(_student().train())
    with pytest.raises(ValueError):
        StreamingStudent(_student()).step(_frames(batch=1, frames=8))
