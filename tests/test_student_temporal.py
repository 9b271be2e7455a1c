"""Temporal adapter: no look-ahead, exact padding, determinism, redraws, precision."""

from __future__ import annotations

import pytest
import torch

from wavecap.student.temporal import TemporalModel, rotary_embedding

DIM = 32


pytestmark = pytest.mark.usefixtures("one_thread")


def _model(backend: str = "performer", causal: bool = False, **kwargs) -> TemporalModel:
    options = dict(depth=2, heads=4, dim_head=8, nb_features=16, seed=0)
    options.update(kwargs)
    return TemporalModel(DIM, backend=backend, causal=causal, **options).eval()


def _inputs(batch: int = 2, frames: int = 48, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, frames, DIM, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("backend", ["performer", "exact"])
def test_causal_has_no_lookahead(backend):
    model = _model(backend, causal=True)
    x = _inputs()
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(2)) * 3
    with torch.no_grad():
        reference = model(x)
        for t in (1, 17, 47):
            changed = x.clone()
            changed[:, t:] += noise[:, t:]
            out = model(changed)
            assert (out[:, :t] - reference[:, :t]).abs().max() <= 1e-6
            assert (out[:, t:] - reference[:, t:]).abs().max() > 1e-3  # the perturbation does reach later frames


def test_bidirectional_sees_the_future():
    model = _model("performer", causal=False)
    x = _inputs()
    changed = x.clone()
    changed[:, 40:] += 3 * torch.randn(changed[:, 40:].shape, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert (model(changed)[:, :40] - model(x)[:, :40]).abs().max() > 1e-3


@pytest.mark.parametrize("backend", ["performer", "exact"])
@pytest.mark.parametrize("causal", [False, True])
def test_padded_equals_truncated(backend, causal):
    model = _model(backend, causal)
    x = _inputs(frames=48)
    lengths = (48, 29)
    mask = torch.arange(48)[None] < torch.tensor(lengths)[:, None]  # [B, T]
    x = x.masked_fill(~mask[..., None], float("nan"))  # garbage padding must not matter
    with torch.no_grad():
        padded = model(x, mask)
        for b, length in enumerate(lengths):
            alone = model(x[b:b + 1, :length])[0]
            scale = alone.abs().max()
            assert (padded[b, :length] - alone).abs().max() <= 1e-5 * scale
    assert torch.isfinite(padded).all()
    assert padded[1, 29:].abs().max() == 0


@pytest.mark.parametrize("backend", ["performer", "exact"])
def test_eval_is_deterministic_and_independent_of_global_rng(backend):
    model = _model(backend)
    x = _inputs()
    with torch.no_grad():
        torch.manual_seed(123)
        first = model(x)
        torch.manual_seed(456)
        second = model(x)
    assert torch.equal(first, second)
    assert torch.equal(first, _model(backend)(x).detach())  # same seed, same model


@pytest.mark.parametrize("chunk", [7, 16, 49])
def test_chunked_offline_performer_equals_the_library_forward(chunk, monkeypatch):
    model = _model()
    x = _inputs(frames=50)
    mask = torch.arange(50)[None] < torch.tensor([50, 37])[:, None]  # [B, T], the second sequence padded
    with torch.no_grad():
        model.chunk_frames = None
        reference = model(x, mask, start=5)
        model.chunk_frames = chunk
        monkeypatch.setattr(model.performer, "forward", lambda *a, **k: pytest.fail("library forward called"))
        chunked = model(x, mask, start=5)
    assert (chunked - reference).abs().max() <= 1e-5
    assert chunked[1, 37:].abs().max() == 0


def test_build_does_not_touch_global_rng():
    torch.manual_seed(7)
    state = torch.get_rng_state()
    _model()
    assert torch.equal(state, torch.get_rng_state())


def _projections(model: TemporalModel) -> list[torch.Tensor]:
    return [p.projection.clone() for p in model.layer_parts()]


def test_feature_redraw_schedule():
    x = _inputs(frames=8)
    fixed = _model(feature_redraw_interval=None).train()
    before = _projections(fixed)
    for _ in range(5):
        fixed(x)
    assert all(torch.equal(a, b) for a, b in zip(before, _projections(fixed)))

    redrawn = _model(feature_redraw_interval=2).train()
    before = _projections(redrawn)
    for _ in range(4):
        redrawn(x)
    after = _projections(redrawn)
    assert all(not torch.equal(a, b) for a, b in zip(before, after))
    redrawn.eval()  # eval never redraws
    for _ in range(4):
        redrawn(x)
    assert all(torch.equal(a, b) for a, b in zip(after, _projections(redrawn)))
    redrawn.train()
    redrawn.fix_projections_()
    for _ in range(4):
        redrawn(x)
    assert all(torch.equal(a, b) for a, b in zip(after, _projections(redrawn)))


@pytest.mark.parametrize(
    "backend, causal, frames",
    [("performer", True, 81), ("performer", True, 243), ("performer", False, 1024), ("exact", False, 243)],
)
def test_bf16_forward_backward_finite(backend, causal, frames):
    model = _model(backend, causal).to(torch.bfloat16).train()
    x = _inputs(batch=1, frames=frames).to(torch.bfloat16).requires_grad_()
    out = model(x)
    out.float().square().mean().backward()
    assert torch.isfinite(out).all()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    with torch.no_grad():
        reference = _model(backend, causal)(x.detach().float())
    relative = (out.float() - reference).norm() / reference.norm()
    assert relative < 0.05


def test_fp16_is_refused():
    # FAVOR+'s normaliser overflows float16 (performer.md 2.3); bf16 is the half format to use.
    with pytest.raises(TypeError, match="bfloat16"):
        _model()(_inputs().half())


@pytest.mark.parametrize("causal", [False, True])
def test_backends_share_the_interface(causal):
    x = _inputs(frames=20)
    mask = torch.ones(2, 20, dtype=torch.bool)
    mask[0, 15:] = False
    with torch.no_grad():
        outs = [_model(b, causal)(x, mask) for b in ("performer", "exact")]
    assert outs[0].shape == outs[1].shape == x.shape


def test_state_dict_round_trip():
    model = _model(causal=True)
    copy = _model(causal=True, seed=99)
    copy.load_state_dict(model.state_dict(), strict=True)
    x = _inputs()
    with torch.no_grad():
        assert torch.equal(model(x), copy(x))


def test_start_offset_and_long_positions():
    table = rotary_embedding(4, 8, start=10**7)
    assert torch.isfinite(table).all()
    sin, cos = table.chunk(2, dim=-1)
    assert torch.allclose(sin.square() + cos.square(), torch.ones_like(sin), atol=1e-6)
    # the fastest channel pair turns once every min_period = 4 frames
    assert torch.allclose(rotary_embedding(1, 8, start=4)[..., 0], rotary_embedding(1, 8, start=0)[..., 0],
                          atol=1e-6)
    model = _model()
    x = _inputs(frames=16)
    with torch.no_grad():
        assert torch.isfinite(model(x, start=10**6)).all()
        assert not torch.equal(model(x, start=5), model(x))
