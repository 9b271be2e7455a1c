"""Load official HybrIK checkpoints (and our own) into :class:`HybrIKNet`.

Official files are either a raw state dict or ``{'model': state_dict}``;
training saves ``model.module.state_dict()``, but a ``module.`` prefix (from
saving the DataParallel wrapper itself) is stripped if present. They embed
HybrIK's SMPL layer as ``smpl.*`` buffers, which WaveCap replaces with its
own body model, so those keys are dropped. Everything else must match the
network exactly: a missing, unexpected or differently shaped key raises
:class:`~wavecap.errors.CheckpointError` naming them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from wavecap.errors import CheckpointError

DROPPED_PREFIXES: tuple[str, ...] = ("smpl.",)
_LISTED = 20  # keys named per kind of mismatch in an error message


@dataclass(frozen=True)
class CheckpointInfo:
    """Provenance of a loaded checkpoint.

    Attributes:
        path: the file read, or "" for an in-memory state dict.
        sha256: hex digest of the file ("" for an in-memory state dict).
        dropped: keys that were deliberately not loaded (``smpl.*``).
    """

    path: str
    sha256: str
    dropped: tuple[str, ...]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a checkpoint file into a flat ``{key: tensor}`` dict.

    Only tensors are unpickled (``weights_only=True``); the ``{'model': ...}``
    wrapper and ``module.`` prefixes are removed.

    Raises:
        CheckpointError: unreadable file or not a state dict.
    """
    path = Path(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for bad files
        raise CheckpointError(f"{path}: cannot read checkpoint ({type(exc).__name__}: {exc})") from exc
    return _unwrap(obj, str(path))


def _unwrap(obj: object, where: str) -> dict[str, torch.Tensor]:
    if isinstance(obj, Mapping) and isinstance(obj.get("model"), Mapping):
        obj = obj["model"]
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(f"{where}: not a state dict (got {type(obj).__name__})")
    bad = [str(key) for key, value in obj.items() if not isinstance(value, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{where}: entries that are not tensors: {_names(bad)}")
    keys = list(obj)
    if all(key.startswith("module.") for key in keys):
        return {key[len("module."):]: value for key, value in obj.items()}
    return dict(obj)


def _names(keys: list[str]) -> str:
    shown = ", ".join(keys[:_LISTED])
    return shown + (f", ... ({len(keys) - _LISTED} more)" if len(keys) > _LISTED else "")


def load_checkpoint(model: nn.Module, source: str | Path | Mapping[str, torch.Tensor]) -> CheckpointInfo:
    """Load an (official or WaveCap) HybrIK checkpoint strictly into ``model``.

    ``num_batches_tracked`` counters of BatchNorm that a checkpoint lacks
    are tolerated (they are bookkeeping, not weights, and older files omit
    them); every other difference is an error.

    Args:
        model: the network, e.g. ``HybrIKNet`` with the official config.
        source: a checkpoint path, or a state dict (possibly wrapped / prefixed).

    Returns:
        :class:`CheckpointInfo` (path, SHA-256, dropped keys).

    Raises:
        CheckpointError: unreadable file, or missing / unexpected /
            shape-mismatched keys (all named in the message).
    """
    if isinstance(source, Mapping):
        path, sha = "", ""
        state = _unwrap(source, "state dict")
    else:
        path = str(source)
        state = read_state_dict(source)
        sha = _sha256(Path(source))
    dropped = tuple(key for key in state if key.startswith(DROPPED_PREFIXES))
    state = {key: value for key, value in state.items() if not key.startswith(DROPPED_PREFIXES)}

    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k} {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or mismatched:
        parts = [
            f"{label} ({len(keys)}): {_names(keys)}"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", mismatched))
            if keys
        ]
        raise CheckpointError(f"{path or 'state dict'} does not match the network; " + "; ".join(parts))
    for key, value in expected.items():
        if key not in state:  # a tolerated num_batches_tracked
            state[key] = value
    model.load_state_dict(state, strict=True)
    return CheckpointInfo(path=path, sha256=sha, dropped=dropped)
