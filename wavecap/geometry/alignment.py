"""Least-squares alignment of point sets (Kabsch / Umeyama) and PA-MPJPE's PA."""

from __future__ import annotations

import torch


def rigid_align(
    src: torch.Tensor,
    dst: torch.Tensor,
    weights: torch.Tensor | None = None,
    allow_scale: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Best rotation, translation (and optionally scale) taking src onto dst.

    Minimises ``sum_i w_i |s R src_i + t - dst_i|^2`` by Umeyama's method
    (Kabsch when ``allow_scale`` is False). The reflection that a plain SVD
    solution can produce is removed, so ``det R = +1`` always.

    Degenerate input, where src or dst has no spread (all points equal, or
    all weights zero), gives ``R = I`` and ``s = 1`` rather than an arbitrary
    rotation or NaN. Gradients flow through the SVD but are undefined where
    singular values of the cross-covariance coincide (e.g. symmetric sets).

    Args:
        src: [..., N, 3] source points (any frame, metres).
        dst: [..., N, 3] corresponding target points, same unit.
        weights: [..., N] non-negative per-point weights, broadcastable to
            the points' batch shape; None for uniform.
        allow_scale: solve for a similarity transform (scale s) as well.

    Returns:
        R: [..., 3, 3] rotation, ``T_dst_from_src``'s rotation part.
        t: [..., 3] translation, in dst's frame and unit.
        s: [...] scale (ones when allow_scale is False).
    """
    if src.shape[-1] != 3 or dst.shape[-1] != 3:
        raise ValueError(f"points must be [..., N, 3], got {tuple(src.shape)}, {tuple(dst.shape)}")
    src, dst = torch.broadcast_tensors(src, dst)
    if weights is None:
        weights = torch.ones_like(src[..., 0])
    w = weights.to(src.dtype).expand(src.shape[:-1])  # [..., N]
    tiny = torch.finfo(src.dtype).tiny
    w = w / w.sum(-1, keepdim=True).clamp_min(tiny)
    w3 = w[..., None]  # [..., N, 1]
    mu_src = (w3 * src).sum(-2)  # [..., 3]
    mu_dst = (w3 * dst).sum(-2)
    x = src - mu_src[..., None, :]  # [..., N, 3]
    y = dst - mu_dst[..., None, :]
    var_src = (w3 * x * x).sum((-1, -2))  # [...]
    var_dst = (w3 * y * y).sum((-1, -2))
    cov = (w3 * y).transpose(-1, -2) @ x  # [..., 3, 3], sum_i w_i y_i x_i^T

    U, S, Vh = torch.linalg.svd(cov)
    d = torch.sign(torch.linalg.det(U) * torch.linalg.det(Vh))  # -1 on reflection
    D = torch.cat([torch.ones_like(S[..., :2]), d[..., None]], dim=-1)  # [..., 3]
    R = (U * D[..., None, :]) @ Vh

    # "No spread" is judged against the points' magnitude: equal points far
    # from the origin leave a rounding-level residue after centring.
    eps = torch.finfo(src.dtype).eps
    second_src = (w3 * src * src).sum((-1, -2))
    second_dst = (w3 * dst * dst).sum((-1, -2))
    degenerate = (var_src <= eps * second_src) | (var_dst <= eps * second_dst)
    eye = torch.eye(3, dtype=src.dtype, device=src.device).expand_as(R)
    R = torch.where(degenerate[..., None, None], eye, R)

    ones = torch.ones_like(var_src)
    if allow_scale:
        s = (S * D).sum(-1) / torch.where(degenerate, ones, var_src)
        s = torch.where(degenerate, ones, s)
    else:
        s = ones
    t = mu_dst - s[..., None] * (R @ mu_src[..., None]).squeeze(-1)
    return R, t, s


def apply_rigid(
    R: torch.Tensor, t: torch.Tensor, x: torch.Tensor, s: torch.Tensor | None = None
) -> torch.Tensor:
    """Apply ``x -> s R x + t`` to a set of points.

    Args:
        R: [..., 3, 3] rotations.
        t: [..., 3] translations.
        x: [..., N, 3] points.
        s: [...] scales; None means 1.

    Returns:
        [..., N, 3] transformed points.
    """
    y = x @ R.transpose(-1, -2)  # [..., N, 3]
    if s is not None:
        y = s[..., None, None] * y
    return y + t[..., None, :]


def procrustes_align(
    pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Align pred to target by the best similarity transform (PA of PA-MPJPE).

    Args:
        pred: [..., N, 3] predicted points (e.g. joints, metres).
        target: [..., N, 3] ground-truth points.
        weights: [..., N] optional per-point weights (e.g. visibility).

    Returns:
        [..., N, 3] pred after rotation, translation and uniform scaling.
    """
    R, t, s = rigid_align(pred, target, weights, allow_scale=True)
    return apply_rigid(R, t, pred, s)
