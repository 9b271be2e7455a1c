"""Per-column input normalisation whose statistics live in the checkpoint."""

from __future__ import annotations

import torch
from torch import nn

# Columns that are constant in the training data (a fixed-height radar's z on
# a flat scene, say) get this std so they are centred but not blown up.
_MIN_STD = 1e-3


class Normalizer(nn.Module):
    """``(x - mean) / std`` per column, statistics fitted on training data.

    mean, std and ``fitted`` are buffers, so they are saved in and restored
    from the state dict together with the weights.

    Args:
        columns: number of columns C.
    """

    def __init__(self, columns: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(columns))
        self.register_buffer("std", torch.ones(columns))
        self.register_buffer("fitted", torch.tensor(False))

    @torch.no_grad()
    def fit(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        """Set mean and std from training values (in float64).

        Args:
            x: [..., C] values, e.g. all training points [N, C] or a padded
                batch [B, T, N, C].
            mask: [...] bool, True = valid row; None = all rows valid.

        Raises:
            ValueError: no valid row, or x has the wrong number of columns.
        """
        if x.shape[-1] != self.mean.shape[0]:
            raise ValueError(f"normaliser expects {self.mean.shape[0]} columns, got {x.shape[-1]}")
        rows = x.reshape(-1, x.shape[-1]).double()  # [R, C]
        if mask is not None:
            rows = rows[mask.reshape(-1).bool()]
        if rows.shape[0] == 0:
            raise ValueError("cannot fit a normaliser on zero valid rows")
        mean = rows.mean(0)
        std = rows.std(0, unbiased=False).clamp_min(_MIN_STD)
        self.mean.copy_(mean.to(self.mean.dtype))
        self.std.copy_(std.to(self.std.dtype))
        self.fitted.fill_(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[..., C] -> [..., C] normalised."""
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
