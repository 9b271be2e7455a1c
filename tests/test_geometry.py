"""Tests for wavecap.geometry: round trips, edge angles, gradients, frames."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from wavecap import geometry as g

# derandomize: the same examples every run, so CI failures reproduce.
FAST = settings(max_examples=40, deadline=None, derandomize=True)
DTYPES = [torch.float32, torch.float64]
TOL = {torch.float32: 1e-5, torch.float64: 1e-12}

# Rotation angles that break naive formulas: 0, below/at the Taylor switch,
# just under pi, and exactly pi.
EDGE_ANGLES = [0.0, 1e-12, 1e-8, 1e-4, 1.0, math.pi / 2, math.pi - 1e-6, math.pi]


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _axis_angles(dtype: torch.dtype) -> torch.Tensor:
    """[K, 3] edge angles about a few axes, including coordinate axes."""
    axes = torch.tensor([[1.0, 0, 0], [0, 0, 1], [1, 2, -3], [-0.3, 0.1, 0.9]], dtype=torch.float64)
    axes = axes / axes.norm(dim=-1, keepdim=True)
    angles = torch.tensor(EDGE_ANGLES, dtype=torch.float64)
    return (angles[:, None, None] * axes[None]).reshape(-1, 3).to(dtype)


def _same_rotation_aa(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distance between axis-angles modulo the pi ambiguity (pi*u == -pi*u)."""
    return g.geodesic_distance(g.axis_angle_to_matrix(a), g.axis_angle_to_matrix(b))


finite3 = st.lists(st.floats(-1.0, 1.0), min_size=3, max_size=3)


# --------------------------------------------------------------- rotations


@pytest.mark.parametrize("dtype", DTYPES)
def test_axis_angle_round_trip_random(dtype: torch.dtype) -> None:
    R = g.random_rotation_matrix((64,), generator=_gen(), dtype=dtype)
    aa = g.matrix_to_axis_angle(R)
    assert aa.shape == (64, 3) and aa.dtype == dtype
    assert torch.all(aa.norm(dim=-1) <= math.pi + 1e-6)
    torch.testing.assert_close(g.axis_angle_to_matrix(aa), R, atol=TOL[dtype] * 10, rtol=0)


def test_axis_angle_round_trip_edges_float64() -> None:
    aa = _axis_angles(torch.float64)
    back = g.matrix_to_axis_angle(g.axis_angle_to_matrix(aa))
    below_pi = aa.norm(dim=-1) < math.pi
    # Strictly inside (0, pi) the vector itself must come back, to rounding.
    torch.testing.assert_close(back[below_pi], aa[below_pi], atol=1e-12, rtol=0)
    # At exactly pi, +pi*u and -pi*u are the same rotation.
    at_pi = back[~below_pi]
    assert torch.allclose(at_pi.norm(dim=-1), torch.full_like(at_pi[:, 0], math.pi), atol=1e-12)
    assert torch.all(_same_rotation_aa(back, aa) < 1e-7)


def test_tiny_angles_keep_relative_precision() -> None:
    aa = torch.tensor([[1e-8, -2e-8, 3e-9], [1e-12, 0.0, 0.0]], dtype=torch.float64)
    back = g.matrix_to_axis_angle(g.axis_angle_to_matrix(aa))
    torch.testing.assert_close(back, aa, rtol=1e-6, atol=0)
    angle = g.rotation_angle(g.axis_angle_to_matrix(aa))
    torch.testing.assert_close(angle, aa.norm(dim=-1), rtol=1e-6, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_rotation_angle_matches_edges(dtype: torch.dtype) -> None:
    aa = _axis_angles(dtype)
    angle = g.rotation_angle(g.axis_angle_to_matrix(aa))
    torch.testing.assert_close(angle, aa.norm(dim=-1), atol=TOL[dtype] * 100, rtol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matrix_quaternion_round_trip_and_sign(dtype: torch.dtype) -> None:
    R = torch.cat(
        [
            g.random_rotation_matrix(64, generator=_gen(1), dtype=dtype),
            g.axis_angle_to_matrix(_axis_angles(dtype)),
        ]
    )
    q = g.matrix_to_quaternion(R)
    assert q.shape == R.shape[:-2] + (4,)
    assert torch.all(q[..., 0] >= 0), "canonical sign is w >= 0"
    torch.testing.assert_close(q.norm(dim=-1), torch.ones_like(q[..., 0]), atol=TOL[dtype], rtol=0)
    torch.testing.assert_close(g.quaternion_to_matrix(q), R, atol=TOL[dtype] * 10, rtol=0)


def test_quaternion_is_scalar_first() -> None:
    aa = torch.tensor([0.0, 0.0, math.pi / 2], dtype=torch.float64)  # 90 deg about z
    q = g.axis_angle_to_quaternion(aa)
    c = math.cos(math.pi / 4)
    expected = torch.tensor([c, 0, 0, c], dtype=torch.float64)
    torch.testing.assert_close(q, expected)
    torch.testing.assert_close(g.quaternion_wxyz_to_xyzw(q), expected[[1, 2, 3, 0]])
    torch.testing.assert_close(g.quaternion_xyzw_to_wxyz(g.quaternion_wxyz_to_xyzw(q)), q)


def test_quaternion_matches_pybullet() -> None:
    pybullet = pytest.importorskip("pybullet")
    aa = torch.tensor([0.3, -0.7, 1.1], dtype=torch.float64)
    q_xyzw = torch.tensor(pybullet.getQuaternionFromAxisAngle(aa / aa.norm(), float(aa.norm())))
    q = g.quaternion_xyzw_to_wxyz(q_xyzw.double())
    R_pb = torch.tensor(pybullet.getMatrixFromQuaternion(q_xyzw.tolist()), dtype=torch.float64)
    torch.testing.assert_close(g.quaternion_to_matrix(q), R_pb.reshape(3, 3), atol=1e-6, rtol=0)
    torch.testing.assert_close(g.axis_angle_to_matrix(aa), R_pb.reshape(3, 3), atol=1e-6, rtol=0)


@FAST
@given(a=finite3, b=finite3)
def test_quaternion_multiply_matches_matrix_product(a: list[float], b: list[float]) -> None:
    aa1 = torch.tensor(a, dtype=torch.float64) * 3
    aa2 = torch.tensor(b, dtype=torch.float64) * 3
    q1, q2 = g.axis_angle_to_quaternion(aa1), g.axis_angle_to_quaternion(aa2)
    R12 = g.axis_angle_to_matrix(aa1) @ g.axis_angle_to_matrix(aa2)
    torch.testing.assert_close(g.quaternion_to_matrix(g.quaternion_multiply(q1, q2)), R12)
    identity = g.quaternion_multiply(q1, g.quaternion_conjugate(q1))
    torch.testing.assert_close(identity, torch.tensor([1.0, 0, 0, 0], dtype=torch.float64))


@FAST
@given(v=finite3, scale=st.floats(0.0, math.pi))
def test_axis_angle_quaternion_round_trip(v: list[float], scale: float) -> None:
    aa = torch.tensor(v, dtype=torch.float64)
    aa = aa / aa.norm().clamp_min(1e-12) * scale
    back = g.quaternion_to_axis_angle(g.axis_angle_to_quaternion(aa))
    assert _same_rotation_aa(back, aa) < 1e-7
    if scale < math.pi - 1e-6:
        torch.testing.assert_close(back, aa, atol=1e-10, rtol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_rotation_6d_round_trip(dtype: torch.dtype) -> None:
    R = g.random_rotation_matrix((4, 8), generator=_gen(2), dtype=dtype)
    d6 = g.matrix_to_rotation_6d(R)
    assert d6.shape == (4, 8, 6)
    torch.testing.assert_close(d6[..., :3], R[..., :, 0])  # first column, not row
    torch.testing.assert_close(g.rotation_6d_to_matrix(d6), R, atol=TOL[dtype] * 10, rtol=0)


def test_rotation_6d_to_matrix_orthonormalises() -> None:
    d6 = torch.randn(32, 6, generator=_gen(3), dtype=torch.float64)
    R = g.rotation_6d_to_matrix(d6)
    eye = torch.eye(3, dtype=torch.float64).expand_as(R)
    torch.testing.assert_close(R.transpose(-1, -2) @ R, eye)
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(32, dtype=torch.float64))


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradients_finite_at_zero_angle(dtype: torch.dtype) -> None:
    aa = torch.zeros(2, 3, dtype=dtype, requires_grad=True)
    R = g.axis_angle_to_matrix(aa)
    q = g.axis_angle_to_quaternion(aa)
    (R.sum() + q.sum() + g.matrix_to_axis_angle(R).sum() + g.rotation_angle(R).sum()).backward()
    assert torch.isfinite(aa.grad).all()
    # dR/daa at 0 is the skew generator; d(sum of log(exp(aa))) / daa = 1.
    aa2 = torch.zeros(3, dtype=dtype, requires_grad=True)
    g.matrix_to_axis_angle(g.axis_angle_to_matrix(aa2)).sum().backward()
    torch.testing.assert_close(aa2.grad, torch.ones(3, dtype=dtype))


def test_gradients_finite_at_pi_and_identity_quaternion() -> None:
    q = torch.tensor([[0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    q.requires_grad_(True)
    g.quaternion_to_axis_angle(q).sum().backward()
    assert torch.isfinite(q.grad).all()
    R = g.axis_angle_to_matrix(torch.tensor([math.pi, 0.0, 0.0], dtype=torch.float64))
    R.requires_grad_(True)
    g.matrix_to_axis_angle(R).sum().backward()
    assert torch.isfinite(R.grad).all()


def test_gradcheck_axis_angle_to_matrix() -> None:
    aa = torch.tensor([[0.3, -0.2, 0.5], [1e-9, 0.0, 2e-9]], dtype=torch.float64)
    assert torch.autograd.gradcheck(g.axis_angle_to_matrix, (aa.requires_grad_(),))
    R = g.axis_angle_to_matrix(aa).detach()
    assert torch.autograd.gradcheck(g.matrix_to_axis_angle, (R.requires_grad_(),))


def test_geodesic_distance() -> None:
    R1 = g.random_rotation_matrix(16, generator=_gen(4), dtype=torch.float64)
    aa = torch.tensor([0.0, 0.0, 0.7], dtype=torch.float64)
    R2 = R1 @ g.axis_angle_to_matrix(aa)
    expected = torch.full((16,), 0.7, dtype=torch.float64)
    torch.testing.assert_close(g.geodesic_distance(R1, R2), expected)
    torch.testing.assert_close(g.geodesic_distance(R1, R1), torch.zeros(16, dtype=torch.float64))


def test_random_rotation_matrix_uniform_and_seeded() -> None:
    R = g.random_rotation_matrix(20000, generator=_gen(5), dtype=torch.float64)
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(20000, dtype=torch.float64))
    # Haar measure: E[R] = 0 and the angle has density (1 - cos t) / pi,
    # whose mean is pi/2 + 2/pi.
    assert R.mean(0).abs().max() < 0.03
    assert abs(g.rotation_angle(R).mean().item() - (math.pi / 2 + 2 / math.pi)) < 0.02
    same = g.random_rotation_matrix(20000, generator=_gen(5), dtype=torch.float64)
    torch.testing.assert_close(same, R, atol=0, rtol=0)


# ------------------------------------------------------------ interpolation


def test_slerp_endpoints_midpoint_and_shortest_path() -> None:
    q0 = g.axis_angle_to_quaternion(torch.tensor([0.0, 0.0, 0.0], dtype=torch.float64))
    q1 = g.axis_angle_to_quaternion(torch.tensor([0.0, 0.0, 2.0], dtype=torch.float64))
    torch.testing.assert_close(g.slerp(q0, q1, 0.0), q0)
    torch.testing.assert_close(g.slerp(q0, q1, 1.0), q1)
    mid = g.quaternion_to_matrix(g.slerp(q0, q1, 0.5))
    torch.testing.assert_close(g.rotation_angle(mid), torch.tensor(1.0, dtype=torch.float64))
    # -q1 is the same rotation: the result must not take the long way round.
    mid_flipped = g.quaternion_to_matrix(g.slerp(q0, -q1, 0.5))
    torch.testing.assert_close(mid_flipped, mid)
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    path = g.slerp(q0, q1, t)  # broadcasting over t: [11, 4]
    angles = g.rotation_angle(g.quaternion_to_matrix(path))
    torch.testing.assert_close(angles, 2 * t)


def test_slerp_nearly_parallel_is_finite_and_correct() -> None:
    q0 = g.axis_angle_to_quaternion(torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64))
    q1 = g.axis_angle_to_quaternion(torch.tensor([0.1, 0.2, 0.3 + 1e-10], dtype=torch.float64))
    for q_end in (q0, q1):
        out = g.slerp(q0, q_end, torch.tensor([0.0, 0.25, 1.0], dtype=torch.float64))
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out[1], q0, atol=1e-10, rtol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_resample_rotations_reproduces_sources(dtype: torch.dtype) -> None:
    times = torch.tensor([0.0, 0.1, 0.25, 0.3, 0.5], dtype=torch.float64)
    R = g.random_rotation_matrix((5, 2), generator=_gen(6), dtype=dtype)
    out = g.resample_rotations(times, R, times)
    assert out.shape == (5, 2, 3, 3) and out.dtype == dtype
    torch.testing.assert_close(out, R, atol=TOL[dtype] * 10, rtol=0)
    # Clamped at both ends.
    ends = g.resample_rotations(times, R, torch.tensor([-1.0, 2.0], dtype=torch.float64))
    torch.testing.assert_close(ends, R[[0, -1]], atol=TOL[dtype] * 10, rtol=0)


def test_resample_rotations_midpoint_is_slerp() -> None:
    times = torch.tensor([0.0, 1.0], dtype=torch.float64)
    aa = torch.tensor([[0.0, 0.0, 0.0], [0.0, 1.2, 0.0]], dtype=torch.float64)
    query = torch.tensor([0.25], dtype=torch.float64)
    out = g.resample_rotations(times, g.axis_angle_to_matrix(aa), query)
    torch.testing.assert_close(out[0], g.axis_angle_to_matrix(aa[1] / 4))


def test_resample_linear() -> None:
    times = torch.tensor([0.0, 1.0, 3.0])
    x = torch.tensor([[0.0, 0.0], [1.0, 10.0], [3.0, 30.0]])
    out = g.resample_linear(times, x, torch.tensor([-1.0, 0.5, 1.0, 2.0, 5.0]))
    expected = torch.tensor([[0.0, 0.0], [0.5, 5.0], [1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    torch.testing.assert_close(out, expected)
    single = g.resample_linear(times[:1], x[:1], torch.tensor([-1.0, 4.0]))
    torch.testing.assert_close(single, x[[0, 0]])


@pytest.mark.parametrize("bad", [[0.0, 0.0, 1.0], [0.0, 2.0, 1.0], [0.0, float("nan"), 1.0]])
def test_resample_rejects_non_increasing_times(bad: list[float]) -> None:
    times = torch.tensor(bad)
    with pytest.raises(ValueError):
        g.resample_linear(times, torch.zeros(3, 2), torch.tensor([0.5]))
    with pytest.raises(ValueError):
        g.resample_rotations(times, torch.eye(3).expand(3, 3, 3), torch.tensor([0.5]))


def test_resample_rejects_length_mismatch() -> None:
    with pytest.raises(ValueError):
        g.resample_linear(torch.tensor([0.0, 1.0]), torch.zeros(3, 2), torch.tensor([0.5]))


# ---------------------------------------------------------------- alignment


@pytest.mark.parametrize("allow_scale", [False, True])
def test_rigid_align_recovers_known_transform(allow_scale: bool) -> None:
    gen = _gen(7)
    src = torch.randn(4, 24, 3, generator=gen, dtype=torch.float64)
    R_true = g.random_rotation_matrix(4, generator=gen, dtype=torch.float64)
    t_true = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    s_true = torch.tensor([1.0, 0.5, 2.0, 1.3], dtype=torch.float64) if allow_scale else None
    dst = g.apply_rigid(R_true, t_true, src, s_true)
    R, t, s = g.rigid_align(src, dst, allow_scale=allow_scale)
    assert (R - R_true).abs().max() <= 1e-5
    assert (t - t_true).abs().max() <= 1e-5
    expected_s = s_true if allow_scale else torch.ones(4, dtype=torch.float64)
    assert (s - expected_s).abs().max() <= 1e-5


def test_rigid_align_float32_and_weights() -> None:
    gen = _gen(8)
    src = torch.randn(30, 3, generator=gen)
    R_true = g.random_rotation_matrix((), generator=gen)
    dst = g.apply_rigid(R_true, torch.tensor([0.1, -0.2, 0.3]), src)
    # Corrupt outliers that carry zero weight: they must not matter.
    dst[:5] += 10.0
    weights = torch.ones(30)
    weights[:5] = 0
    R, t, _ = g.rigid_align(src, dst, weights=weights)
    assert R.dtype == torch.float32
    assert (R - R_true).abs().max() <= 1e-5
    torch.testing.assert_close(t, torch.tensor([0.1, -0.2, 0.3]), atol=1e-5, rtol=0)


def test_rigid_align_reflection_gives_proper_rotation() -> None:
    src = torch.randn(20, 3, generator=_gen(9), dtype=torch.float64)
    mirror = torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64))
    R, _, _ = g.rigid_align(src, src @ mirror.T)
    torch.testing.assert_close(torch.linalg.det(R), torch.tensor(1.0, dtype=torch.float64))
    torch.testing.assert_close(R.T @ R, torch.eye(3, dtype=torch.float64))


@pytest.mark.parametrize("allow_scale", [False, True])
def test_rigid_align_degenerate_inputs(allow_scale: bool) -> None:
    same = torch.tensor([0.1, 0.2, 0.3]).expand(6, 3)
    spread = torch.randn(6, 3, generator=_gen(10))
    cases = [(same, spread), (spread, same), (same, same), (torch.zeros(6, 3), torch.zeros(6, 3))]
    for src, dst in cases:
        R, t, s = g.rigid_align(src, dst, allow_scale=allow_scale)
        assert torch.isfinite(R).all() and torch.isfinite(t).all() and torch.isfinite(s).all()
        if src is same or dst is same:
            torch.testing.assert_close(R, torch.eye(3))
            torch.testing.assert_close(s, torch.tensor(1.0))
    R, t, s = g.rigid_align(spread, spread, weights=torch.zeros(6), allow_scale=allow_scale)
    assert torch.isfinite(R).all() and torch.isfinite(t).all() and torch.isfinite(s).all()


def test_procrustes_reduces_error() -> None:
    gen = _gen(11)
    target = torch.randn(8, 17, 3, generator=gen, dtype=torch.float64)
    R = g.random_rotation_matrix(8, generator=gen, dtype=torch.float64)
    t = torch.randn(8, 3, generator=gen, dtype=torch.float64)
    pred = g.apply_rigid(R, t, target, torch.full((8,), 0.8, dtype=torch.float64))
    pred = pred + 0.01 * torch.randn(pred.shape, generator=gen, dtype=torch.float64)
    aligned = g.procrustes_align(pred, target)
    before = (pred - target).norm(dim=-1).mean(-1)
    after = (aligned - target).norm(dim=-1).mean(-1)
    assert torch.all(after < before) and torch.all(after < 0.03)
    # Already-aligned input stays put.
    torch.testing.assert_close(g.procrustes_align(target, target), target)


# ------------------------------------------------------------------- camera


@pytest.mark.parametrize("dtype", DTYPES)
def test_project_unproject_round_trip(dtype: torch.dtype) -> None:
    K = g.intrinsics_matrix(torch.tensor([600.0, 800.0], dtype=dtype), 610.0, 320.0, 240.0)
    assert K.shape == (2, 3, 3) and K.dtype == dtype
    pts = torch.randn(2, 50, 3, generator=_gen(12), dtype=dtype)
    pts[..., 2] = pts[..., 2].abs() + 0.5
    uv, depth = g.project_points(pts, K)
    assert uv.shape == (2, 50, 2) and depth.shape == (2, 50)
    back = g.unproject_points(uv, depth, K)
    torch.testing.assert_close(back, pts, atol=TOL[dtype] * 10, rtol=TOL[dtype] * 10)
    # Principal point: a point on the optical axis lands on (cx, cy).
    on_axis, _ = g.project_points(torch.tensor([[0.0, 0.0, 2.0]], dtype=dtype), K[0])
    torch.testing.assert_close(on_axis, torch.tensor([[320.0, 240.0]], dtype=dtype))


def test_project_points_behind_camera_is_finite() -> None:
    K = g.intrinsics_matrix(500.0, 500.0, 320.0, 240.0)
    pts = torch.tensor([[0.3, -0.2, 0.0], [0.1, 0.1, -2.0], [0.0, 0.0, 1.0]], requires_grad=True)
    uv, depth = g.project_points(pts, K)
    assert torch.isfinite(uv).all()
    torch.testing.assert_close(depth, torch.tensor([0.0, -2.0, 1.0]))
    assert (depth > 0).tolist() == [False, False, True]
    uv.sum().backward()
    assert torch.isfinite(pts.grad).all()


def test_look_at_centres_target_and_is_upright() -> None:
    K = g.intrinsics_matrix(500.0, 500.0, 320.0, 240.0, dtype=torch.float64)
    eye = torch.tensor([3.0, -4.0, 1.5], dtype=torch.float64)
    target = torch.tensor([0.2, 0.5, 1.0], dtype=torch.float64)
    up = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    T_world_from_cam = g.look_at(eye, target, up)
    det = torch.linalg.det(T_world_from_cam[:3, :3])
    torch.testing.assert_close(det, torch.tensor(1.0, dtype=torch.float64))
    T_cam_from_world = g.invert_transform(T_world_from_cam)
    pts = torch.stack([target, target + 0.3 * up])
    uv, depth = g.project_points(g.transform_points(T_cam_from_world, pts), K)
    torch.testing.assert_close(uv[0], torch.tensor([320.0, 240.0], dtype=torch.float64))
    torch.testing.assert_close(depth[0], torch.linalg.vector_norm(target - eye))
    # Something above the target appears higher in the image (smaller v).
    assert uv[1, 1] < 240.0
    # The camera x axis is horizontal in a z-up world.
    assert abs(T_world_from_cam[2, 0].item()) < 1e-12


def test_look_at_rejects_degenerate() -> None:
    up = torch.tensor([0.0, 0.0, 1.0])
    with pytest.raises(ValueError):
        g.look_at(torch.zeros(3), torch.tensor([0.0, 0.0, -1.0]), up)
    with pytest.raises(ValueError):
        g.look_at(torch.ones(3), torch.ones(3), up)


# --------------------------------------------------------------- transforms


def test_transform_invert_compose_identity() -> None:
    gen = _gen(13)
    R = g.random_rotation_matrix(5, generator=gen, dtype=torch.float64)
    T_a_from_b = g.make_transform(R, torch.randn(5, 3, generator=gen, dtype=torch.float64))
    T_b_from_c = g.make_transform(R.flip(0), torch.randn(5, 3, generator=gen, dtype=torch.float64))
    eye4 = torch.eye(4, dtype=torch.float64).expand(5, 4, 4)
    torch.testing.assert_close(g.compose(T_a_from_b, g.invert_transform(T_a_from_b)), eye4)
    torch.testing.assert_close(g.compose(g.invert_transform(T_a_from_b), T_a_from_b), eye4)
    x_c = torch.randn(5, 7, 3, generator=gen, dtype=torch.float64)
    T_a_from_c = g.compose(T_a_from_b, T_b_from_c)
    torch.testing.assert_close(
        g.transform_points(T_a_from_c, x_c),
        g.transform_points(T_a_from_b, g.transform_points(T_b_from_c, x_c)),
    )
    # make_transform broadcasts a shared translation.
    assert g.make_transform(R, torch.zeros(3, dtype=torch.float64)).shape == (5, 4, 4)


# ------------------------------------------------------------------- frames


def test_world_from_smpl_axes() -> None:
    R = g.world_from_smpl(torch.float64)
    up, forward, left = torch.eye(3, dtype=torch.float64)[[1, 2, 0]]
    torch.testing.assert_close(R @ up, torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))
    torch.testing.assert_close(R @ forward, torch.tensor([0.0, -1.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(R @ left, torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))
    # It is exactly the +90 degree rotation about x.
    rot_x90 = g.axis_angle_to_matrix(torch.tensor([math.pi / 2, 0.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(R, rot_x90)
    eye = torch.eye(3, dtype=torch.float64)
    torch.testing.assert_close(g.smpl_from_world(torch.float64) @ R, eye)


def test_smpl_world_point_helpers() -> None:
    x = torch.randn(4, 6, 3, generator=_gen(14))
    world = g.smpl_to_world_points(x)
    torch.testing.assert_close(world[..., 2], x[..., 1])  # SMPL height becomes world z
    torch.testing.assert_close(g.world_to_smpl_points(world), x)


def test_smpl_global_orient_to_world() -> None:
    R_root = g.random_rotation_matrix((2, 3), generator=_gen(15), dtype=torch.float64)
    R_world = g.smpl_global_orient_to_world(R_root)
    v = torch.randn(2, 3, 10, 3, generator=_gen(16), dtype=torch.float64)  # template points
    posed_smpl = v @ R_root.transpose(-1, -2)
    torch.testing.assert_close(v @ R_world.transpose(-1, -2), g.smpl_to_world_points(posed_smpl))
